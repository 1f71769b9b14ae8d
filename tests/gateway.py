"""The gateway side of the tests: credentials and signs written out independently of the library."""

from __future__ import annotations

import hashlib
import time
from urllib.parse import urlencode

APPKEY = "key123"
APPSECRET = "secret456"
NOTIFY_ORDER = ("order_id", "out_order_id", "price", "realprice", "type", "paytime", "extend")
RETURN_ORDER = ("price", "type", "product_id", "order_id", "out_order_id")


def md5(text: str) -> str:
    return hashlib.md5(text.encode("utf-8")).hexdigest()


def gateway_sign(fields: dict[str, str], order: tuple[str, ...], appkey=APPKEY, secret=APPSECRET):
    """The gateway page's formula, written out independently of the library."""
    return md5(md5(appkey + "".join(fields[name] for name in order)) + secret)


def notify_fields(appkey=APPKEY, secret=APPSECRET, **overrides: str) -> dict[str, str]:
    """A correctly signed notify; overrides are applied before signing."""
    fields = {
        "order_id": "100001",
        "out_order_id": "SHOP-1",
        "price": "100.00",
        "realprice": "99.98",
        "type": "alipay",
        "paytime": str(int(time.time()) - 60),
        "extend": "张三 13800138000",
    }
    fields.update(overrides)
    fields["sign"] = gateway_sign(fields, NOTIFY_ORDER, appkey, secret)
    return fields


def return_fields(appkey=APPKEY, secret=APPSECRET, **overrides: str) -> dict[str, str]:
    fields = {
        "price": "100.00",
        "type": "alipay",
        "product_id": "P-9",
        "order_id": "100001",
        "out_order_id": "SHOP-1",
    }
    fields.update(overrides)
    fields["sign"] = gateway_sign(fields, RETURN_ORDER, appkey, secret)
    return fields


def form(fields: dict[str, str]) -> str:
    return urlencode(fields)


class Recorder:
    """A notify handler that records its calls and answers as told."""

    def __init__(self, answer: object = None, error: Exception | None = None) -> None:
        self.calls: list = []
        self.answer = answer
        self.error = error

    def __call__(self, message):
        self.calls.append(message)
        if self.error is not None:
            raise self.error
        return self.answer


def shop(environ, start_response):
    """A site behind the middleware: every other path answers ``shop``."""
    start_response("200 OK", [])
    return [b"shop"]


def order_id_of(payment) -> int:
    """The sandbox's order id: the last part of its pay link (``/pay/<order_id>``)."""
    return int(payment.pay_url.rsplit("/", 1)[1])


RECORDED: list = []


def record(notification):
    """A handler for dotted-name settings (``tests.gateway:record``)."""
    RECORDED.append(notification)

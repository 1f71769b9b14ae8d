"""Create a payment at the gateway: ``GatePayClient(url, appkey, appsecret).create(...)``.

::

    client = GatePayClient("http://127.0.0.1:8001", appkey, appsecret)
    payment = client.create(price="10.00", type="alipay", out_order_id="GP1", custom="buyer@x")
    redirect(payment.pay_url)

``POST /api/anypay/create`` with ``appkey, price, type, out_order_id, custom`` and
``sign = md5(md5(appkey + price + type + out_order_id + custom) + appsecret)``; the
answer is JSON with a ``code`` (200 on success), a ``msg`` and, on success, the
``data`` holding the ``pay_url``. ``custom`` comes back as the notify's ``extend``.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from .signing import create_sign

CREATE_PATH = "/api/anypay/create"
PAY_TYPES = ("alipay", "wechat")


class GatewayError(Exception):
    """The gateway refused the order, or could not be reached (``code`` 0)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"{message} (code {code})")
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Payment:
    """A created payment: send the buyer to ``pay_url``."""

    pay_url: str
    order_id: int | None
    realprice: str | None
    data: dict[str, Any] = field(repr=False)


def check_http_url(url: str, name: str) -> str:
    """Refuse anything but http(s) URLs, so that no setting can make urllib open a file."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"{name} must be an http:// or https:// URL, got {url!r}")
    return url


def money(price: Decimal | str | int) -> str:
    """The gateway's price format: two decimals, ``Decimal("10")`` -> ``"10.00"``."""
    value = Decimal(str(price))
    if not value.is_finite() or value <= 0:
        raise ValueError(f"price must be a positive amount, got {price!r}")
    return f"{value.quantize(Decimal('0.01')):f}"


class GatePayClient:
    """A small, dependency-free client for the gateway's order-creation API."""

    def __init__(self, base_url: str, appkey: str, appsecret: str, *, timeout: float = 10) -> None:
        if not appkey or not appsecret:
            raise ValueError("GatePayClient needs a non-empty appkey and appsecret")
        self.base_url = check_http_url(base_url, "the gateway URL").rstrip("/")
        self.appkey = appkey
        self.appsecret = appsecret
        self.timeout = timeout

    def create(
        self, *, price: Decimal | str | int, type: str, out_order_id: str, custom: str = ""
    ) -> Payment:
        """Create a payment; ``GatewayError`` with the gateway's code and message if refused."""
        if type not in PAY_TYPES:
            raise ValueError(f"type must be one of {PAY_TYPES}, got {type!r}")
        fields = {
            "appkey": self.appkey,
            "price": money(price),
            "type": type,
            "out_order_id": out_order_id,
            "custom": custom,
        }
        fields["sign"] = create_sign(fields, self.appkey, self.appsecret)
        request = urllib.request.Request(  # noqa: S310  # http(s) only, checked in __init__
            self.base_url + CREATE_PATH, data=urlencode(fields).encode(), method="POST"
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310
                body = response.read()
        except urllib.error.HTTPError as error:
            body = error.read()
        except (OSError, ValueError) as error:
            raise GatewayError(0, f"the gateway cannot be reached: {error}") from None
        try:
            answer = json.loads(body)
            code, message = int(answer["code"]), str(answer.get("msg", ""))
        except (ValueError, KeyError, TypeError):
            raise GatewayError(0, "the gateway's answer is not the expected JSON") from None
        if code != 200:
            raise GatewayError(code, message)
        data = answer.get("data") or {}
        return Payment(
            pay_url=str(data["pay_url"]),
            order_id=int(data["order_id"]) if "order_id" in data else None,
            realprice=data.get("realprice"),
            data=data,
        )

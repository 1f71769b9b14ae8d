"""Create a payment at the gateway: ``GatePayClient(url, appkey, appsecret).create(...)``.

::

    client = GatePayClient("http://127.0.0.1:8001", appkey, appsecret)
    out_order_id = new_out_order_id()  # "GP" + 12 random characters + a letter
    orders.save(out_order_id, price="10.00", custom="buyer@x")  # what the notify must match
    payment = client.create(price="10.00", type="alipay", out_order_id=out_order_id,
                            custom="buyer@x")
    redirect(payment.pay_url)

(Leave ``out_order_id`` out and ``create`` makes one: ``payment.out_order_id``.)

``POST /api/anypay/create`` with ``appkey, price, type, out_order_id, custom`` and
``sign = md5(md5(appkey + price + type + out_order_id + custom) + appsecret)``; the
answer is JSON with a ``code`` (200 on success), a ``msg`` and, on success, the
``data`` holding the ``pay_url``. ``custom`` comes back as the notify's ``extend``.
Without an ``out_order_id``, ``create`` makes one with ``new_out_order_id()``: fixed
length, letters at both ends, so that no shift of characters across the sign input's
field boundaries turns it into another id the shop issued.
"""

from __future__ import annotations

import json
import secrets
import string
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from .signing import create_sign

CREATE_PATH = "/api/anypay/create"
PAY_TYPES = ("alipay", "wechat")

_ID_PREFIX = "GP"
_ID_BODY = string.ascii_uppercase + "234567"  # base32: no 0 or 1 to misread as O or I
_ID_BODY_LENGTH = 12  # 60 random bits
_ID_END = string.ascii_uppercase
#: The length of every ``new_out_order_id()``.
OUT_ORDER_ID_LENGTH = len(_ID_PREFIX) + _ID_BODY_LENGTH + 1
_MAX_PRICE = Decimal(10) ** 12  # what the callbacks' money format holds (12 integer digits)


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
    out_order_id: str  # the shop's id for this payment: the one given, or the generated one
    order_id: int | None
    realprice: str | None
    data: dict[str, Any] = field(repr=False)


def check_http_url(url: str, name: str) -> str:
    """Refuse anything but http(s) URLs, so that no setting can make urllib open a file."""
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"{name} must be an http:// or https:// URL, got {url!r}")
    return url


def money(price: Decimal | str | int) -> str:
    """The gateway's price format: exactly two decimals, ``Decimal("10")`` -> ``"10.00"``.

    A price with more than two decimals (``"10.005"``) is a ``ValueError``, not rounded:
    the shop would compare the notify's ``price`` with an amount it never charged.
    """
    try:
        value = Decimal(str(price))
    except ArithmeticError:
        raise ValueError(f"price must be an amount, got {price!r}") from None
    if not value.is_finite() or value <= 0 or value >= _MAX_PRICE:
        raise ValueError(f"price must be a positive amount below 10**12, got {price!r}")
    cents = value.quantize(Decimal("0.01"))
    if cents != value:
        raise ValueError(f"price must have at most two decimals, got {price!r}")
    return f"{cents:f}"


def new_out_order_id() -> str:
    """``new_out_order_id()`` -> ``"GPK7QW2MZ4TR5NB"``: a fresh order id for ``create``.

    Random (``secrets``), uppercase, always ``OUT_ORDER_ID_LENGTH`` (15) characters: the
    letters ``GP``, 12 base32 characters (A-Z, 2-7), and a final letter.

    Why this shape: the gateway's sign input has no separators (``order_id +
    out_order_id + price + ...`` for the notify, ``... + order_id + out_order_id`` for
    the return), so whoever replays a genuine callback can move characters across a
    boundary and keep the sign: the trailing digits of order_id can slide onto the front
    of out_order_id, and the front of price onto its end (``"ORD-1" + "10.05"`` hashes
    like ``"ORD-11" + "0.05"``). No format can refuse that, since an out_order_id may be
    any text. With this shape no shifted id is another id the shop issued: the letters at
    its ends cannot leave (order_id must be digits and price must start with a digit), so
    a shift only adds characters, and the result is longer and starts or ends with a
    digit or a dot. Even ignoring those formats, a shift that takes as many characters as
    it gives leaves a digit or a dot at one end. The handler then finds no such order.
    """
    body = "".join(secrets.choice(_ID_BODY) for _ in range(_ID_BODY_LENGTH))
    return _ID_PREFIX + body + secrets.choice(_ID_END)


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
        self,
        *,
        price: Decimal | str | int,
        type: str,
        out_order_id: str | None = None,
        custom: str = "",
    ) -> Payment:
        """Create a payment; ``GatewayError`` with the gateway's code and message if refused.

        Without an ``out_order_id`` one is made with ``new_out_order_id()`` and returned
        in ``Payment.out_order_id``; keep it with the order, its price and ``custom``,
        which are what the notify handler must check.
        """
        if type not in PAY_TYPES:
            raise ValueError(f"type must be one of {PAY_TYPES}, got {type!r}")
        if out_order_id is None:
            out_order_id = new_out_order_id()
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
            out_order_id=out_order_id,
            order_id=int(data["order_id"]) if "order_id" in data else None,
            realprice=data.get("realprice"),
            data=data,
        )

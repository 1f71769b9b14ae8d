"""Create a payment at the gateway: ``GatePayClient(url, appkey, appsecret).create(...)``.

::

    client = GatePayClient("http://127.0.0.1:8001", appkey, appsecret)
    out_order_id = new_out_order_id()  # "GP" + 12 random characters + a letter
    orders.save(out_order_id, price="10.00", custom="buyer@x")  # what the notify must match
    payment = client.create(price="10.00", type="alipay", out_order_id=out_order_id,
                            custom="buyer@x")
    redirect(payment.pay_url)

The gateway's three create APIs, as its ``api.md`` documents them, each with its own sign
``md5(md5(appkey + <fields> + type + out_order_id + custom) + appsecret)``:

- ``create(price=...)``: ``POST /api/anypay/create``, any amount;
- ``create_group(products={8: 1, 7: 1})``: ``POST /api/grouppay/create``, a group of the
  console's products (``fields = "8:1,7:1"``, product id:count);
- ``create_for_product(product_id=...)``: ``POST /api/stablepay/create``, one product
  (the return visit's ``product_id`` is then that product).

Success is code ``100`` (``请求成功``) with ``data``: ``pay_url``, ``api_url`` (the pay link
with ``format=json``, to draw your own pay page), ``qrcode_url``, ``qrcode_body`` (a
``data:image/...;base64,`` QR code of the pay link) and ``params`` (the fields sent). Any
other code is a ``GatewayError`` carrying the gateway's code and message and an English
explanation (``gateway_codes``); so is an answer that is not the documented JSON, a
timeout, a refused connection or a TLS failure (code ``0``). ``custom`` comes back as the
notify's ``extend``. Without an ``out_order_id`` one is made with ``new_out_order_id()``.
``quick_pay_url(token=...)`` builds the unsigned quick-pay link (``/pay/any``).
"""

from __future__ import annotations

import json
import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from . import outbound
from .errors import ConfigError, GatePayException
from .gateway_codes import SUCCESS, explain
from .outbound import Unreachable, check_http_url
from .signing import create_sign

#: create API name -> its path at the gateway.
CREATE_PATHS = {
    "anypay": "/api/anypay/create",
    "grouppay": "/api/grouppay/create",
    "stablepay": "/api/stablepay/create",
}
CREATE_PATH = CREATE_PATHS["anypay"]
QUICK_PAY_PATH = "/pay/any"
PAY_TYPES = ("alipay", "wechat")

_ID_PREFIX = "GP"
_ID_BODY = string.ascii_uppercase + "234567"  # base32: no 0 or 1 to misread as O or I
_ID_BODY_LENGTH = 12  # 60 random bits
_ID_END = string.ascii_uppercase
#: The length of every ``new_out_order_id()``.
OUT_ORDER_ID_LENGTH = len(_ID_PREFIX) + _ID_BODY_LENGTH + 1
_GROUP_FIELDS = re.compile(r"[0-9]+:[1-9][0-9]*(?:,[0-9]+:[1-9][0-9]*)*")  # "8:1,7:1"
_MAX_PRICE = Decimal(10) ** 12  # what the callbacks' money format holds (12 integer digits)


class GatewayError(GatePayException):
    """The gateway refused the payment (its ``code`` and ``message``), or could not be
    reached or understood (``code`` 0); ``explanation`` says it in plain English."""

    def __init__(self, code: int, message: str, explanation: str = "") -> None:
        super().__init__(f"{message} (code {code}: {explanation})" if explanation else message)
        self.code = code
        self.message = message
        self.explanation = explanation


@dataclass(frozen=True)
class Payment:
    """A created payment: send the buyer to ``pay_url``, or show ``qrcode_body``."""

    pay_url: str
    api_url: str  # the pay link with format=json: the order's details for your own page
    qrcode_url: str
    qrcode_body: str  # "data:image/png;base64,...": <img src=...> shows the QR code
    params: dict[str, str]  # the fields sent, as the gateway echoes them
    out_order_id: str  # the shop's id for this payment: the one given, or the generated one
    answer: dict[str, Any] = field(repr=False)  # the gateway's whole answer


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


def _unreachable(error: Unreachable, timeout: float) -> GatewayError:
    """A ``GatewayError`` (code 0) saying in plain words why the gateway was not reached."""
    if error.kind == "timeout":
        text = f"no answer from the gateway within {timeout:g} s"
    elif error.kind == "tls":
        text = f"TLS with the gateway failed: {error.detail}"
    elif error.kind == "refused":
        text = "the gateway refused the connection"
    else:
        text = f"the gateway cannot be reached: {error.detail}"
    return GatewayError(0, text, "the request did not reach the gateway, or no answer came")


def read_answer(api: str, status: int, content_type: str, body: bytes) -> dict[str, Any]:
    """The gateway's JSON answer if it is a created payment, else ``GatewayError``."""
    try:
        answer = json.loads(body)
        code, message = int(answer["code"]), str(answer.get("msg", ""))
    except (ValueError, KeyError, TypeError):
        kind = "an HTML page" if b"<" in body[:200] else f"{len(body)} bytes"
        raise GatewayError(
            0,
            f"the gateway answered HTTP {status} with {kind} ({content_type or 'no type'}),"
            " not its JSON",
            "a proxy or server error page stood in for the gateway's answer",
        ) from None
    if code != SUCCESS:
        raise GatewayError(code, message, explain(api, code))
    data = answer.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("pay_url"), str):
        raise GatewayError(
            0, "the gateway's success answer has no data.pay_url", "not the documented answer"
        )
    result: dict[str, Any] = answer
    return result


class GatePayClient:
    """A small, dependency-free client for the gateway's order-creation API."""

    def __init__(self, base_url: str, appkey: str, appsecret: str, *, timeout: float = 10) -> None:
        if not appkey or not appsecret:
            raise ConfigError("GatePayClient needs a non-empty appkey and appsecret")
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
        """``create(price="10.00", type="alipay")``: a payment of any amount (anypay).

        Without an ``out_order_id`` one is made with ``new_out_order_id()`` and returned
        in ``Payment.out_order_id``; keep it with the order, its price and ``custom``,
        which are what the notify handler must check.
        """
        return self._create("anypay", {"price": money(price)}, type, out_order_id, custom)

    def create_group(
        self,
        *,
        products: Mapping[int | str, int] | str,
        type: str,
        out_order_id: str | None = None,
        custom: str = "",
    ) -> Payment:
        """``create_group(products={8: 1, 7: 2}, type="wechat")``: a group of the console's
        products (grouppay; sent as ``fields = "8:1,7:2"``, product id:count)."""
        if isinstance(products, str):
            text = products
        else:
            if not products or any(int(n) < 1 for n in products.values()):
                raise ValueError("products must map each product id to a count of at least 1")
            text = ",".join(f"{product}:{int(count)}" for product, count in products.items())
        if not _GROUP_FIELDS.fullmatch(text):
            raise ValueError(f"products must read like '8:1,7:1', got {text!r}")
        return self._create("grouppay", {"fields": text}, type, out_order_id, custom)

    def create_for_product(
        self,
        *,
        product_id: int | str,
        type: str,
        out_order_id: str | None = None,
        custom: str = "",
    ) -> Payment:
        """``create_for_product(product_id=8, type="alipay")``: one product of the console's
        catalogue at its own price (stablepay); the return visit carries its ``product_id``."""
        if not str(product_id).isdigit():
            raise ValueError(f"product_id must be the console's numeric id, got {product_id!r}")
        return self._create(
            "stablepay", {"product_id": str(product_id)}, type, out_order_id, custom
        )

    def quick_pay_url(
        self,
        *,
        token: str,
        price: Decimal | str | int | None = None,
        custom: str = "",
        skin: int = 0,
        stable: bool = False,
    ) -> str:
        """``quick_pay_url(token=TOKEN, price="10.00")`` -> the quick-pay link (快捷收款).

        Unsigned (``GET /pay/any``), so anyone can change it: put it where a buyer pays
        what they choose; never trust its amount without the notify's ``price``.
        ``stable=True`` asks the page to keep ``price`` fixed; ``skin`` picks its look.
        """
        fields = {"appkey": self.appkey, "token": token}
        if price is not None:
            fields["price"] = money(price)
        if custom:
            fields["custom"] = custom
        fields["skin"] = str(int(skin))
        if stable:
            fields["stable"] = "1"
        return f"{self.base_url}{QUICK_PAY_PATH}?{urlencode(fields)}"

    def _create(
        self,
        api: str,
        what: dict[str, str],
        type: str,
        out_order_id: str | None,
        custom: str,
    ) -> Payment:
        if type not in PAY_TYPES:
            raise ValueError(f"type must be one of {PAY_TYPES}, got {type!r}")
        if out_order_id is None:
            out_order_id = new_out_order_id()
        fields = {
            "appkey": self.appkey,
            **what,
            "type": type,
            "out_order_id": out_order_id,
            "custom": custom,
        }
        fields["sign"] = create_sign(fields, self.appkey, self.appsecret, api=api)
        try:  # base_url: http(s) only, checked in __init__; a 4xx/5xx may carry the JSON
            sent = outbound.request(
                "POST", self.base_url + CREATE_PATHS[api], fields, timeout=self.timeout
            )
        except Unreachable as error:
            raise _unreachable(error, self.timeout) from None
        answer = read_answer(api, sent.status, sent.content_type, sent.body)
        data = answer["data"]
        return Payment(
            pay_url=data["pay_url"],
            api_url=str(data.get("api_url", "")),
            qrcode_url=str(data.get("qrcode_url", "")),
            qrcode_body=str(data.get("qrcode_body", "")),
            params={str(k): str(v) for k, v in (data.get("params") or {}).items()},
            out_order_id=out_order_id,
            answer=answer,
        )

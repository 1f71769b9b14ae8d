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

import re
import secrets
import string
from collections.abc import Mapping
from decimal import Decimal
from urllib.parse import urlencode

from . import outbound
from .errors import ConfigError
from .gateway_answers import (
    GatewayError,
    OrderCheck,
    Payment,
    read_check,
    read_payment,
    unreachable,
)
from .outbound import ServerAnswer, Unreachable, check_http_url
from .signing import Appsecret, check_sign, create_sign, signing_secret

__all__ = [
    "GatePayClient",
    "GatewayError",
    "OrderCheck",
    "Payment",
    "money",
    "new_out_order_id",
]

#: create API name -> its path at the gateway.
CREATE_PATHS = {
    "anypay": "/api/anypay/create",
    "grouppay": "/api/grouppay/create",
    "stablepay": "/api/stablepay/create",
    "cloudpay": "/api/cloudpay/create",  # at the cloud host (cloud_url)
}
CREATE_PATH = CREATE_PATHS["anypay"]
CHECK_PATH = "/api/order/check"
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


def _order_urls(notify_url: str | None, return_url: str | None) -> dict[str, str]:
    """The create APIs' optional ``notify_url`` and ``return_url`` (this order's own, in
    place of the console's), http(s) only; not signed."""
    given = {"notify_url": notify_url, "return_url": return_url}
    return {name: check_http_url(url, name) for name, url in given.items() if url is not None}


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
    """A small, dependency-free client for the gateway's API.

    :param base_url: the gateway (``https://gatepay.io``, or the sandbox's URL).
    :param appkey: the merchant's appkey.
    :param appsecret: the merchant's appsecret; several (a rotation, ``"new old"`` or a
        list): the first signs.
    :param cloud_url: the cloud host ``create_cloud`` posts to (``https://cloud.gatepay.io``,
        or an agent's own domain); ``None``: ``create_cloud`` is not available.
    :param timeout: seconds to wait for each answer.
    """

    def __init__(
        self,
        base_url: str,
        appkey: str,
        appsecret: Appsecret,
        *,
        cloud_url: str | None = None,
        timeout: float = 10,
    ) -> None:
        try:
            current = signing_secret(appsecret)
        except ConfigError:
            current = ""
        if not appkey or not current:
            raise ConfigError("GatePayClient needs a non-empty appkey and appsecret")
        self.base_url = check_http_url(base_url, "the gateway URL").rstrip("/")
        self.cloud_url = (
            None if cloud_url is None else check_http_url(cloud_url, "cloud_url").rstrip("/")
        )
        self.appkey = appkey
        self.appsecret = current  # during a rotation, the current one: listed first
        self.timeout = timeout

    def create(
        self,
        *,
        price: Decimal | str | int,
        type: str,
        out_order_id: str | None = None,
        custom: str = "",
        notify_url: str | None = None,
        return_url: str | None = None,
    ) -> Payment:
        """``create(price="10.00", type="alipay")``: a payment of any amount (anypay).

        Without an ``out_order_id`` one is made with ``new_out_order_id()`` and returned
        in ``Payment.out_order_id``; keep it with the order, its price and ``custom``,
        which are what the notify handler must check. ``notify_url`` and ``return_url``
        (here and in ``create_group``, ``create_for_product``) are this order's own, in
        place of the console's (the page lists them as optional, outside the sign).
        """
        urls = _order_urls(notify_url, return_url)
        return self._create("anypay", {"price": money(price)}, type, out_order_id, custom, urls)

    def create_group(
        self,
        *,
        products: Mapping[int | str, int] | str,
        type: str,
        out_order_id: str | None = None,
        custom: str = "",
        notify_url: str | None = None,
        return_url: str | None = None,
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
        urls = _order_urls(notify_url, return_url)
        return self._create("grouppay", {"fields": text}, type, out_order_id, custom, urls)

    def create_for_product(
        self,
        *,
        product_id: int | str,
        type: str,
        out_order_id: str | None = None,
        custom: str = "",
        notify_url: str | None = None,
        return_url: str | None = None,
    ) -> Payment:
        """``create_for_product(product_id=8, type="alipay")``: one product of the console's
        catalogue at its own price (stablepay); the return visit carries its ``product_id``."""
        if not str(product_id).isdigit():
            raise ValueError(f"product_id must be the console's numeric id, got {product_id!r}")
        urls = _order_urls(notify_url, return_url)
        what = {"product_id": str(product_id)}
        return self._create("stablepay", what, type, out_order_id, custom, urls)

    def create_cloud(
        self,
        *,
        price: Decimal | str | int,
        type: str,
        out_order_id: str | None = None,
        custom: str = "",
    ) -> Payment:
        """``create_cloud(price="10.00", type="alipay")``: a payment of any amount at the
        cloud host (云端支付, ``POST <cloud_url>/api/cloudpay/create``), signed as ``create``.

        Its answer has no ``qrcode_body`` (``Payment.qrcode_body`` is ``""``); code 209
        (非代理用户) says the account is not an agent's.
        """
        if self.cloud_url is None:
            raise ConfigError(
                "create_cloud needs the cloud host: GatePayClient(..., "
                'cloud_url="https://cloud.gatepay.io") or your agent domain'
            )
        return self._create("cloudpay", {"price": money(price)}, type, out_order_id, custom)

    def check(self, out_order_id: str) -> OrderCheck:
        """``check("GPK7QW2MZ4TR5NB")`` -> the gateway's order for it (付款结果查询,
        ``GET /api/order/check``): ``order_id``, ``order_name``, ``order_price``,
        ``order_type``, ``order_status``.

        The answer is not signed: use it to decide what to wait for or ask about, never
        to fulfil an order (only a verified notify does). 201 (订单不存在: no such order)
        and every other code is a ``GatewayError``.
        """
        if not isinstance(out_order_id, str) or not out_order_id:
            raise ValueError(
                f"out_order_id must be the text you created with, got {out_order_id!r}"
            )
        fields = {"appkey": self.appkey, "out_order_id": out_order_id}
        fields["sign"] = check_sign(fields, self.appkey, self.appsecret)
        return read_check(self._send("GET", self.base_url + CHECK_PATH, fields))

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
        urls: dict[str, str] | None = None,
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
        fields.update(urls or {})  # outside the sign, as the page lists them
        host = self.cloud_url if api == "cloudpay" else self.base_url
        sent = self._send("POST", f"{host}{CREATE_PATHS[api]}", fields)
        return read_payment(api, sent, out_order_id)

    def _send(self, method: str, url: str, fields: dict[str, str]) -> ServerAnswer:
        try:  # the URLs: http(s) only, checked in __init__; a 4xx/5xx may carry the JSON
            return outbound.request(method, url, fields, timeout=self.timeout)
        except Unreachable as error:
            raise unreachable(error, self.timeout) from None

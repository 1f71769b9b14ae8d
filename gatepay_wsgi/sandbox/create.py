"""The sandbox's create APIs: which of the gateway's codes a request earns, and why.

``check_create(api, form, rules)`` -> ``(price, product_id)`` of the order to open, or
``CreateRefused`` with the gateway's own code (``gateway_codes``), each for the condition
its page names: a missing or unknown appkey (101, 102), no sign (103), a bad sign (104), a
missing or forbidden field (105, 106), the API switched off (107), no return or notify URL
set (108, 109), the plan's quota used up (110), and per API the price, pay type, product,
stock, the gateway's own creation faults (205-208, stablepay's 204) and, for the cloud
API, an account that is not an agent's (209). ``CreateRules`` is what the sandbox's
console switches (``merchant_console.settings_form``).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal

from ..client import PAY_TYPES
from ..errors import ConfigError
from ..gateway_answers import GatewayError
from ..gateway_codes import message
from ..outbound import check_http_url
from ..signing import CHECK_SIGNED_FIELDS, CREATE_SIGNS, sign_fields

# What the create API takes from a shop: canonical, up to two decimals. Looser than the
# callbacks' money (exactly two decimals): the sandbox re-formats what it sends back.
_CREATE_PRICE = re.compile(r"(?:0|[1-9][0-9]{0,11})(?:\.[0-9]{1,2})?")
_GROUP = re.compile(r"([0-9]+):([1-9][0-9]{0,5})")


class CreateRefused(GatewayError):
    """The sandbox refusing a create request with the gateway's ``code`` and ``message``;
    ``explanation`` says why, for the sandbox's log."""

    def __str__(self) -> str:
        return f"{self.code} {self.message}: {self.explanation}"


def read_create_price(text: str) -> Decimal | None:
    """``read_create_price("10")`` -> ``Decimal("10")``; ``None`` unless up to 2 decimals."""
    return Decimal(text) if _CREATE_PRICE.fullmatch(text) else None


def refused(api: str, code: int, why: str = "") -> CreateRefused:
    """``raise refused("anypay", 104, "the sign does not match")``: the gateway's answer."""
    return CreateRefused(code, message(api, code), why)


@dataclass
class Product:
    """A product of the console's catalogue (stablepay and grouppay sell these)."""

    product_id: int
    name: str
    price: Decimal
    stock: int | None = None  # None: no stock kept
    available: bool = True


def default_products() -> dict[int, Product]:
    """The sandbox's catalogue: one of each case its codes need (205, 206, and stock)."""
    return {
        product.product_id: product
        for product in (
            Product(1, "A pot of tea", Decimal("10.00")),
            Product(2, "A slice of cake", Decimal("25.50"), stock=3),
            Product(3, "A sold-out mug", Decimal("30.00"), stock=0),
            Product(4, "A withdrawn teapot", Decimal("88.00"), available=False),
        )
    }


@dataclass
class CreateRules:
    """What the console switches: the API, pay types, the quota, the catalogue."""

    appkey: str
    appsecret: str
    return_url_set: bool = True
    notify_url_set: bool = True
    api_open: bool = True
    closed_types: set[str] = field(default_factory=set)
    quota: int | None = None  # orders the plan still allows; None: no limit
    agent: bool = True  # an agent's account (代理): the cloud API's 209 when not
    fault: str = ""  # a creation step of the gateway's that fails: one of FAULTS, or ""
    products: dict[int, Product] = field(default_factory=default_products)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)


#: The gateway's own creation steps that can fail (the console's "gateway fault").
FAULTS = ("category", "product", "stock", "queue")
#: API -> fault -> its code on the page; stablepay creates no category, product or stock
#: (its product exists): its page lists only the queue's code, 204.
_CREATION_FAULTS = dict(zip(FAULTS, (205, 206, 207, 208), strict=True))
_FAULT_CODES = {
    "anypay": _CREATION_FAULTS,
    "cloudpay": _CREATION_FAULTS,
    "grouppay": _CREATION_FAULTS,
    "stablepay": {"queue": 204},
}
#: API -> its codes for a pay type that is not valid, switched off, with no account online.
_PAY_TYPE_CODES = {
    "anypay": (202, 203, 204),
    "cloudpay": (202, 203, 204),
    "grouppay": (201, 202, 203),
    "stablepay": (201, 202, 203),
}


def _credentials(api: str, form: Mapping[str, str], rules: CreateRules) -> None:
    """101-103 and 107: the appkey, a sign at all, and the API's switch."""
    if not form.get("appkey"):
        raise refused(api, 101, "no appkey field")
    if form["appkey"] != rules.appkey:
        raise refused(api, 102, "not this merchant's appkey")
    if not form.get("sign"):
        raise refused(api, 103, "no sign field")
    if not rules.api_open:
        raise refused(api, 107, "the API is switched off in the console")


#: The create APIs' optional fields, outside the sign (the cloud API's page lists none).
ORDER_URLS = ("notify_url", "return_url")
_OPTIONAL = {"anypay": ORDER_URLS, "grouppay": ORDER_URLS, "stablepay": ORDER_URLS}


def _signed(api: str, form: Mapping[str, str], rules: CreateRules, signed: tuple[str, ...]) -> None:
    """105, 106, 104: every signed field there (``custom`` may be empty, not absent), no
    other but the API's optional ones, and the sign right."""
    missing = [name for name in signed if name not in form or not (form[name] or name == "custom")]
    if missing:
        raise refused(api, 105, f"missing {', '.join(missing)}")
    extra = sorted(set(form) - {"appkey", "sign", *signed, *_OPTIONAL.get(api, ())})
    if extra:
        raise refused(api, 106, f"not a field of this API: {', '.join(extra)}")
    fields = {name: form.get(name, "") for name in signed}
    if form["sign"].lower() != sign_fields(fields, signed, rules.appkey, rules.appsecret):
        raise refused(api, 104, "the sign does not match")


def check_query(form: Mapping[str, str], rules: CreateRules) -> None:
    """The payment-result query's codes, as a create's: 101-107. A query creates nothing:
    108-110 (the URLs, the quota) are never its answer here."""
    _credentials("check", form, rules)
    _signed("check", form, rules, CHECK_SIGNED_FIELDS)


def _common(api: str, form: Mapping[str, str], rules: CreateRules) -> None:
    """The codes every create API shares (101-110), in the order a request meets them."""
    _credentials(api, form, rules)
    if not rules.return_url_set and not form.get("return_url"):
        raise refused(api, 108, "the sandbox has no return URL, nor the request")
    if not rules.notify_url_set and not form.get("notify_url"):
        raise refused(api, 109, "the sandbox has no notify URL, nor the request")
    if rules.quota is not None and rules.quota <= 0:
        raise refused(api, 110, "the plan's quota is used up")
    _signed(api, form, rules, CREATE_SIGNS[api])
    given = [name for name in ORDER_URLS if form.get(name)]
    try:  # the page is silent on a URL it cannot use: "unknown error"
        for name in given:
            check_http_url(form[name], name)
    except ConfigError as error:
        raise refused(api, 199, str(error)) from None


def _pay_type(api: str, pay_type: str, rules: CreateRules, online: bool) -> None:
    """The pay type codes: 202-204 for anypay and cloudpay, 201-203 for the others."""
    invalid, closed, unwatched = _PAY_TYPE_CODES[api]
    if pay_type not in PAY_TYPES:
        raise refused(api, invalid, f"pay type {pay_type!r} is not one of {PAY_TYPES}")
    if pay_type in rules.closed_types:
        raise refused(api, closed, f"{pay_type} is switched off in the console")
    if not online:
        raise refused(api, unwatched, f"no {pay_type} account is online")


def check_create(
    api: str, form: Mapping[str, str], rules: CreateRules, online: bool
) -> tuple[Decimal, str]:
    """The order a create request opens: ``(price, product_id)``; or ``Refused``.

    ``online``: whether a session watches accounts of the requested pay type. Stock is
    taken here (under the rules' lock), and one order of the quota.
    """
    if api not in _PAY_TYPE_CODES:
        raise ValueError(f"no create API {api!r}")
    _common(api, form, rules)
    if api == "cloudpay" and not rules.agent:
        raise refused(api, 209, "the account is not an agent's (the console's switch)")
    price: Decimal | None = None
    if api in ("anypay", "cloudpay"):
        price = read_create_price(form["price"])
        if price is None or price <= 0:
            raise refused(api, 201, f"price {form['price']!r} is not an amount")
    _pay_type(api, form["type"], rules, online)
    product_id = ""
    with rules.lock:
        taken: list[tuple[Product, int]] = []
        if api == "stablepay":
            product = _product(form["product_id"], rules)
            if product is None:
                raise refused(api, 205, f"no product {form['product_id']!r} on sale")
            if product.stock is not None and product.stock < 1:
                raise refused(api, 206, f"{product.name} is out of stock")
            price, product_id = product.price, str(product.product_id)
            taken = [(product, 1)]
        elif api == "grouppay":
            taken = _group(api, form["fields"], rules)
            for product, count in taken:
                if product.stock is not None and product.stock < count:
                    raise refused(api, 204, f"{product.name}: {product.stock} left, {count} wanted")
            price = sum((product.price * count for product, count in taken), Decimal(0))
        fault = _FAULT_CODES[api].get(rules.fault)
        if fault is not None:  # the gateway's own step fails: nothing is taken
            raise refused(api, fault, f"the console's gateway fault: {rules.fault}")
        for product, count in taken:
            _take(product, count)
        if rules.quota is not None:
            rules.quota -= 1
    assert price is not None
    return price, product_id


def _product(text: str, rules: CreateRules) -> Product | None:
    product = rules.products.get(int(text)) if text.isdigit() else None
    return product if product is not None and product.available else None


def _take(product: Product, count: int) -> None:
    if product.stock is not None:
        product.stock -= count


def _group(api: str, text: str, rules: CreateRules) -> list[tuple[Product, int]]:
    """``"8:1,7:2"`` -> the products and counts; 204 names a product not on sale too."""
    wanted: list[tuple[Product, int]] = []
    for part in text.split(","):
        match = _GROUP.fullmatch(part)
        if match is None:
            raise refused(api, 105, f"fields {text!r} is not product:count,...")
        product = _product(match[1], rules)
        if product is None:
            raise refused(api, 204, f"no product {match[1]} on sale")
        wanted.append((product, int(match[2])))
    # "2:2,2:2" wants four of product 2: counted per product, or stock checked per part
    # would sell more than there is.
    counts: dict[int, int] = {}
    for product, count in wanted:
        counts[product.product_id] = counts.get(product.product_id, 0) + count
    return [(rules.products[product_id], count) for product_id, count in counts.items()]

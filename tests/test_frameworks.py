"""Each example shop under waitress on 127.0.0.1: buy, pay by notify, see it paid."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from .gateway import RETURN_ORDER, gateway_sign, notify_fields
from .servers import http, serving

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
APPKEY, APPSECRET = "shop-key", "shop-secret"


def flask_app(tmp: Path) -> Any:
    pytest.importorskip("flask")
    import flask_shop

    return flask_shop.create_app(
        GATEPAY_APPKEY=APPKEY,
        GATEPAY_APPSECRET=APPSECRET,
        GATEPAY_INBOX=f"sqlite:///{tmp}/inbox.sqlite3",
        SHOP_DATABASE=str(tmp / "shop.sqlite3"),
    )


def bottle_app(tmp: Path) -> Any:
    pytest.importorskip("bottle")
    import bottle_shop

    return bottle_shop.make_app(
        APPKEY, APPSECRET, str(tmp / "shop.sqlite3"), f"sqlite:///{tmp}/inbox.sqlite3"
    )


def _ini_variables(tmp: Path) -> dict[str, str]:
    return {
        "app_key": APPKEY,
        "app_secret": APPSECRET,
        "shop_db": str(tmp / "shop.sqlite3"),
        "inbox_url": f"sqlite:///{tmp}/inbox.sqlite3",
        "gateway_url": "",
    }


def pyramid_app(tmp: Path) -> Any:
    pytest.importorskip("pyramid")
    pytest.importorskip("paste.deploy")
    import pyramid_shop

    return pyramid_shop.load(**_ini_variables(tmp))


def paste_app(tmp: Path) -> Any:
    pytest.importorskip("paste.deploy")
    import paste_shop

    return paste_shop.load(**_ini_variables(tmp))


class Shop:
    """A running example shop and a tiny HTTP client for it (no redirects followed)."""

    def __init__(self, base: str) -> None:
        self.base = base

    def request(self, method: str, path: str, data: dict | None = None) -> tuple:
        return http(method, self.base + path, data)

    def buy(self, product: str = "tea") -> str:
        status, _, location = self.request("POST", "/orders", {"product": product})
        assert status in (302, 303), status
        return re.search(r"/orders/(\w+)$", location).group(1)

    def state(self, out_order_id: str) -> str:
        _, body, _ = self.request("GET", f"/orders/{out_order_id}")
        return re.search(r"Status: <b>(\w+)</b>", body).group(1)

    def notify(self, **fields: str) -> tuple[int, str]:
        status, body, _ = self.request("POST", "/gatepay/notify", fields)
        return status, body


@pytest.fixture(
    params=[flask_app, pyramid_app, bottle_app, paste_app],
    ids=["flask", "pyramid", "bottle", "paste"],
)
def shop(request, tmp_path, monkeypatch) -> Iterator[Shop]:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    factory: Callable[[Path], Any] = request.param
    app = factory(tmp_path)
    try:
        with serving(app) as url:
            yield Shop(url)
    finally:
        for name in ("flask_shop", "bottle_shop", "pyramid_shop", "paste_shop"):
            sys.modules.pop(name, None)


def paid(out_order_id: str, **overrides: str) -> dict[str, str]:
    fields = {
        "out_order_id": out_order_id,
        "price": "10.00",
        "realprice": "9.98",
        "order_id": "777001",
        "extend": "demo buyer",  # what the shops send as custom
        **overrides,
    }
    return notify_fields(appkey=APPKEY, secret=APPSECRET, **fields)


def test_the_shops_own_routes_work(shop):
    status, body, _ = shop.request("GET", "/")
    assert status == 200
    assert "A pot of tea" in body


def test_a_signed_notify_marks_the_order_paid_once(shop):
    out_order_id = shop.buy("tea")
    assert shop.state(out_order_id) == "pending"
    assert shop.notify(**paid(out_order_id)) == (200, "success")
    assert shop.state(out_order_id) == "paid"
    assert shop.notify(**paid(out_order_id)) == (200, "success")  # the gateway's retry
    _, body, _ = shop.request("GET", f"/orders/{out_order_id}")
    assert "gateway order 777001, 9.98 yuan" in body


def test_a_forged_notify_leaves_it_unpaid(shop):
    out_order_id = shop.buy("tea")
    forged = notify_fields(
        appkey=APPKEY, secret="guessed", out_order_id=out_order_id, price="10.00"
    )
    assert shop.notify(**forged) == (403, "fail")
    assert shop.state(out_order_id) == "pending"


def test_a_signed_notify_with_the_wrong_price_is_refused_by_the_shop(shop):
    out_order_id = shop.buy("cake")  # 25.50
    assert shop.notify(**paid(out_order_id, price="0.01", realprice="0.01")) == (500, "fail")
    assert shop.state(out_order_id) == "pending"


def test_a_notify_for_another_buyer_or_another_payment_is_refused_by_the_shop(shop):
    out_order_id = shop.buy("tea")
    # extend is the custom the shop sent: a shift across paytime|extend changes it
    assert shop.notify(**paid(out_order_id, extend="1demo buyer")) == (500, "fail")
    assert shop.state(out_order_id) == "pending"
    assert shop.notify(**paid(out_order_id)) == (200, "success")
    # the same order paid again under another gateway order: a person must look at it
    assert shop.notify(**paid(out_order_id, order_id="777002")) == (500, "fail")
    _, body, _ = shop.request("GET", f"/orders/{out_order_id}")
    assert "gateway order 777001" in body


def test_return_page_shows_the_real_state(shop):
    out_order_id = shop.buy("tea")
    visit = {
        "price": "10.00",
        "type": "alipay",
        "product_id": "tea",
        "order_id": "777001",
        "out_order_id": out_order_id,
    }
    visit["sign"] = gateway_sign(visit, RETURN_ORDER, APPKEY, APPSECRET)
    status, body, _ = shop.request("GET", "/gatepay/return?" + urlencode(visit))
    assert status == 200
    assert "pending" in body  # the return visit alone never fulfils
    shop.notify(**paid(out_order_id))
    assert "<b>paid</b>" in shop.request("GET", "/gatepay/return?" + urlencode(visit))[1]
    forged = {**visit, "sign": "0" * 32}
    assert shop.request("GET", "/gatepay/return?" + urlencode(forged))[0] == 400


def test_timeout_page(shop):
    out_order_id = shop.buy("tea")
    status, body, _ = shop.request("GET", f"/gatepay/timeout?out_order_id={out_order_id}")
    assert status == 200
    assert "Payment window closed" in body
    assert "pending" in body

"""Each example shop under waitress on 127.0.0.1: buy, pay by notify, see it paid."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode, urlsplit

import pytest
from werkzeug.middleware.dispatcher import DispatcherMiddleware

from ..gateway import RETURN_ORDER, gateway_sign, notify_fields
from ..servers import free_port, http, serving

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
APPKEY, APPSECRET = "shop-key", "shop-secret"


def flask_app(tmp: Path, gateway_url: str = "") -> Any:
    pytest.importorskip("flask")
    import flask_shop

    return flask_shop.create_app(
        GATEPAY_APPKEY=APPKEY,
        GATEPAY_APPSECRET=APPSECRET,
        GATEPAY_INBOX=f"sqlite:///{tmp}/inbox.sqlite3",
        SHOP_DATABASE=str(tmp / "shop.sqlite3"),
        SHOP_GATEWAY_URL=gateway_url,
    )


def bottle_app(tmp: Path, gateway_url: str = "") -> Any:
    pytest.importorskip("bottle")
    import bottle_shop

    return bottle_shop.make_app(
        APPKEY, APPSECRET, str(tmp / "shop.sqlite3"), f"sqlite:///{tmp}/inbox.sqlite3", gateway_url
    )


def _ini_variables(tmp: Path, gateway_url: str) -> dict[str, str]:
    return {
        "app_key": APPKEY,
        "app_secret": APPSECRET,
        "shop_db": str(tmp / "shop.sqlite3"),
        "inbox_url": f"sqlite:///{tmp}/inbox.sqlite3",
        "gateway": gateway_url,
    }


def pyramid_app(tmp: Path, gateway_url: str = "") -> Any:
    pytest.importorskip("pyramid")
    pytest.importorskip("paste.deploy")
    import pyramid_shop

    return pyramid_shop.load(**_ini_variables(tmp, gateway_url))


def paste_app(tmp: Path, gateway_url: str = "") -> Any:
    pytest.importorskip("paste.deploy")
    import paste_shop

    return paste_shop.load(**_ini_variables(tmp, gateway_url))


def paste_urlmap_site(tmp: Path, gateway_url: str = "") -> Any:
    """The legacy site of paste_shop.ini: the shop mounted at /shop by Paste's urlmap."""
    pytest.importorskip("paste.urlmap")
    import paste_shop

    return paste_shop.load("legacy_site", **_ini_variables(tmp, gateway_url))


def not_found(environ: dict, start_response: Callable) -> list[bytes]:
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not the shop"]


#: How a shop is put on the web: (its app -> the served app, waitress url_prefix, prefix).
MOUNTS: dict[str, tuple[Callable[[Any], Any], str, str]] = {
    "root": (lambda app: app, "", ""),
    # a larger WSGI site that gives the shop /shop (werkzeug's DispatcherMiddleware)
    "dispatcher": (lambda app: DispatcherMiddleware(not_found, {"/shop": app}), "", "/shop"),
    # a front server or proxy that passes SCRIPT_NAME=/shop (waitress's url_prefix)
    "proxy": (lambda app: app, "/shop", "/shop"),
}
SHOPS = {"flask": flask_app, "pyramid": pyramid_app, "bottle": bottle_app, "paste": paste_app}


class Shop:
    """A running example shop and a tiny HTTP client for it (no redirects followed)."""

    def __init__(self, base: str, prefix: str = "") -> None:
        self.base, self.prefix = base, prefix

    def request(self, method: str, path: str, data: dict | None = None) -> tuple:
        return http(method, self.base + self.prefix + path, data)

    def buy(self, product: str = "tea") -> str:
        status, _, location = self.request("POST", "/orders", {"product": product})
        assert status in (302, 303), status
        path = urlsplit(location).path
        assert path.startswith(self.prefix + "/orders/"), (location, self.prefix)
        return re.search(r"/orders/(\w+)$", path).group(1)

    def state(self, out_order_id: str) -> str:
        _, body, _ = self.request("GET", f"/orders/{out_order_id}")
        return re.search(r"Status: <b>(\w+)</b>", body).group(1)

    def notify(self, **fields: str) -> tuple[int, str]:
        status, body, _ = self.request("POST", "/gatepay/notify", fields)
        return status, body


def served(factory: Callable, mount: str, tmp: Path, gateway_url: str = "", port: int = 0):
    wrap, url_prefix, prefix = MOUNTS[mount]
    app = wrap(factory(tmp, gateway_url))
    return serving(app, port=port, url_prefix=url_prefix), prefix


@pytest.fixture(autouse=True)
def examples_on_path(monkeypatch) -> Iterator[None]:
    monkeypatch.syspath_prepend(str(EXAMPLES))
    yield
    for name in ("flask_shop", "bottle_shop", "pyramid_shop", "paste_shop", "shopkit"):
        sys.modules.pop(name, None)


@pytest.fixture(params=[(s, m) for m in MOUNTS for s in SHOPS], ids=lambda p: "-".join(p))
def shop(request, tmp_path) -> Iterator[Shop]:
    name, mount = request.param
    server, prefix = served(SHOPS[name], mount, tmp_path)
    with server as url:
        yield Shop(url, prefix)


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
    # every link and form stays inside the mount
    assert f"action='{shop.prefix}/orders'" in body
    out_order_id = shop.buy("tea")
    body = shop.request("GET", "/")[1]
    assert f"href='{shop.prefix}/orders/{out_order_id}'" in body
    assert f"href='{shop.prefix}/'" in shop.request("GET", f"/orders/{out_order_id}")[1]


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
    assert f"href='{shop.prefix}/'" in body  # the page links inside the mount
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
    assert f"href='{shop.prefix}/'" in body


# -- end to end against the sandbox gateway --------------------------------------------


def pay_through_the_sandbox(base: str, prefix: str, sandbox, product: str = "tea") -> int:
    """Buy, pay on the sandbox's page, come back: the order is paid, links stay mounted."""
    status, _, pay_url = http("POST", f"{base}{prefix}/orders", {"product": product})
    assert status == 303
    assert "/pay/" in pay_url, pay_url
    out_order_id = sandbox.orders[int(pay_url.rsplit("/", 1)[1])].out_order_id
    status, pending, _ = http("GET", f"{base}{prefix}/orders/{out_order_id}")
    assert status == 200
    # The payment-result query, shown while the notify has not come: unsigned, shown only.
    assert "<p id=gateway-says>The gateway says: unpaid (not signed: shown only).</p>" in pending
    status, _, back = http("POST", pay_url + "/pay")  # the sandbox notifies, then redirects
    assert status == 303
    assert back.startswith(f"{base}{prefix}/gatepay/return?"), back
    status, page, _ = http("GET", back)
    assert status == 200
    assert "<b>paid</b>" in page, page
    assert f"href='{prefix}/'" in page
    order_id = int(pay_url.rsplit("/", 1)[1])
    return order_id


def run_against_the_sandbox(factory: Callable, mount: str, tmp: Path) -> None:
    from gatepay_wsgi.sandbox import Sandbox

    port = free_port()
    wrap, url_prefix, prefix = MOUNTS.get(mount, (None, "", "/shop"))
    base = f"http://127.0.0.1:{port}"
    sandbox = Sandbox(
        appkey=APPKEY,
        appsecret=APPSECRET,
        notify_url=f"{base}{prefix}/gatepay/notify",
        return_url=f"{base}{prefix}/gatepay/return",
        timeout_url=f"{base}{prefix}/gatepay/timeout",
        retry_interval=0.2,
    )
    try:
        with serving(sandbox) as gateway_url:
            app = factory(tmp, gateway_url)
            with serving(wrap(app) if wrap else app, port=port, url_prefix=url_prefix):
                order_id = pay_through_the_sandbox(base, prefix, sandbox)
                attempts = [(a.status, a.body) for a in sandbox.orders[order_id].attempts]
                assert attempts == [(200, "success")]
    finally:
        sandbox.close()


@pytest.mark.parametrize("mount", list(MOUNTS))
@pytest.mark.parametrize("name", list(SHOPS))
def test_each_shop_pays_end_to_end_against_the_sandbox(name, mount, tmp_path):
    run_against_the_sandbox(SHOPS[name], mount, tmp_path)


def test_the_paste_shop_mounted_by_urlmap_pays_end_to_end(tmp_path):
    run_against_the_sandbox(paste_urlmap_site, "urlmap", tmp_path)


def test_the_pyramid_shop_runs_under_pserve_as_its_ini_says(tmp_path):
    """``PYTHONPATH=examples pserve examples/pyramid_shop.ini app_key=...``, then a purchase
    paid through the sandbox: the .ini's own [server:main] and variables, nothing else."""
    pytest.importorskip("pyramid")
    from gatepay_wsgi.sandbox import Sandbox

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    sandbox = Sandbox(
        appkey=APPKEY,
        appsecret=APPSECRET,
        notify_url=f"{base}/gatepay/notify",
        return_url=f"{base}/gatepay/return",
        retry_interval=0.2,
    )
    with serving(sandbox) as gateway_url:
        variables = {**_ini_variables(tmp_path, gateway_url), "http_port": str(port)}
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "pyramid.scripts.pserve",
                str(EXAMPLES / "pyramid_shop.ini"),
                *(f"{name}={value}" for name, value in variables.items()),
            ],
            env={**os.environ, "PYTHONPATH": str(EXAMPLES)},
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.monotonic() + 30
            while http_status(base + "/") != 200:
                assert server.poll() is None, server.communicate()[1][-2000:]
                assert time.monotonic() < deadline, "pserve did not start"
                time.sleep(0.1)
            pay_through_the_sandbox(base, "", sandbox)
        finally:
            sandbox.close()
            server.terminate()
            server.communicate(timeout=10)


def http_status(url: str) -> int:
    try:
        return http("GET", url)[0]
    except OSError:
        return 0

"""A plain WSGI shop behind the PasteDeploy filter: ``python examples/paste_shop.py``.

The pipeline is ``paste_shop.ini``: ``[filter:gatepay] use = egg:gatepay_wsgi`` in front
of ``app_factory`` below; its ``legacy_site`` section mounts the same shop at ``/shop``
with Paste's urlmap (``MOUNT=legacy_site python examples/paste_shop.py``). Needs ``pip
install "gatepay_wsgi[paste,examples]"`` and GATEPAY_APPKEY / GATEPAY_APPSECRET in the
environment; GATEPAY_GATEWAY_URL sends purchases to a gateway.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from shopkit import (
    Orders,
    checkout,
    closed_page,
    credentials,
    gateway_client,
    home_page,
    order_page,
    page,
    serve,
    thank_you_page,
)

from gatepay_wsgi import Notification, ReturnVisit, TimeoutVisit

HERE = Path(__file__).resolve().parent
_STATE: dict[str, Any] = {}  # set by app_factory: a legacy app's module-level state


def orders() -> Orders:
    found: Orders = _STATE["orders"]
    return found


# The handlers named in paste_shop.ini.
def mark_paid(n: Notification) -> bool:
    return orders().mark_paid(n)


def thanks(visit: ReturnVisit) -> str:
    return thank_you_page(orders().get(visit.out_order_id), visit.script_name)


def closed(visit: TimeoutVisit) -> str:
    return closed_page(orders().get(visit.out_order_id or ""), visit.script_name)


def shop_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """The legacy shop: hand-written WSGI routing; links start with SCRIPT_NAME."""
    path, method = environ.get("PATH_INFO", "/"), environ["REQUEST_METHOD"]
    root = environ.get("SCRIPT_NAME", "")
    status, headers, body = "200 OK", [("Content-Type", "text/html; charset=utf-8")], ""
    if path == "/" and method == "GET":
        body = home_page("PasteDeploy shop", orders().recent(), root)
    elif path == "/orders" and method == "POST":
        size = int(environ.get("CONTENT_LENGTH") or 0)
        form = {k: v[0] for k, v in parse_qs(environ["wsgi.input"].read(size).decode()).items()}
        product, pay_type = form.get("product", ""), form.get("type", "")
        location, error = checkout(orders(), product, pay_type, _STATE["gateway"], root)
        if error:
            status, body = "400 Bad Request", error
        else:
            status = "303 See Other"
            headers.append(("Location", location or root + "/"))
    elif path.startswith("/orders/") and method == "GET":
        body = order_page(orders().get(path.removeprefix("/orders/")), root, _STATE["gateway"])
    else:
        status, body = "404 Not Found", "not found"
    start_response(status, headers)
    return [body.encode()]


def app_factory(
    global_config: dict[str, Any], database: str, appkey: str, appsecret: str, gateway_url: str = ""
) -> Any:
    """``[app:shop] use = call:paste_shop:app_factory``."""
    _STATE["orders"] = Orders(database)
    _STATE["gateway"] = gateway_client(gateway_url, appkey, appsecret)
    return shop_app


def legacy_home_factory(global_config: dict[str, Any]) -> Any:
    """The rest of the legacy site, beside the shop mounted at /shop."""

    def legacy_home(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
        return [page("Our site", "<p><a href='/shop/'>The shop</a></p>").encode()]

    return legacy_home


def load(name: str = "main", **variables: str) -> Any:
    """The app ``name`` from paste_shop.ini, with ``%(name)s`` variables filled in."""
    from paste.deploy import loadapp

    return loadapp(f"config:{HERE / 'paste_shop.ini'}", name=name, global_conf=variables)


if __name__ == "__main__":
    appkey, appsecret = credentials()
    app = load(
        os.environ.get("MOUNT", "main"),
        app_key=appkey,
        app_secret=appsecret,
        shop_db=os.environ.get("SHOP_DATABASE", "paste_shop.sqlite3"),
        inbox_url=os.environ.get("GATEPAY_INBOX", "sqlite:///paste_shop_inbox.sqlite3"),
        gateway=os.environ.get("GATEPAY_GATEWAY_URL", ""),
    )
    serve(app, "PasteDeploy shop")

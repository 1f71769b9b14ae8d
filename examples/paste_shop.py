"""A plain WSGI shop behind the PasteDeploy filter: ``python examples/paste_shop.py``.

The pipeline is ``paste_shop.ini``: ``[filter:gatepay] use = egg:gatepay_wsgi`` in front
of ``app_factory`` below. Needs ``pip install gatepay_wsgi[paste,examples]`` and
GATEPAY_APPKEY / GATEPAY_APPSECRET in the environment.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from gatepay_wsgi import Notification, ReturnVisit, TimeoutVisit
from gatepay_wsgi.client import GatePayClient
from gatepay_wsgi.demo.store import (
    Orders,
    checkout,
    closed_page,
    credentials,
    home_page,
    order_page,
    serve,
    thank_you_page,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))  # the .ini names this module

HERE = Path(__file__).resolve().parent
_STATE: dict[str, Any] = {}  # set by app_factory: a legacy app's module-level state


def orders() -> Orders:
    found: Orders = _STATE["orders"]
    return found


# The handlers named in paste_shop.ini.
def mark_paid(n: Notification) -> bool:
    return orders().mark_paid(n)


def thanks(visit: ReturnVisit) -> str:
    return thank_you_page(orders().get(visit.out_order_id))


def closed(visit: TimeoutVisit) -> str:
    return closed_page(orders().get(visit.out_order_id or ""))


def shop_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    """The legacy shop: hand-written WSGI routing."""
    path, method = environ.get("PATH_INFO", "/"), environ["REQUEST_METHOD"]
    status, headers, body = "200 OK", [("Content-Type", "text/html; charset=utf-8")], ""
    if path == "/" and method == "GET":
        body = home_page("PasteDeploy shop", orders().recent())
    elif path == "/orders" and method == "POST":
        size = int(environ.get("CONTENT_LENGTH") or 0)
        form = {k: v[0] for k, v in parse_qs(environ["wsgi.input"].read(size).decode()).items()}
        location, error = checkout(
            orders(), form.get("product", ""), form.get("type", ""), _STATE["gateway"]
        )
        if error:
            status, body = "400 Bad Request", error
        else:
            status = "303 See Other"
            headers.append(("Location", location or "/"))
    elif path.startswith("/orders/") and method == "GET":
        body = order_page(orders().get(path.removeprefix("/orders/")))
    else:
        status, body = "404 Not Found", "not found"
    start_response(status, headers)
    return [body.encode()]


def app_factory(
    global_config: dict[str, Any], database: str, gateway_url: str = "", **keys: str
) -> Any:
    """``[app:shop] use = call:paste_shop:app_factory``."""
    _STATE["orders"] = Orders(database)
    _STATE["gateway"] = (
        GatePayClient(gateway_url, keys["appkey"], keys["appsecret"]) if gateway_url else None
    )
    return shop_app


def load(**variables: str) -> Any:
    """The pipeline from paste_shop.ini, with ``%(name)s`` variables filled in."""
    from paste.deploy import loadapp

    return loadapp(f"config:{HERE / 'paste_shop.ini'}", global_conf=variables)


if __name__ == "__main__":
    appkey, appsecret = credentials()
    app = load(
        app_key=appkey,
        app_secret=appsecret,
        shop_db=os.environ.get("SHOP_DATABASE", "paste_shop.sqlite3"),
        inbox_url=os.environ.get("GATEPAY_INBOX", "sqlite:///paste_shop_inbox.sqlite3"),
        gateway_url=os.environ.get("GATEPAY_GATEWAY_URL", ""),
    )
    serve(app, "PasteDeploy shop")

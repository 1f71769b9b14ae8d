"""A Pyramid shop configured from ``pyramid_shop.ini``: ``python examples/pyramid_shop.py``.

Needs ``pip install gatepay_wsgi[pyramid,paste,examples]`` and GATEPAY_APPKEY /
GATEPAY_APPSECRET in the environment (the .ini reads them as %(app_key)s and
%(app_secret)s). pserve works too: ``pserve examples/pyramid_shop.ini app_key=...
app_secret=... shop_db=shop.sqlite3 inbox_url=sqlite:///inbox.sqlite3``.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPBadRequest, HTTPSeeOther
from pyramid.request import Request
from pyramid.response import Response
from pyramid.threadlocal import get_current_registry

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


def orders() -> Orders:
    """The shop's orders, from the ``shop.database`` setting of the running app."""
    registry = get_current_registry()
    if "shop.orders" not in registry:
        registry["shop.orders"] = Orders(registry.settings["shop.database"])
    found: Orders = registry["shop.orders"]
    return found


# The handlers named in the .ini (gatepay.notify, gatepay.return, gatepay.timeout).
def mark_paid(n: Notification) -> bool:
    return orders().mark_paid(n)


def thanks(visit: ReturnVisit) -> str:
    return thank_you_page(orders().get(visit.out_order_id))


def closed(visit: TimeoutVisit) -> str:
    return closed_page(orders().get(visit.out_order_id or ""))


def home(request: Request) -> Response:
    return Response(home_page("Pyramid shop", orders().recent()))


def gateway() -> GatePayClient | None:
    """A client for the ``shop.gateway_url`` setting (the sandbox, say), if it is set."""
    settings = get_current_registry().settings
    if not settings.get("shop.gateway_url"):
        return None
    key, secret = settings["gatepay.appkey"], settings["gatepay.appsecret"]
    return GatePayClient(settings["shop.gateway_url"], key, secret)


def create_order(request: Request) -> Response:
    form = request.POST
    location, error = checkout(orders(), form.get("product", ""), form.get("type", ""), gateway())
    if error:
        return HTTPBadRequest(body=error, content_type="text/html")
    return HTTPSeeOther(location=location)


def show_order(request: Request) -> Response:
    return Response(order_page(orders().get(request.matchdict["out_order_id"])))


def main(global_config: dict[str, Any], **settings: Any) -> Any:
    """The PasteDeploy app factory that ``[app:main]`` in pyramid_shop.ini names."""
    with Configurator(settings=settings) as config:
        config.include("gatepay_wsgi.contrib.pyramid")  # reads the gatepay.* settings
        config.add_route("home", "/")
        config.add_route("orders", "/orders")
        config.add_route("order", "/orders/{out_order_id}")
        config.add_view(home, route_name="home", request_method="GET")
        config.add_view(create_order, route_name="orders", request_method="POST")
        config.add_view(show_order, route_name="order", request_method="GET")
        return config.make_wsgi_app()


def load(**variables: str) -> Any:
    """The app from pyramid_shop.ini, with ``%(name)s`` variables filled in."""
    from pyramid.paster import get_app

    return get_app(str(HERE / "pyramid_shop.ini"), "main", options=variables)


if __name__ == "__main__":
    appkey, appsecret = credentials()
    app = load(
        app_key=appkey,
        app_secret=appsecret,
        shop_db=os.environ.get("SHOP_DATABASE", "pyramid_shop.sqlite3"),
        inbox_url=os.environ.get("GATEPAY_INBOX", "sqlite:///pyramid_shop_inbox.sqlite3"),
        gateway_url=os.environ.get("GATEPAY_GATEWAY_URL", ""),
    )
    serve(app, "Pyramid shop")

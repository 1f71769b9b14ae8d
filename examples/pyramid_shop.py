"""A Pyramid shop configured from ``pyramid_shop.ini``: ``python examples/pyramid_shop.py``.

Needs ``pip install "gatepay_wsgi[pyramid,paste,examples]"`` and GATEPAY_APPKEY /
GATEPAY_APPSECRET in the environment (the .ini reads them as %(app_key)s and
%(app_secret)s). pserve works too, with this folder on the import path::

    PYTHONPATH=examples pserve examples/pyramid_shop.ini app_key=demo-key \\
        app_secret=demo-secret shop_db=shop.sqlite3 inbox_url=sqlite:///inbox.sqlite3 \\
        gateway=http://127.0.0.1:8001 http_port=8000

Links start with ``request.script_name``, so the shop works mounted under a prefix.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from pyramid.config import Configurator
from pyramid.httpexceptions import HTTPBadRequest, HTTPSeeOther
from pyramid.request import Request
from pyramid.response import Response
from pyramid.threadlocal import get_current_registry
from shopkit import (
    Orders,
    checkout,
    closed_page,
    credentials,
    gateway_client,
    home_page,
    order_page,
    serve,
    thank_you_page,
)

from gatepay_wsgi import Notification, ReturnVisit, TimeoutVisit

HERE = Path(__file__).resolve().parent


def orders() -> Orders:
    """The shop's orders, from the ``shop.database`` setting of the running app."""
    found: Orders = get_current_registry()["shop.orders"]
    return found


# The handlers named in the .ini (gatepay.notify, gatepay.return, gatepay.timeout).
def mark_paid(n: Notification) -> bool:
    return orders().mark_paid(n)


def thanks(visit: ReturnVisit) -> str:
    return thank_you_page(orders().get(visit.out_order_id), visit.script_name)


def closed(visit: TimeoutVisit) -> str:
    return closed_page(orders().get(visit.out_order_id or ""), visit.script_name)


def home(request: Request) -> Response:
    return Response(home_page("Pyramid shop", orders().recent(), request.script_name))


def create_order(request: Request) -> Response:
    form = request.POST
    gateway = request.registry["shop.gateway"]
    product, pay_type = form.get("product", ""), form.get("type", "")
    location, error = checkout(orders(), product, pay_type, gateway, request.script_name)
    if error:
        return HTTPBadRequest(body=error, content_type="text/html")
    return HTTPSeeOther(location=location)


def show_order(request: Request) -> Response:
    order = orders().get(request.matchdict["out_order_id"])
    gateway = request.registry["shop.gateway"]
    return Response(order_page(order, request.script_name, gateway))


def main(global_config: dict[str, Any], **settings: Any) -> Any:
    """The PasteDeploy app factory that ``[app:main]`` in pyramid_shop.ini names."""
    with Configurator(settings=settings) as config:
        config.include("gatepay_wsgi.contrib.pyramid")  # reads the gatepay.* settings
        config.registry["shop.orders"] = Orders(settings["shop.database"])
        config.registry["shop.gateway"] = gateway_client(
            settings.get("shop.gateway_url"),
            settings["gatepay.appkey"],
            settings["gatepay.appsecret"],
        )
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
        gateway=os.environ.get("GATEPAY_GATEWAY_URL", ""),
    )
    serve(app, "Pyramid shop")

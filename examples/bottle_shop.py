"""A Bottle shop with verified GatePay callbacks: ``python examples/bottle_shop.py``.

Needs ``pip install "gatepay_wsgi[bottle,examples]"`` and GATEPAY_APPKEY / GATEPAY_APPSECRET
in the environment. Orders and the inbox live in SQLite files in the current directory
(SHOP_DATABASE, GATEPAY_INBOX to choose); GATEPAY_GATEWAY_URL sends purchases to a gateway.
Links start with ``request.script_name``, so the shop works mounted under a prefix.
"""

from __future__ import annotations

import os

import bottle
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

from gatepay_wsgi import Notify, Return, Timeout
from gatepay_wsgi.contrib.bottle import GatePayPlugin


def root() -> str:
    """Where the shop is mounted: Bottle's script_name always ends with a slash."""
    return bottle.request.script_name.rstrip("/")


def make_app(
    appkey: str, appsecret: str, database: str, inbox: str, gateway_url: str | None = None
) -> bottle.Bottle:
    """The shop; ``gateway_url`` (the sandbox's, say) is where payments are created."""
    app = bottle.Bottle()
    orders = Orders(database)
    gateway = gateway_client(gateway_url, appkey, appsecret)
    app.install(
        GatePayPlugin(
            appkey=appkey,
            appsecret=appsecret,
            inbox=inbox,
            paths={
                "/gatepay/notify": Notify(orders.mark_paid),
                "/gatepay/return": Return(
                    lambda v: thank_you_page(orders.get(v.out_order_id), v.script_name)
                ),
                "/gatepay/timeout": Timeout(
                    lambda v: closed_page(orders.get(v.out_order_id or ""), v.script_name)
                ),
            },
        )
    )

    @app.get("/")
    def home() -> str:
        return home_page("Bottle shop", orders.recent(), root())

    @app.post("/orders")
    def create_order() -> str:
        form = bottle.request.forms
        location, error = checkout(
            orders, form.get("product", ""), form.get("type", ""), gateway, root()
        )
        if error:
            bottle.response.status = 400
            return error
        bottle.redirect(location or root() + "/", 303)
        return ""

    @app.get("/orders/<out_order_id>")
    def show_order(out_order_id: str) -> str:
        return order_page(orders.get(out_order_id), root(), gateway)

    return app


if __name__ == "__main__":
    appkey, appsecret = credentials()
    database = os.environ.get("SHOP_DATABASE", "bottle_shop.sqlite3")
    inbox = os.environ.get("GATEPAY_INBOX", "sqlite:///bottle_shop_inbox.sqlite3")
    gateway_url = os.environ.get("GATEPAY_GATEWAY_URL")
    serve(make_app(appkey, appsecret, database, inbox, gateway_url), "Bottle shop")

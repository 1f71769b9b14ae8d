"""A Bottle shop with verified GatePay callbacks: ``python examples/bottle_shop.py``.

Needs ``pip install gatepay_wsgi[bottle,examples]`` and GATEPAY_APPKEY / GATEPAY_APPSECRET
in the environment. Orders and the inbox live in SQLite files in the current directory
(SHOP_DATABASE, GATEPAY_INBOX to choose); GATEPAY_GATEWAY_URL sends purchases to a gateway.
"""

from __future__ import annotations

import os

import bottle

from gatepay_wsgi import Notify, Return, Timeout
from gatepay_wsgi.contrib.bottle import GatePayPlugin
from gatepay_wsgi.demo.store import (
    Orders,
    checkout,
    closed_page,
    credentials,
    gateway_from_environment,
    home_page,
    order_page,
    serve,
    thank_you_page,
)


def make_app(appkey: str, appsecret: str, database: str, inbox: str) -> bottle.Bottle:
    app = bottle.Bottle()
    orders = Orders(database)
    gateway = gateway_from_environment(appkey, appsecret)
    app.install(
        GatePayPlugin(
            appkey=appkey,
            appsecret=appsecret,
            inbox=inbox,
            paths={
                "/gatepay/notify": Notify(orders.mark_paid),
                "/gatepay/return": Return(lambda v: thank_you_page(orders.get(v.out_order_id))),
                "/gatepay/timeout": Timeout(
                    lambda v: closed_page(orders.get(v.out_order_id or ""))
                ),
            },
        )
    )

    @app.get("/")
    def home() -> str:
        return home_page("Bottle shop", orders.recent())

    @app.post("/orders")
    def create_order() -> str:
        form = bottle.request.forms
        location, error = checkout(orders, form.get("product", ""), form.get("type", ""), gateway)
        if error:
            bottle.response.status = 400
            return error
        bottle.redirect(location or "/", 303)
        return ""

    @app.get("/orders/<out_order_id>")
    def show_order(out_order_id: str) -> str:
        return order_page(orders.get(out_order_id))

    return app


if __name__ == "__main__":
    appkey, appsecret = credentials()
    database = os.environ.get("SHOP_DATABASE", "bottle_shop.sqlite3")
    inbox = os.environ.get("GATEPAY_INBOX", "sqlite:///bottle_shop_inbox.sqlite3")
    serve(make_app(appkey, appsecret, database, inbox), "Bottle shop")

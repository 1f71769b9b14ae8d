"""A Bottle shop with verified GatePay callbacks: ``python examples/bottle_shop.py``.

Needs ``pip install gatepay_wsgi[bottle,examples]`` and GATEPAY_APPKEY / GATEPAY_APPSECRET
in the environment. Orders and the inbox live in SQLite files in the current directory
(SHOP_DATABASE, GATEPAY_INBOX to choose).
"""

from __future__ import annotations

import os

import bottle
from shop import Orders, closed_page, credentials, home_page, order_page, serve, thank_you_page

from gatepay_wsgi import Notify, Return, Timeout
from gatepay_wsgi.contrib.bottle import GatePayPlugin


def make_app(appkey: str, appsecret: str, database: str, inbox: str) -> bottle.Bottle:
    app = bottle.Bottle()
    orders = Orders(database)
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
    def create_order() -> None:
        try:
            order = orders.create(bottle.request.forms.get("product", ""))
        except KeyError:
            bottle.abort(400, "unknown product")
        bottle.redirect(f"/orders/{order['out_order_id']}", 303)

    @app.get("/orders/<out_order_id>")
    def show_order(out_order_id: str) -> str:
        return order_page(orders.get(out_order_id))

    return app


if __name__ == "__main__":
    appkey, appsecret = credentials()
    database = os.environ.get("SHOP_DATABASE", "bottle_shop.sqlite3")
    inbox = os.environ.get("GATEPAY_INBOX", "sqlite:///bottle_shop_inbox.sqlite3")
    serve(make_app(appkey, appsecret, database, inbox), "Bottle shop")

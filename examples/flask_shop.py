"""A Flask shop with verified GatePay callbacks: ``python examples/flask_shop.py``.

Needs ``pip install gatepay_wsgi[flask,examples]`` and GATEPAY_APPKEY / GATEPAY_APPSECRET
in the environment. Orders and the inbox live in SQLite files in the current directory
(SHOP_DATABASE, GATEPAY_INBOX to choose). With GATEPAY_GATEWAY_URL (``gatepay-wsgi
sandbox`` prints it) a purchase goes to the gateway's pay page.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, redirect, request

from gatepay_wsgi import Notification, ReturnVisit, TimeoutVisit
from gatepay_wsgi.client import GatePayClient
from gatepay_wsgi.contrib.flask import GatePay
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


def create_app(**config: Any) -> Flask:
    """The app factory; ``config`` overrides the environment (tests use it)."""
    app = Flask(__name__)
    app.config.update(
        SHOP_DATABASE=os.environ.get("SHOP_DATABASE", "flask_shop.sqlite3"),
        GATEPAY_INBOX=os.environ.get("GATEPAY_INBOX", "sqlite:///flask_shop_inbox.sqlite3"),
        GATEPAY_GATEWAY_URL=os.environ.get("GATEPAY_GATEWAY_URL"),
    )
    app.config.update(config)
    orders = Orders(app.config["SHOP_DATABASE"])
    gateway = None
    if app.config["GATEPAY_GATEWAY_URL"]:  # the sandbox, or the real gateway
        gateway = GatePayClient(
            app.config["GATEPAY_GATEWAY_URL"],
            app.config["GATEPAY_APPKEY"],
            app.config["GATEPAY_APPSECRET"],
        )
    gatepay = GatePay()

    @gatepay.notify("/gatepay/notify")
    def mark_paid(n: Notification) -> bool:
        return orders.mark_paid(n)

    @gatepay.return_page("/gatepay/return")
    def thanks(visit: ReturnVisit) -> str:
        return thank_you_page(orders.get(visit.out_order_id))

    @gatepay.timeout_page("/gatepay/timeout")
    def closed(visit: TimeoutVisit) -> str:
        return closed_page(orders.get(visit.out_order_id or ""))

    gatepay.init_app(app)  # reads GATEPAY_APPKEY, GATEPAY_APPSECRET, GATEPAY_INBOX

    @app.get("/")
    def home() -> str:
        return home_page("Flask shop", orders.recent())

    @app.post("/orders")
    def create_order() -> Any:
        form = request.form
        location, error = checkout(orders, form.get("product", ""), form.get("type", ""), gateway)
        return (error, 400) if error else redirect(location or "/", code=303)

    @app.get("/orders/<out_order_id>")
    def show_order(out_order_id: str) -> str:
        return order_page(orders.get(out_order_id))

    return app


if __name__ == "__main__":
    appkey, appsecret = credentials()
    serve(create_app(GATEPAY_APPKEY=appkey, GATEPAY_APPSECRET=appsecret), "Flask shop")

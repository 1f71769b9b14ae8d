"""A Flask shop with verified GatePay callbacks: ``python examples/flask_shop.py``.

Needs ``pip install "gatepay_wsgi[flask,examples]"`` and GATEPAY_APPKEY / GATEPAY_APPSECRET
in the environment. Orders and the inbox live in SQLite files in the current directory
(SHOP_DATABASE, GATEPAY_INBOX to choose). With GATEPAY_GATEWAY_URL (``gatepay-wsgi
sandbox`` prints it) a purchase goes to the gateway's pay page. ``flask --app
examples/flask_shop.py gatepay list`` shows the inbox. Every link is built with
``url_for``, so the shop works mounted under a prefix (``SCRIPT_NAME=/shop``).
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask, redirect, request, url_for
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
from gatepay_wsgi.contrib.flask import GatePay


def create_app(**config: Any) -> Flask:
    """The app factory; ``config`` overrides the environment (tests use it)."""
    app = Flask(__name__)
    app.config.update(
        GATEPAY_APPKEY=os.environ.get("GATEPAY_APPKEY"),
        GATEPAY_APPSECRET=os.environ.get("GATEPAY_APPSECRET"),
        GATEPAY_INBOX=os.environ.get("GATEPAY_INBOX", "sqlite:///flask_shop_inbox.sqlite3"),
        SHOP_DATABASE=os.environ.get("SHOP_DATABASE", "flask_shop.sqlite3"),
        SHOP_GATEWAY_URL=os.environ.get("GATEPAY_GATEWAY_URL"),
    )
    app.config.update(config)
    orders = Orders(app.config["SHOP_DATABASE"])
    gateway = gateway_client(
        app.config["SHOP_GATEWAY_URL"],
        app.config["GATEPAY_APPKEY"],
        app.config["GATEPAY_APPSECRET"],
    )
    gatepay = GatePay()

    @gatepay.notify("/gatepay/notify")
    def mark_paid(n: Notification) -> bool:
        return orders.mark_paid(n)

    # The page handlers run inside a request context: request.script_root is the mount.
    @gatepay.return_page("/gatepay/return")
    def thanks(visit: ReturnVisit) -> str:
        return thank_you_page(orders.get(visit.out_order_id), request.script_root)

    @gatepay.timeout_page("/gatepay/timeout")
    def closed(visit: TimeoutVisit) -> str:
        return closed_page(orders.get(visit.out_order_id or ""), request.script_root)

    gatepay.init_app(app)  # reads GATEPAY_APPKEY, GATEPAY_APPSECRET, GATEPAY_INBOX

    @app.get("/")
    def home() -> str:
        return home_page("Flask shop", orders.recent(), request.script_root)

    @app.post("/orders")
    def create_order() -> Any:
        form = request.form
        location, error = checkout(
            orders, form.get("product", ""), form.get("type", ""), gateway, request.script_root
        )
        return (error, 400) if error else redirect(location or url_for("home"), code=303)

    @app.get("/orders/<out_order_id>")
    def show_order(out_order_id: str) -> str:
        return order_page(orders.get(out_order_id), request.script_root, gateway)

    return app


if __name__ == "__main__":
    credentials()  # a clear message, not a traceback, when they are missing
    serve(create_app(), "Flask shop")

"""What the example shops share: an order table in SQLite, the checkout, and four pages.

Each example imports this one module and nothing else of its neighbours. ``Orders`` is
what a real shop's order table does for a payment: create an order, and mark it paid
exactly once when a notify matches it. Pages take ``root``, the mount point of the site
(``SCRIPT_NAME``: ``""`` at the root of a domain, ``"/shop"`` under a prefix), so every
link and redirect stays inside the mount.
"""

from __future__ import annotations

import html
import logging
import os
import sqlite3
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from gatepay_wsgi import Notification
from gatepay_wsgi.client import GatePayClient, GatewayError, new_out_order_id

logger = logging.getLogger("shop")

#: What the shops send as ``custom`` (a real shop sends the buyer's user id or contact).
BUYER = "demo buyer"

#: product id -> (name, price)
PRODUCTS = {
    "tea": ("A pot of tea", Decimal("10.00")),
    "cake": ("A slice of cake", Decimal("25.50")),
}


class Orders:
    """``Orders("shop.sqlite3")``: the shop's orders, each marked paid exactly once."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS orders ("
                " out_order_id TEXT PRIMARY KEY, product TEXT NOT NULL, price TEXT NOT NULL,"
                " custom TEXT NOT NULL, status TEXT NOT NULL DEFAULT 'pending',"
                " gateway_order_id INTEGER, paid_price TEXT, created_at REAL NOT NULL)"
            )

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=10)
        db.row_factory = sqlite3.Row
        try:
            with db:  # commits, or rolls back on an error
                yield db
        finally:
            db.close()

    def create(self, product: str, custom: str = BUYER) -> dict[str, Any]:
        """A new pending order; ``KeyError`` for a product not for sale."""
        price = PRODUCTS[product][1]
        # new_out_order_id(): fixed length, letters at both ends, so that no shift across
        # the sign's field boundaries turns one of our ids into another.
        out_order_id = new_out_order_id()
        with self._connect() as db:
            db.execute(
                "INSERT INTO orders (out_order_id, product, price, custom, created_at)"
                " VALUES (?, ?, ?, ?, ?)",
                (out_order_id, product, str(price), custom, time.time()),
            )
        return {"out_order_id": out_order_id, "product": product, "price": price, "custom": custom}

    def get(self, out_order_id: str) -> dict[str, Any] | None:
        with self._connect() as db:
            row = db.execute("SELECT * FROM orders WHERE out_order_id = ?", (out_order_id,))
            found = row.fetchone()
        return None if found is None else dict(found)

    def recent(self, limit: int = 10) -> list[dict[str, Any]]:
        with self._connect() as db:
            rows = db.execute("SELECT * FROM orders ORDER BY created_at DESC LIMIT ?", (limit,))
            return [dict(row) for row in rows]

    def mark_paid(self, n: Notification) -> bool:
        """The notify handler: ``True`` (answer ``success``) once the order is paid.

        The checks every handler makes (README, "The handler contract"): the order exists,
        its price is ``n.price``, ``n.extend`` is the ``custom`` we sent for it, and an
        order already paid was paid by this same gateway order. Anything else is ``False``
        (the answer ``fail``): the notify stays in the inbox as failed, for a person.
        """
        order = self.get(n.out_order_id)
        if order is None:
            logger.warning("notify for unknown order %r", n.out_order_id)
            return False
        if n.price != Decimal(order["price"]) or n.extend != order["custom"]:
            logger.warning("notify for %s does not match the order", n.out_order_id)
            return False
        with self._lock, self._connect() as db:
            db.execute(
                "UPDATE orders SET status = 'paid', gateway_order_id = ?, paid_price = ?"
                " WHERE out_order_id = ? AND status = 'pending'",
                (n.order_id, str(n.realprice), n.out_order_id),
            )
            (paid_by,) = db.execute(
                "SELECT gateway_order_id FROM orders WHERE out_order_id = ?", (n.out_order_id,)
            ).fetchone()
        if paid_by != n.order_id:
            logger.warning("%s was already paid by gateway order %s", n.out_order_id, paid_by)
            return False
        return True


def gateway_client(url: str | None, appkey: str, appsecret: str) -> GatePayClient | None:
    """A client for the gateway at ``url`` (``gatepay-wsgi sandbox`` prints one), if set."""
    return GatePayClient(url, appkey, appsecret) if url else None


def checkout(
    orders: Orders, product: str, pay_type: str, gateway: GatePayClient | None, root: str = ""
) -> tuple[str | None, str | None]:
    """Create an order and its payment: ``(where to send the buyer, None)`` or ``(None, an
    error page)``. Without a gateway the buyer goes to the order page."""
    try:
        order = orders.create(product)
    except KeyError:
        return None, page("Unknown product", f"<p>Not for sale.</p>{back(root)}")
    if gateway is None:
        return f"{root}/orders/{order['out_order_id']}", None
    try:
        payment = gateway.create(
            price=order["price"],
            type=pay_type or "alipay",
            out_order_id=order["out_order_id"],
            custom=order["custom"],
        )
    except (GatewayError, ValueError) as error:
        message = html.escape(str(error))  # the gateway's words, and the English beside
        return None, page(
            "Payment not available",
            f"<p>The payment service refused this order: <b>{message}</b>.</p>{back(root)}",
        )
    return payment.pay_url, None


# -- pages -------------------------------------------------------------------------------


def page(title: str, body: str) -> str:
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        "<meta name=viewport content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>body{{font-family:sans-serif;"
        "max-width:40em;margin:1em auto;padding:0 1em}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


def back(root: str) -> str:
    return f"<p><a href='{html.escape(root)}/'>Back to the shop</a></p>"


def home_page(shop_name: str, orders: list[dict[str, Any]], root: str = "") -> str:
    root = html.escape(root)
    choice = "".join(
        f"<label><input type=radio name=type value={t}{' checked' if t == 'alipay' else ''}>"
        f" {t}</label> "
        for t in ("alipay", "wechat")
    )
    buttons = "".join(
        f"<form method=post action='{root}/orders'><input type=hidden name=product value={key}>"
        f"{choice}<button id=buy-{key}>Buy {html.escape(name)} for {price} yuan</button></form>"
        for key, (name, price) in PRODUCTS.items()
    )
    rows = "".join(
        f"<li><a href='{root}/orders/{html.escape(o['out_order_id'])}'>"
        f"{html.escape(o['out_order_id'])}</a>: {html.escape(o['product'])}, {o['price']} yuan,"
        f" <b>{o['status']}</b></li>"
        for o in orders
    )
    return page(shop_name, f"{buttons}<h2>Orders</h2><ul>{rows or '<li>none yet</li>'}</ul>")


def _order_state(order: dict[str, Any] | None, root: str) -> str:
    if order is None:
        return f"<p>No such order.</p>{back(root)}"
    state = (
        f"<b>paid</b> (gateway order {order['gateway_order_id']}, {order['paid_price']} yuan)"
        if order["status"] == "paid"
        else "<b>pending</b>: waiting for the payment notify"
    )
    return (
        f"<p>Order <code>{html.escape(order['out_order_id'])}</code>: "
        f"{html.escape(PRODUCTS[order['product']][0])}, {order['price']} yuan.</p>"
        f"<p id=status>Status: {state}.</p>{back(root)}"
    )


def order_page(
    order: dict[str, Any] | None, root: str = "", gateway: GatePayClient | None = None
) -> str:
    """The order and its state; while it is pending, also what the gateway's payment-result
    query says of it. That answer is not signed: it is shown, never acted on (only the
    verified notify marks an order paid)."""
    asked = ""
    if order is not None and order["status"] == "pending" and gateway is not None:
        try:
            found = gateway.check(order["out_order_id"])
        except GatewayError as error:
            said = html.escape(error.message)
        else:
            said = html.escape(found.order_status) + (" (timed out)" if found.expired else "")
        asked = f"<p id=gateway-says>The gateway says: {said} (not signed: shown only).</p>"
    return page("Your order", _order_state(order, root) + asked)


def thank_you_page(order: dict[str, Any] | None, root: str = "") -> str:
    # The return URL is a browser link anyone can reload: it shows the state, never fulfils.
    return page("Thank you", _order_state(order, root))


def closed_page(order: dict[str, Any] | None, root: str = "") -> str:
    return page("Payment window closed", _order_state(order, root))


# -- running an example ------------------------------------------------------------------


def credentials() -> tuple[str, str]:
    """The appkey and appsecret from the environment, or a clear message and exit 2."""
    appkey = os.environ.get("GATEPAY_APPKEY", "")
    appsecret = os.environ.get("GATEPAY_APPSECRET", "")
    if not appkey or not appsecret:
        sys.exit(
            "Set GATEPAY_APPKEY and GATEPAY_APPSECRET to the values of the gateway console's "
            "account settings (any two words for a local try), e.g.\n"
            "  GATEPAY_APPKEY=demo-key GATEPAY_APPSECRET=demo-secret python " + sys.argv[0]
        )
    return appkey, appsecret


def serve(app: Any, name: str) -> None:
    """Serve with waitress on 127.0.0.1:$PORT (8000); ``SCRIPT_NAME=/shop`` mounts it there."""
    import waitress

    logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s")
    port = int(os.environ.get("PORT", "8000"))
    prefix = os.environ.get("SCRIPT_NAME", "").rstrip("/")
    print(f"{name} on http://127.0.0.1:{port}{prefix}/  (Ctrl-C stops it)")
    waitress.serve(app, host="127.0.0.1", port=port, url_prefix=prefix)

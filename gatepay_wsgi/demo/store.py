"""The demo shop's own parts: orders in SQLite, checkout, pages (``examples/`` have their own).

``Orders`` is what a real shop's order table does for a payment: create an order, and
mark it paid exactly once when a notify for its price arrives. ``checkout`` creates the
payment at the gateway (or the sandbox) when one is configured. The pages are plain
HTML so that every framework can serve them.
"""

from __future__ import annotations

import html
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from ..client import GatePayClient, new_out_order_id
from ..errors import GatewayError
from ..messages import Notification
from ..pages import html_document

logger = logging.getLogger("shop")

#: What the demo sends as ``custom`` (a real shop sends the buyer's contact or user id).
DEMO_BUYER = "demo buyer"

#: product id -> (name, price)
PRODUCTS = {
    "tea": ("A pot of tea", Decimal("10.00")),
    "cake": ("A slice of cake", Decimal("25.50")),
}


class Orders:
    """``Orders("shop.sqlite3")``: the shop's orders, marked paid exactly once."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        with self._connect() as db:
            db.execute(
                "CREATE TABLE IF NOT EXISTS orders ("
                " out_order_id TEXT PRIMARY KEY, product TEXT NOT NULL, price TEXT NOT NULL,"
                " status TEXT NOT NULL DEFAULT 'pending', gateway_order_id INTEGER,"
                " paid_price TEXT, paid_at TEXT, created_at REAL NOT NULL,"
                " custom TEXT NOT NULL DEFAULT '')"
            )

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """A connection for one unit of work: committed (or rolled back) and closed."""
        db = sqlite3.connect(self.path, timeout=10)
        db.row_factory = sqlite3.Row
        try:
            with db:  # commits, or rolls back on an error; does not close
                yield db
        finally:
            db.close()

    def create(self, product: str, custom: str = DEMO_BUYER) -> dict[str, Any]:
        """A new pending order, its id from ``new_out_order_id()``: fixed length, letters at
        both ends, so no shift across the sign input's boundaries turns it into another."""
        if product not in PRODUCTS:
            raise KeyError(product)
        out_order_id = new_out_order_id()
        with self._connect() as db:
            db.execute(
                "INSERT INTO orders (out_order_id, product, price, created_at, custom)"
                " VALUES (?, ?, ?, ?, ?)",
                (out_order_id, product, str(PRODUCTS[product][1]), time.time(), custom),
            )
        order = self.get(out_order_id)
        assert order is not None
        return order

    def get(self, out_order_id: str) -> dict[str, Any] | None:
        with self._connect() as db:
            row = db.execute(
                "SELECT * FROM orders WHERE out_order_id = ?", (out_order_id,)
            ).fetchone()
        return None if row is None else dict(row)

    def recent(self, limit: int = 10) -> list[dict[str, Any]]:
        with self._connect() as db:
            rows = db.execute("SELECT * FROM orders ORDER BY created_at DESC LIMIT ?", (limit,))
            return [dict(row) for row in rows]

    def mark_paid(self, n: Notification) -> bool:
        """The notify handler's work: check the notify against the order, mark it paid once.

        The checks the README asks of every handler: the order exists, its price is
        ``n.price``, ``n.extend`` is the ``custom`` sent for it (the sign input has no
        separators: these close the boundary shifts the formats cannot), and an order
        already paid was paid by this same gateway order. ``False`` (the answer ``fail``)
        otherwise: the notify stays in the inbox as failed, for a person to look at.
        """
        order = self.get(n.out_order_id)
        if order is None:
            logger.warning("notify for unknown order %r", n.out_order_id)
            return False
        if n.price != Decimal(order["price"]) or n.extend != order["custom"]:
            logger.warning(
                "notify for %s says %s for %r; the order is %s for %r",
                n.out_order_id,
                n.price,
                n.extend,
                order["price"],
                order["custom"],
            )
            return False
        with self._lock, self._connect() as db:
            db.execute(
                "UPDATE orders SET status = 'paid', gateway_order_id = ?, paid_price = ?,"
                " paid_at = ? WHERE out_order_id = ? AND status = 'pending'",
                (n.order_id, str(n.realprice), n.paid_at.isoformat(), n.out_order_id),
            )
            (paid_by,) = db.execute(
                "SELECT gateway_order_id FROM orders WHERE out_order_id = ?", (n.out_order_id,)
            ).fetchone()
        if paid_by != n.order_id:
            logger.warning(
                "notify for %s from gateway order %s: already paid by gateway order %s",
                n.out_order_id,
                n.order_id,
                paid_by,
            )
            return False
        return True


def checkout(
    orders: Orders, product: str, pay_type: str, gateway: GatePayClient | None
) -> tuple[str | None, str | None]:
    """Create an order and its payment: ``(where to send the buyer, None)`` or
    ``(None, an error page in plain words)``. Without a gateway, the order page."""
    try:
        order = orders.create(product)
    except KeyError:
        return None, page("Unknown product", "<p>That product is not for sale.</p>")
    if gateway is None:
        return f"/orders/{order['out_order_id']}", None
    try:
        payment = gateway.create(
            price=order["price"],
            type=pay_type,
            out_order_id=order["out_order_id"],
            custom=order["custom"],
        )
    except (GatewayError, ValueError) as error:
        message = str(error)  # the gateway's words, and the English beside them
        return None, page(
            "Payment not available",
            f"<p>The payment service refused this order: <b>{html.escape(message)}</b>.</p>"
            f"<p>Please try the other payment method, or again later.</p>"
            f"<p><a href='/'>Back to the shop</a></p>",
        )
    return payment.pay_url, None


# -- pages -------------------------------------------------------------------------------

STYLE = "<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}</style>"


def page(title: str, body: str) -> str:
    return html_document(title, body, style=STYLE)


def home_page(shop_name: str, orders: list[dict[str, Any]]) -> str:
    choice = "".join(
        f"<label><input type=radio name=type value={t}{' checked' if t == 'alipay' else ''}>"
        f" {t}</label> "
        for t in ("alipay", "wechat")
    )
    buttons = "".join(
        f"<form method=post action='/orders'><input type=hidden name=product value={key}>"
        f"{choice}<button id=buy-{key}>Buy {html.escape(name)} for {price} yuan</button></form>"
        for key, (name, price) in PRODUCTS.items()
    )
    rows = "".join(
        f"<li><a href='/orders/{html.escape(o['out_order_id'])}'>{html.escape(o['out_order_id'])}"
        f"</a>: {html.escape(o['product'])}, {o['price']} yuan, <b>{o['status']}</b></li>"
        for o in orders
    )
    return page(shop_name, f"{buttons}<h2>Orders</h2><ul>{rows or '<li>none yet</li>'}</ul>")


def order_state(order: dict[str, Any] | None) -> str:
    if order is None:
        return "<p>No such order.</p>"
    state = (
        f"<b>paid</b> (gateway order {order['gateway_order_id']}, {order['paid_price']} yuan)"
        if order["status"] == "paid"
        else "<b>pending</b>: waiting for the payment notify"
    )
    return (
        f"<p>Order <code>{html.escape(order['out_order_id'])}</code>: "
        f"{html.escape(PRODUCTS[order['product']][0])}, {order['price']} yuan.</p>"
        f"<p id=status>Status: {state}.</p><p><a href='/'>Back to the shop</a></p>"
    )


def order_page(order: dict[str, Any] | None) -> str:
    return page("Your order", order_state(order))


def thank_you_page(order: dict[str, Any] | None) -> str:
    # The return URL is a browser link: it shows the real state, it never fulfils.
    return page("Thank you", order_state(order))


def closed_page(order: dict[str, Any] | None) -> str:
    return page("Payment window closed", order_state(order))

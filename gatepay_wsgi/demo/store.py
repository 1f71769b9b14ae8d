"""The demo shop's own parts: orders in SQLite, checkout, pages (``examples/`` have their own).

``Orders`` is what a real shop's order table does for a payment: create an order, and
mark it paid exactly once when a notify for its price arrives. ``checkout`` creates the
payment at the gateway (or the sandbox) when one is configured. The pages are plain
HTML so that every framework can serve them; a stored string is shown through
``printable``, then HTML-escaped.
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
from urllib.parse import parse_qsl, urlencode

from ..callbacks import Notification, printable
from ..client import GatePayClient, GatewayError, new_out_order_id
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
                " custom TEXT NOT NULL DEFAULT '', refused_reason TEXT)"
            )
            columns = {row[1] for row in db.execute("PRAGMA table_info(orders)")}
            if "refused_reason" not in columns:  # a demo folder from an older version
                db.execute("ALTER TABLE orders ADD COLUMN refused_reason TEXT")

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

    def refuse(self, out_order_id: str, reason: str) -> None:
        """The gateway refused to create this order's payment: say so, never "pending"."""
        with self._connect() as db:
            db.execute(
                "UPDATE orders SET status = 'refused', refused_reason = ?"
                " WHERE out_order_id = ? AND status = 'pending'",
                (reason, out_order_id),
            )

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
    orders: Orders,
    product: str,
    pay_type: str,
    gateway: GatePayClient | None,
    lang: str = "en",
) -> tuple[str | None, str | None]:
    """Create an order and its payment: ``(where to send the buyer, None)`` or
    ``(None, an error page in plain words)``. Without a gateway, the order page. An order
    the gateway refuses is marked refused, with its words (never left pending)."""
    words = TEXTS[lang]
    try:
        order = orders.create(product)
    except KeyError:
        return None, page(words["unknown_title"], f"<p>{words['unknown']}</p>", lang)
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
        orders.refuse(order["out_order_id"], message)
        return None, page(
            words["refused_title"],
            f"<p>{words['refused'].format(reason=html.escape(printable(message)))}</p>"
            f"<p>{words['try_again']}</p><p><a href='/'>{words['back']}</a></p>",
            lang,
        )
    return payment.pay_url, None


# -- pages -------------------------------------------------------------------------------

#: Everything the demo shop says, in each language of its pages.
TEXTS: dict[str, dict[str, str]] = {
    "en": {
        "shop": "Demo shop",
        "buy": "Buy {name} for {price} yuan",
        "orders": "Orders",
        "none_yet": "none yet",
        "yuan": "{price} yuan",
        "no_order": "No such order.",
        "order": "Order <code>{id}</code>: {name}, {price} yuan.",
        "status": "Status: {state}.",
        "paid": "<b>paid</b> (gateway order {gateway_order}, {paid} yuan)",
        "pending": "<b>pending</b>: waiting for the payment notify",
        "refused_state": "<b>refused</b> by the payment service ({reason}): nothing was paid",
        "closed_pending": "The payment window closed before the shop heard of a payment. If you "
        "paid, you need do nothing: the order turns paid as soon as the gateway's notify "
        "arrives (reload this page). If you did not pay, buy again.",
        "closed_paid": "The payment arrived: nothing more to do.",
        "back": "Back to the shop",
        "your_order": "Your order",
        "thank_you": "Thank you",
        "closed_title": "Payment window closed",
        "unknown_title": "Unknown product",
        "unknown": "That product is not for sale.",
        "refused_title": "Payment not available",
        "refused": "The payment service refused this order: <b>{reason}</b>.",
        "try_again": "Please try the other payment method, or again later.",
        "tea": "A pot of tea",
        "cake": "A slice of cake",
        "switch": "中文",
        "word_paid": "paid",
        "word_pending": "pending",
        "word_refused": "refused",
    },
    "zh": {
        "shop": "演示商店",
        "buy": "购买{name}（{price} 元）",
        "orders": "订单",
        "none_yet": "暂无",
        "yuan": "{price} 元",
        "no_order": "没有这个订单。",
        "order": "订单 <code>{id}</code>：{name}，{price} 元。",
        "status": "状态：{state}。",
        "paid": "<b>已支付</b>（支付平台订单 {gateway_order}，{paid} 元）",
        "pending": "<b>待支付</b>：正在等待支付平台的付款通知",
        "refused_state": "<b>已被支付平台拒绝</b>（{reason}）：未付款",
        "closed_pending": "支付时间已过，商店尚未收到付款通知。如果您已付款，无需任何操作："
        "商店收到支付平台的通知后订单会立即变为已支付（请刷新本页）。如果您没有付款，请重新购买。",
        "closed_paid": "付款已到账，无需其他操作。",
        "back": "返回商店",
        "your_order": "您的订单",
        "thank_you": "谢谢",
        "closed_title": "支付已超时",
        "unknown_title": "未知商品",
        "unknown": "该商品不出售。",
        "refused_title": "暂时无法支付",
        "refused": "支付平台拒绝了此订单：<b>{reason}</b>。",
        "try_again": "请换一种支付方式，或稍后再试。",
        "tea": "一壶茶",
        "cake": "一块蛋糕",
        "switch": "English",
        "word_paid": "已支付",
        "word_pending": "待支付",
        "word_refused": "已拒绝",
    },
}

STYLE = (
    "<style>body{font-family:system-ui,-apple-system,'PingFang SC','Microsoft YaHei',"
    "sans-serif;max-width:40em;margin:0 auto;padding:1rem;line-height:1.6}"
    "button{min-height:44px;padding:.4em 1em;font-size:1rem;margin:.3em 0}"
    "form{margin:.6em 0}label{margin-right:1em;white-space:nowrap}"
    "nav{text-align:right;font-size:.9em}</style>"
)


def page(title: str, body: str, lang: str = "en", here: str = "/") -> str:
    """A demo page: its language switch on top, to ``here`` (this page's path and query)
    with ``lang=`` set (the shop keeps it in a cookie). A signed return link keeps its
    fields: ``lang`` is not one of them."""
    other = "zh" if lang == "en" else "en"
    path, _, query = here.partition("?")
    pairs = [(k, v) for k, v in parse_qsl(query, keep_blank_values=True) if k != "lang"]
    href = html.escape(f"{path}?{urlencode([*pairs, ('lang', other)])}")
    switch = f"<nav><a href='{href}'>{TEXTS[lang]['switch']}</a></nav>"
    return html_document(
        title, body, style=STYLE, header=switch, lang="zh-CN" if lang == "zh" else "en"
    )


def home_page(orders: list[dict[str, Any]], lang: str = "en", here: str = "/") -> str:
    words = TEXTS[lang]
    choice = "".join(
        f"<label><input type=radio name=type value={t}{' checked' if t == 'alipay' else ''}>"
        f" {t}</label> "
        for t in ("alipay", "wechat")
    )
    buttons = "".join(
        f"<form method=post action='/orders'><input type=hidden name=product value={key}>"
        f"{choice}<button id=buy-{key}>"
        f"{words['buy'].format(name=html.escape(words[key]), price=price)}</button></form>"
        for key, (_, price) in PRODUCTS.items()
    )
    rows = "".join(
        f"<li><a href='/orders/{html.escape(o['out_order_id'])}'>"
        f"{html.escape(printable(o['out_order_id']))}"
        f"</a>: {html.escape(words[o['product']])}, {words['yuan'].format(price=o['price'])}, "
        f"<b>{words['word_' + o['status']]}</b></li>"
        for o in orders
    )
    listing = rows or f"<li>{words['none_yet']}</li>"
    body = f"{buttons}<h2>{words['orders']}</h2><ul>{listing}</ul>"
    return page(words["shop"], body, lang, here)


def _state(order: dict[str, Any], words: dict[str, str]) -> str:
    if order["status"] == "paid":
        return words["paid"].format(
            gateway_order=order["gateway_order_id"], paid=order["paid_price"]
        )
    if order["status"] == "refused":
        reason = printable(order["refused_reason"] or "")  # the gateway's words
        return words["refused_state"].format(reason=html.escape(reason))
    return words["pending"]


def order_state(order: dict[str, Any] | None, lang: str = "en") -> str:
    words = TEXTS[lang]
    if order is None:
        return f"<p>{words['no_order']}</p>"
    return (
        "<p>"
        + words["order"].format(
            id=html.escape(printable(order["out_order_id"])),
            name=html.escape(words[order["product"]]),
            price=order["price"],
        )
        + f"</p><p id=status>{words['status'].format(state=_state(order, words))}</p>"
        f"<p><a href='/'>{words['back']}</a></p>"
    )


def order_page(order: dict[str, Any] | None, lang: str = "en", here: str = "/") -> str:
    return page(TEXTS[lang]["your_order"], order_state(order, lang), lang, here)


def thank_you_page(order: dict[str, Any] | None, lang: str = "en", here: str = "/") -> str:
    # The return URL is a browser link: it shows the real state, it never fulfils.
    return page(TEXTS[lang]["thank_you"], order_state(order, lang), lang, here)


def closed_page(order: dict[str, Any] | None, lang: str = "en", here: str = "/") -> str:
    """The timeout page: says what the buyer should do, by the order's real state."""
    words = TEXTS[lang]
    advice = ""
    if order is not None and order["status"] != "refused":
        advice = words["closed_paid" if order["status"] == "paid" else "closed_pending"]
    return page(
        words["closed_title"], f"<p id=advice>{advice}</p>" + order_state(order, lang), lang, here
    )

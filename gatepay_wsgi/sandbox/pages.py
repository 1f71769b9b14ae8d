"""The sandbox's HTML: ``page("Console", console_body(...))``, escaped by construction.

Every piece is a ``markupsafe.Markup`` template whose arguments are escaped as they are
filled in (``Markup("<b>{}</b>").format(text)``), so no value from a shop, a buyer or
the console can open a tag. Only this module writes HTML for the sandbox.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from urllib.parse import urlencode

from markupsafe import Markup
from werkzeug.wrappers import Response

from ..client import PAY_TYPES
from ..pages import html_document
from .create import CreateRules
from .orders import Attempt, SandboxOrder
from .sessions import Sessions

_STYLE = Markup(
    "<style>body{font-family:sans-serif;max-width:48em;margin:2em auto}"
    "td,th{padding:.2em .6em;text-align:left;vertical-align:top}</style>"
)
_HEADER = Markup("<p><small>GatePay sandbox</small></p>")
_TYPE_CHOICE = Markup("").join(Markup("<option>{}</option>").format(t) for t in PAY_TYPES)


def page(title: str, body: Markup, refresh: int | None = None) -> Response:
    """A whole sandbox page; ``refresh`` reloads it every so many seconds."""
    text = html_document(title, body, style=_STYLE, header=_HEADER, refresh=refresh)
    return Response(text, content_type="text/html; charset=utf-8")


def _clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


def _time_out_button(order_id: int) -> Markup:
    return Markup(
        "<form method=post action='/pay/{}/timeout'><button id=timeout>"
        "Let it time out</button></form>"
    ).format(order_id)


# -- the buyer's pages ----------------------------------------------------------------


def pay_body(order: SandboxOrder, amount: str) -> Markup:
    """The pay page of an open order: pay, or let it time out."""
    return Markup(
        "<p>Order <code>{}</code> at the shop, gateway order {}.</p>"
        "<form method=post action='/pay/{}/pay'><button id=pay>Pay {}</button></form><p></p>{}"
    ).format(
        order.out_order_id, order.order_id, order.order_id, amount, _time_out_button(order.order_id)
    )


def waiting_body(amount: str, tries: int, of: int) -> Markup:
    """Paid, the shop has not said ``success`` yet: the page follows the retries."""
    return Markup(
        "<p>You paid {}. The shop has not confirmed yet (notify {} of {}); "
        "this page follows it.</p>"
    ).format(amount, tries, of)


def closed_body() -> Markup:
    return Markup("<p>This order timed out unpaid.</p>")


def unwatched_body(order_id: int) -> Markup:
    """Paid into an account no session watches: the gateway saw nothing."""
    return Markup(
        "<p id=unwatched>No session is watching this account: the gateway did not "
        "see the payment, so no notify goes to the shop (the merchant can still "
        "confirm it by hand in the console).</p>{}"
    ).format(_time_out_button(order_id))


def quick_pay_body(values: dict[str, str]) -> Markup:
    """The quick-pay link's form: the buyer types the amount (prefilled with ``price``)."""
    keep = Markup("").join(
        Markup("<input type=hidden name={} value='{}'>").format(name, values.get(name, ""))
        for name in ("appkey", "token", "custom", "skin")
    )
    return Markup(
        "<form method=post action='/pay/any'>{}<label>Amount (yuan) <input name=price "
        "inputmode=decimal value='{}'></label> <select name=type>{}</select> "
        "<button id=quick-pay>Continue</button></form>"
    ).format(keep, values.get("price", ""), _TYPE_CHOICE)


def message_body(text: str) -> Markup:
    return Markup("<p>{}</p>").format(text)


# -- the merchant's console -----------------------------------------------------------


def console_body(
    appkey: str,
    notify_url: str,
    orders: Iterable[SandboxOrder],
    sessions: Markup,
    settings: Markup,
) -> Markup:
    """The console: the merchant's URLs, sessions, every order and its notifies, settings."""
    rows = Markup("").join(_order_row(order) for order in orders)
    table = (
        Markup(
            "<table><tr><th>order</th><th>shop's id</th><th>amount</th><th>status</th>"
            "<th>notifies</th><th></th></tr>{}</table>"
        ).format(rows)
        if rows
        else Markup("<p>No orders yet.</p>")
    )
    return Markup(
        "<p>Merchant appkey <code>{}</code>; notify URL <code>{}</code>.</p>{}<h2>Orders</h2>{}{}"
    ).format(appkey, notify_url, sessions, table, settings)


def _attempt(attempt: Attempt) -> Markup:
    if attempt.error is not None:
        return Markup("{} {}: {}").format(_clock(attempt.at), attempt.kind, attempt.error)
    return Markup("{} {}: answered {} <code>{}</code>").format(
        _clock(attempt.at), attempt.kind, attempt.status, attempt.body
    )


def _order_row(order: SandboxOrder) -> Markup:
    attempts = Markup("<br>").join(_attempt(a) for a in order.attempts)
    return Markup(
        "<tr id=order-{id}><td>{id}</td><td>{out}</td><td>{price} (paid {paid}) {type}</td>"
        "<td class=status>{status}</td><td>{attempts}</td><td>"
        "<form method=post action='/console/{id}/resend'>"
        "<button id=resend-{id}>I have received this payment</button></form></td></tr>"
    ).format(
        id=order.order_id,
        out=order.out_order_id,
        price=order.price,
        paid=order.realprice,
        type=order.type,
        status=order.status,
        attempts=attempts or "-",
    )


def sessions_section(sessions: Sessions, message: str = "") -> Markup:
    """Accounts online or offline, the points, and the buttons to scan and drop."""
    rows = Markup("").join(
        Markup(
            "<tr id=session-{}><td>{}</td><td>{}</td><td class=state>{}</td><td>{}</td>"
            "<td>{}</td></tr>"
        ).format(
            s.session_id,
            s.type,
            s.label,
            "online" if s.online else "offline",
            _clock(s.since),
            Markup(
                "<form method=post action='/console/sessions/{id}/offline'>"
                "<button id=offline-{id}>Take offline</button></form>"
            ).format(id=s.session_id)
            if s.online
            else Markup(
                "<form method=post action='/console/sessions/scan'>"
                "<input type=hidden name=session_id value={id}>"
                "<button id=revive-{id}>Scan to go online</button></form>"
            ).format(id=s.session_id),
        )
        for s in sessions.sessions.values()
    )
    notice = Markup("<p id=notice><b>{}</b></p>").format(message) if message else ""
    return Markup(
        "<h2>Sessions</h2>{}<p>Points: <b id=points>{}</b> "
        "(100 points = 1 yuan; a scan costs {})</p>"
        "<table><tr><th>type</th><th>account</th><th>state</th><th>since</th><th></th></tr>"
        "{}</table><form method=post action='/console/sessions/scan'>"
        "<select name=type>{}</select> <input name=label placeholder='account label'>"
        " <button id=scan>Scan to go online</button></form>"
    ).format(notice, sessions.points, sessions.scan_fee, rows, _TYPE_CHOICE)


def _field(label: str, name: str, value: object, size: int = 50) -> Markup:
    shown = "" if value is None else str(value)
    return Markup("<label>{} <input name={} size={} value='{}'></label>").format(
        label, name, size, shown
    )


def _box(name: str, on: bool, label: str) -> Markup:
    checked = Markup(" checked") if on else ""
    return Markup("<label><input type=checkbox name={}{}> {}</label>").format(name, checked, label)


def settings_form(rules: CreateRules, notify_url: str, return_url: str, quick_url: str) -> Markup:
    """The console's settings: an empty URL is code 108/109, the API switch 107, a pay
    type off 203 (anypay), the quota 110, the stock 206 and 204 (grouppay)."""
    types = Markup(" ").join(_box(f"type_{t}", t not in rules.closed_types, t) for t in PAY_TYPES)
    rows = Markup("").join(
        Markup("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>").format(
            p.product_id,
            p.name,
            p.price,
            _field("", f"stock_{p.product_id}", p.stock, 4) if p.available else "not on sale",
        )
        for p in rules.products.values()
    )
    return Markup(
        "<h2>Settings</h2><form method=post action='/console/settings'>"
        "<p>{}</p><p>{}</p>"
        "<p>{} &middot; pay types on: {} &middot; {} (empty: no limit)</p>"
        "<table><tr><th>product_id</th><th>product</th><th>price</th>"
        "<th>stock (empty: not kept)</th></tr>{}</table>"
        "<p><button id=save-settings>Save</button></p></form>"
        "<p>Quick-pay link (快捷收款): <a href='{}'>{}</a></p>"
    ).format(
        _field("Notify URL", "notify_url", notify_url),
        _field("Return URL", "return_url", return_url),
        _box("api_open", rules.api_open, "create API on"),
        types,
        _field("orders left in the plan", "quota", rules.quota, 5),
        rows,
        quick_url,
        quick_url,
    )


def quick_pay_link(appkey: str, token: str) -> str:
    """The console's quick-pay link (the gateway's 快捷收款)."""
    return f"/pay/any?{urlencode({'appkey': appkey, 'token': token})}"

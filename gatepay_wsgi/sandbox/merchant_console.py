"""The sandbox's merchant console (the gateway's 管理后台): the merchant's URLs, the cloud
sessions and points, every order with its notifies and the "I have received this payment"
button, and the settings that switch the create API's refusals. HTML escaped by
construction (``layout.py``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from urllib.parse import urlencode

from markupsafe import Markup

from ..callbacks import printable
from ..client import PAY_TYPES
from .cloud_sessions import CloudSessions
from .create import FAULTS, CreateRules
from .layout import message_body, say, type_choice, type_name
from .orders import PAID, Attempt, SandboxOrder


def _table(head: Iterable[str], rows: Markup) -> Markup:
    """A table in its own sideways-scrolling box: a phone's page never gets wider."""
    cells = Markup("").join(Markup("<th>{}</th>").format(h) for h in head)
    return Markup("<div class=scroll><table><tr>{}</tr>{}</table></div>").format(cells, rows)


def _clock(at: float) -> str:
    """``"14:03:09"``: a time of day on this machine's clock."""
    return time.strftime("%H:%M:%S", time.localtime(at))


def console_body(
    lang: str,
    appkey: str,
    notify_url: str,
    orders: Iterable[SandboxOrder],
    sessions: Markup,
    settings: Markup,
) -> Markup:
    """The console: the merchant's URLs, sessions, every order and its notifies, settings."""
    rows = Markup("").join(_order_row(lang, order) for order in orders)
    head = [
        say(lang, key)
        for key in ("col_order", "col_shop_id", "col_amount", "col_status", "col_notifies")
    ]
    table = _table([*head, ""], rows) if rows else message_body(lang, "no_orders")
    line = say(
        lang,
        "merchant_line",
        appkey=Markup("<code>{}</code>").format(printable(appkey)),
        url=Markup("<code>{}</code>").format(printable(notify_url)),
    )
    return Markup("<p>{}</p>{}<h2>{}</h2>{}{}").format(
        line, sessions, say(lang, "orders"), table, settings
    )


def _attempt(lang: str, attempt: Attempt) -> Markup:
    kind = say(lang, f"kind_{attempt.kind.value}")
    if attempt.error is not None:
        error = printable(attempt.error_words.get(lang, attempt.error))
        return say(lang, "attempt_error", clock=_clock(attempt.at), kind=kind, error=error)
    body = Markup("<code>{}</code>").format(printable(attempt.body))
    return say(
        lang, "answered", clock=_clock(attempt.at), kind=kind, status=attempt.status, body=body
    )


def _order_row(lang: str, order: SandboxOrder) -> Markup:
    attempts = Markup("<br>").join(_attempt(lang, a) for a in order.attempts)
    # Only a paid order has a paid amount: an open or closed one was never paid.
    paid = say(lang, "paid_amount", paid=order.realprice) if order.status == PAID else ""
    amount = Markup(" ").join(
        part for part in (order.price, paid, type_name(lang, order.type)) if part
    )
    return Markup(
        "<tr id=order-{id}><td>{id}</td><td>{out}</td><td>{amount}</td>"
        "<td class=status>{status}</td><td class=notifies>{attempts}</td><td>"
        "<form method=post action='/console/{id}/resend'>"
        "<button id=resend-{id}>{resend}</button></form></td></tr>"
    ).format(
        id=order.order_id,
        out=printable(order.out_order_id),
        amount=amount,
        status=say(lang, f"status_{order.status.value}"),
        attempts=attempts or "-",
        resend=say(lang, "resend"),
    )


def sessions_section(lang: str, sessions: CloudSessions, message: str = "") -> Markup:
    """Accounts online or offline, the points, and the buttons to scan and drop."""
    rows = Markup("").join(
        Markup(
            "<tr id=session-{}><td>{}</td><td>{}</td><td class=state>{}</td><td>{}</td>"
            "<td>{}</td></tr>"
        ).format(
            s.session_id,
            type_name(lang, s.type),
            printable(s.label),
            say(lang, "online" if s.online else "offline"),
            _clock(s.since),
            Markup(
                "<form method=post action='/console/sessions/{id}/offline'>"
                "<button id=offline-{id}>{}</button></form>"
            ).format(say(lang, "take_offline"), id=s.session_id)
            if s.online
            else Markup(
                "<form method=post action='/console/sessions/scan'>"
                "<input type=hidden name=session_id value={id}>"
                "<button id=revive-{id}>{}</button></form>"
            ).format(say(lang, "scan"), id=s.session_id),
        )
        for s in sessions.sessions.values()
    )
    notice = Markup("<p id=notice><b>{}</b></p>").format(printable(message)) if message else ""
    points = say(
        lang,
        "points",
        points=Markup("<b id=points>{}</b>").format(sessions.points),
        fee=sessions.scan_fee,
    )
    head = [say(lang, key) for key in ("col_type", "col_account", "col_state", "col_since")]
    return Markup(
        "<h2>{}</h2>{}<p>{}</p>{}<form method=post action='/console/sessions/scan'>"
        "<select name=type>{}</select> <input name=label placeholder='{}'>"
        " <button id=scan>{}</button></form>"
    ).format(
        say(lang, "sessions"),
        notice,
        points,
        _table([*head, ""], rows),
        type_choice(lang),
        say(lang, "account_label"),
        say(lang, "scan"),
    )


def _field(label: str, name: str, value: object, size: int = 50) -> Markup:
    shown = "" if value is None else str(value)
    return Markup("<label>{} <input name={} size={} value='{}'></label>").format(
        label, name, size, shown
    )


def _box(name: str, on: bool, label: str) -> Markup:
    checked = Markup(" checked") if on else ""
    return Markup("<label><input type=checkbox name={}{}> {}</label>").format(name, checked, label)


def settings_form(
    lang: str, rules: CreateRules, notify_url: str, return_url: str, quick_url: str
) -> Markup:
    """The console's settings: an empty URL is code 108/109, the API switch 107, a pay
    type off 203 (anypay), the quota 110, the stock 206 and 204 (grouppay), an account
    that is no agent's 209 (cloudpay), a gateway fault 205-208 (stablepay: 204)."""
    types = Markup(" ").join(
        _box(f"type_{t}", t not in rules.closed_types, type_name(lang, t)) for t in PAY_TYPES
    )
    rows = Markup("").join(
        Markup("<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>").format(
            p.product_id,
            p.name,
            p.price,
            _field("", f"stock_{p.product_id}", p.stock, 4)
            if p.available
            else say(lang, "not_on_sale"),
        )
        for p in rules.products.values()
    )
    head = [say(lang, key) for key in ("col_product_id", "col_product", "col_price", "col_stock")]
    link = Markup("<a href='{}'>{}</a>").format(quick_url, quick_url)
    faults = Markup("").join(
        Markup("<option value='{}'{}>{}</option>").format(
            fault, Markup(" selected") if rules.fault == fault else "", say(lang, f"fault_{fault}")
        )
        for fault in ("", *FAULTS)
    )
    fault = Markup("<label>{} <select name=fault>{}</select></label>").format(
        say(lang, "fault"), faults
    )
    return Markup(
        "<h2>{}</h2><form method=post action='/console/settings'>"
        "<p>{}</p><p>{}</p>"
        "<p>{} &middot; {} &middot; {} {}</p>"
        "<p>{} &middot; {}</p>"
        "{}"
        "<p><button id=save-settings>{}</button></p></form>"
        "<p>{}</p>"
    ).format(
        say(lang, "settings"),
        _field(say(lang, "notify_url"), "notify_url", notify_url),
        _field(say(lang, "return_url"), "return_url", return_url),
        _box("api_open", rules.api_open, say(lang, "api_on")),
        say(lang, "types_on", types=types),
        _field(say(lang, "quota"), "quota", rules.quota, 5),
        say(lang, "no_limit"),
        _box("agent", rules.agent, say(lang, "agent")),
        fault,
        _table(head, rows),
        say(lang, "save"),
        say(lang, "quick_pay_link", link=link),
    )


def quick_pay_link(appkey: str, token: str) -> str:
    """The console's quick-pay link (the gateway's 快捷收款)."""
    return f"/pay/any?{urlencode({'appkey': appkey, 'token': token})}"

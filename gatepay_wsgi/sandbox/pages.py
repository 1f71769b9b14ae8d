"""The sandbox's HTML: ``page("Console", console_body(...), "zh", switch)``, escaped by
construction, in English or Chinese, laid out for a phone's width too.

Every piece is a ``markupsafe.Markup`` template whose arguments are escaped as they are
filled in (``Markup("<b>{}</b>").format(text)``), so no value from a shop, a buyer or
the console can open a tag; a value shown as text goes through ``printable`` first, so
none can hide or reorder the text around it either (a form keeps its values as they
are). The words come from ``texts.py``, one table per language, and are escaped like
any value (``say(lang, key, ...)``). Only this module writes HTML for the sandbox.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from urllib.parse import urlencode

from markupsafe import Markup, escape
from werkzeug.wrappers import Response

from .. import languages
from ..callbacks import printable
from ..client import PAY_TYPES
from ..pages import html_document
from .cloud_sessions import CloudSessions
from .create import CreateRules
from .orders import PAID, Attempt, SandboxOrder
from .texts import HTML_LANG, TEXTS

# Readable on a 390 px phone: the body keeps a margin and a measure, a table scrolls
# sideways inside its own box instead of widening the page, inputs never outgrow it,
# buttons and links are 44 px targets, and Chinese gets its own fonts.
_STYLE = Markup(
    "<style>"
    "*,::before,::after{box-sizing:border-box}"
    "html{-webkit-text-size-adjust:100%;text-size-adjust:100%}"
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'PingFang SC',"
    "'Hiragino Sans GB','Microsoft YaHei','Noto Sans CJK SC','Noto Sans SC',"
    "'Source Han Sans SC',sans-serif;font-size:16px;line-height:1.6;color:#1f2328;"
    "max-width:48rem;margin:0 auto;padding:.75rem 1rem 2rem}"
    "h1{font-size:1.5rem;line-height:1.3;margin:.5rem 0 1rem}"
    "h2{font-size:1.25rem;line-height:1.3;margin:1.75rem 0 .75rem}"
    "p,label{overflow-wrap:anywhere}"
    "code{font-size:.9em;overflow-wrap:anywhere}"
    ".top{display:flex;flex-wrap:wrap;justify-content:space-between;align-items:center;"
    "gap:0 1rem;color:#57606a;font-size:.875rem}"
    ".lang a{display:inline-block;min-height:44px;line-height:44px;padding:0 .35rem}"
    ".lang a[aria-current]{font-weight:bold;color:inherit;text-decoration:none}"
    ".scroll{max-width:100%;overflow-x:auto;-webkit-overflow-scrolling:touch;margin:.5rem 0}"
    "table{border-collapse:collapse}"
    "td,th{padding:.4em .6em;text-align:left;vertical-align:top;white-space:nowrap}"
    "th{border-bottom:1px solid #d0d7de}"
    "td{border-bottom:1px solid #eaeef2}"
    "td.notifies{white-space:normal;min-width:16rem}"
    "button{min-height:44px;padding:.4em 1em;font:inherit}"
    "input,select{font:inherit;max-width:100%}"
    "input:not([type=checkbox]),select{min-height:44px;padding:.25em .5em}"
    "input[type=checkbox]{width:1.25rem;height:1.25rem;margin:0 .35rem 0 0;"
    "vertical-align:middle}"
    "label{display:inline-block;max-width:100%;margin:.25rem 0}"
    "form p{margin:.5rem 0}"
    "#pay,#quick-pay{min-width:12rem;font-size:1.125rem}"
    "</style>"
)
_CHOICE = Markup("<option value={}>{}</option>")


def say(lang: str, key: str, **values: object) -> Markup:
    """``say("zh", "pay", amount="10.00")``: the text ``key`` of ``lang``, escaped, its
    places filled with escaped values (a ``Markup`` value goes in as it is)."""
    return escape(TEXTS[lang][key]).format(**values)


def language_switch(lang: str, path: str, args: Iterable[tuple[str, str]]) -> Markup:
    """ "中文 | English": links to this page in each language (``languages.py``)."""
    return languages.language_switch(lang, path, args, say(lang, "switch"))


def page(
    title: str,
    body: Markup,
    lang: str = "en",
    switch: Markup | None = None,
    refresh: int | None = None,
) -> Response:
    """A whole sandbox page in ``lang``, with the language ``switch`` on top; ``refresh``
    reloads it every so many seconds."""
    header = Markup("<div class=top><small>{}</small>{}</div>").format(
        say(lang, "sandbox"), switch or ""
    )
    text = html_document(
        title, body, style=_STYLE, header=header, refresh=refresh, lang=HTML_LANG[lang]
    )
    response = Response(text, content_type="text/html; charset=utf-8")
    response.vary.update(("Accept-Language", "Cookie"))  # the language follows both
    return response


def title(lang: str, key: str, **values: object) -> str:
    """A page's title (plain text: ``html_document`` escapes it)."""
    return TEXTS[lang][key].format(**values)


def type_name(lang: str, pay_type: str) -> str:
    """``alipay`` as the page's language names it (支付宝); an unknown type as it is."""
    return TEXTS[lang].get(f"type_{pay_type}", pay_type)


def amount(lang: str, price: str, pay_type: str) -> str:
    """``10.00 yuan (alipay)``, in Chinese with the type's Chinese name."""
    return title(lang, "amount", price=price, type=type_name(lang, pay_type))


def _type_choice(lang: str) -> Markup:
    return Markup("").join(_CHOICE.format(t, type_name(lang, t)) for t in PAY_TYPES)


def _table(head: Iterable[str], rows: Markup) -> Markup:
    """A table in its own sideways-scrolling box: a phone's page never gets wider."""
    cells = Markup("").join(Markup("<th>{}</th>").format(h) for h in head)
    return Markup("<div class=scroll><table><tr>{}</tr>{}</table></div>").format(cells, rows)


def _clock(at: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at))


def _time_out_button(lang: str, order_id: int) -> Markup:
    return Markup(
        "<form method=post action='/pay/{}/timeout'><button id=timeout>{}</button></form>"
    ).format(order_id, say(lang, "time_out"))


# -- the buyer's pages ----------------------------------------------------------------


def pay_body(lang: str, order: SandboxOrder, amount: str) -> Markup:
    """The pay page of an open order: pay, or let it time out."""
    line = say(
        lang,
        "order_line",
        out=Markup("<code>{}</code>").format(printable(order.out_order_id)),
        id=order.order_id,
    )
    return Markup(
        "<p>{}</p><form method=post action='/pay/{}/pay'><button id=pay>{}</button></form><p></p>{}"
    ).format(
        line,
        order.order_id,
        say(lang, "pay", amount=amount),
        _time_out_button(lang, order.order_id),
    )


def waiting_body(lang: str, amount: str, tries: int, of: int) -> Markup:
    """Paid, the shop has not said ``success`` yet: the page follows the retries."""
    return Markup("<p>{}</p>").format(say(lang, "waiting", amount=amount, tries=tries, of=of))


def closed_body(lang: str) -> Markup:
    return Markup("<p>{}</p>").format(say(lang, "closed"))


def unwatched_body(lang: str, order_id: int) -> Markup:
    """Paid into an account no session watches: the gateway saw nothing."""
    return Markup("<p id=unwatched>{}</p>{}").format(
        say(lang, "unwatched"), _time_out_button(lang, order_id)
    )


def quick_pay_body(lang: str, values: dict[str, str]) -> Markup:
    """The quick-pay link's form: the buyer types the amount (prefilled with ``price``)."""
    keep = Markup("").join(
        Markup("<input type=hidden name={} value='{}'>").format(name, values.get(name, ""))
        for name in ("appkey", "token", "custom", "skin")
    )
    return Markup(
        "<form method=post action='/pay/any'>{}<label>{} <input name=price "
        "inputmode=decimal value='{}'></label> <select name=type>{}</select> "
        "<button id=quick-pay>{}</button></form>"
    ).format(
        keep,
        say(lang, "amount_label"),
        values.get("price", ""),
        _type_choice(lang),
        say(lang, "continue"),
    )


def message_body(lang: str, key: str) -> Markup:
    return Markup("<p>{}</p>").format(say(lang, key))


# -- the merchant's console -----------------------------------------------------------


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
        _type_choice(lang),
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
    type off 203 (anypay), the quota 110, the stock 206 and 204 (grouppay)."""
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
    return Markup(
        "<h2>{}</h2><form method=post action='/console/settings'>"
        "<p>{}</p><p>{}</p>"
        "<p>{} &middot; {} &middot; {} {}</p>"
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
        _table(head, rows),
        say(lang, "save"),
        say(lang, "quick_pay_link", link=link),
    )


def quick_pay_link(appkey: str, token: str) -> str:
    """The console's quick-pay link (the gateway's 快捷收款)."""
    return f"/pay/any?{urlencode({'appkey': appkey, 'token': token})}"

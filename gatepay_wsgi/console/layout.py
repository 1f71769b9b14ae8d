"""The console's layout, the frame of every page and the pieces they share:
``page(lang, "Overview", overview_body(...), ...)``, escaped by construction, in English
or Chinese, laid out for a phone's width too.

Every piece is a ``markupsafe.Markup`` template whose arguments are escaped as they are
filled in, so no stored value (a buyer writes ``extend``; a forger writes anything a
refused request carries) can open a tag. The words come from ``texts.py``. The charts
are inline SVG and there is no script at all, so the Content-Security-Policy forbids
every script. A sign is only ever shown by its first characters; the console never has
the appsecret. This module holds the page and its shared pieces; ``overview.py`` and
``notifies.py`` the bodies of their pages: only these three write HTML for the console.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from urllib.parse import urlencode

from markupsafe import Markup, escape
from werkzeug.wrappers import Response

from .. import languages
from ..pages import PHONE_STYLE, html_document
from .texts import HTML_LANG, TEXTS

#: The statuses as the charts stack them (bottom first), and their colours.
STACK = ("done", "failed", "processing", "received")
COLOURS = {"done": "#2da44e", "failed": "#cf222e", "processing": "#bf8700", "received": "#8c959f"}

# Readable on a 390 px phone (``pages.PHONE_STYLE``, shared with the other pages), and
# what only these pages have.
_STYLE = (
    Markup("<style>")
    + PHONE_STYLE
    + Markup(
        "body{max-width:60rem}"
        "h3{font-size:1.05rem;margin:1.25rem 0 .5rem}"
        "p,label,dd{overflow-wrap:anywhere}"
        ".top{display:flex;flex-wrap:wrap;justify-content:space-between;align-items:center;"
        "gap:0 1rem;color:#57606a;font-size:.875rem;border-bottom:1px solid #eaeef2}"
        ".top nav a,.lang a{display:inline-block;min-height:44px;line-height:44px;padding:0 .35rem}"
        ".top a[aria-current]{font-weight:bold;color:inherit;text-decoration:none}"
        ".top form{display:inline}"
        ".top button{min-height:36px}"
        "td.wrap{white-space:normal;min-width:12rem;overflow-wrap:anywhere}"
        "td.n{text-align:right}"
        "dl{display:grid;grid-template-columns:minmax(7rem,max-content) 1fr;gap:.25rem 1rem}"
        "dt{color:#57606a}dd{margin:0}"
        "input,select{font:inherit;max-width:100%;min-height:44px;padding:.25em .5em}"
        "label{display:inline-block;max-width:100%;margin:.25rem .75rem .25rem 0}"
        ".notice{padding:.6rem .8rem;border-radius:6px;background:#ddf4ff;margin:1rem 0}"
        ".warn{background:#fff8c5}"
        ".s-failed{color:#cf222e;font-weight:bold}.s-done{color:#1a7f37}"
        ".s-processing{color:#9a6700}"
        ".muted{color:#57606a;font-size:.875rem}"
        ".chart svg{width:100%;height:auto;max-height:14rem}"
        ".legend span{display:inline-block;margin-right:.75rem}"
        ".legend i{display:inline-block;width:.8em;height:.8em;margin-right:.3em;"
        "vertical-align:-.05em}"
        "</style>"
    )
)


def say(lang: str, key: str, **values: object) -> Markup:
    """``say("zh", "replay_all", count=3)``: the text ``key`` of ``lang``, escaped, its
    places filled with escaped values (a ``Markup`` value goes in as it is)."""
    return escape(TEXTS[lang][key]).format(**values)


def text(lang: str, key: str, **values: object) -> str:
    """A text as plain text (a page's title: ``html_document`` escapes it)."""
    return TEXTS[lang][key].format(**values)


def status_name(lang: str, status: str) -> str:
    return TEXTS[lang].get(f"status_{status}", status)


def when(at: float | None) -> str:
    """``2024-05-01 12:00:00`` in the server's local time; ``-`` for none."""
    if at is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


def zone() -> str:
    """The server's offset from UTC: ``UTC+08:00``."""
    offset = time.strftime("%z", time.localtime())
    return f"UTC{offset[:3]}:{offset[3:]}" if len(offset) == 5 else "UTC"


def short_sign(sign: str) -> str:
    """A sign as the console shows it: its first six characters."""
    return sign[:6] + "…" if sign else ""


class Links:
    """``links("/notifies", status="failed")`` -> ``/admin/notifies?status=failed``: every
    link and form action inside the console's mount (the request's script root)."""

    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/")

    def __call__(self, path: str, **query: object) -> str:
        pairs = [(k, str(v)) for k, v in query.items() if v is not None and v != ""]
        return self.root + path + ("?" + urlencode(pairs) if pairs else "")


def hidden_field(name: str, value: object) -> Markup:
    return Markup("<input type=hidden name={} value='{}'>").format(name, value)


def table(head: Iterable[Markup | str], rows: Markup, table_id: str = "") -> Markup:
    """A table in its own sideways-scrolling box: a phone's page never gets wider."""
    cells = Markup("").join(Markup("<th>{}</th>").format(h) for h in head)
    ident = Markup(" id={}").format(table_id) if table_id else ""
    return Markup("<div class=scroll><table{}><tr>{}</tr>{}</table></div>").format(
        ident, cells, rows
    )


def status_badge(lang: str, status: str, stale: bool = False) -> Markup:
    name = status_name(lang, status)
    if stale:
        return Markup("<span class=s-failed>{} ({})</span>").format(name, text(lang, "stale"))
    return Markup("<span class=s-{}>{}</span>").format(status, name)


def notice(message: Markup, warn: bool = False) -> Markup:
    return Markup("<p id=notice class='notice{}' role=status>{}</p>").format(
        " warn" if warn else "", message
    )


def language_switch(lang: str, path: str, args: Iterable[tuple[str, str]]) -> Markup:
    """ "中文 | English": links to this page in each language (``languages.py``)."""
    return languages.language_switch(lang, path, args, say(lang, "switch"))


def page(
    lang: str,
    title: str,
    body: Markup,
    *,
    links: Links,
    switch: Markup,
    user: str | None = None,
    csrf: str = "",
    current: str = "",
    status: int = 200,
) -> Response:
    """A whole console page: the top bar (pages, who is signed in, sign out, language),
    ``body``, and a note on the times' zone."""
    nav = Markup("")
    if user is not None:
        items = Markup(" ").join(
            Markup("<a href='{}'{}>{}</a>").format(
                links(path), Markup(" aria-current=page") if key == current else "", say(lang, key)
            )
            for path, key in (("/", "nav_overview"), ("/notifies", "nav_notifies"))
        )
        nav = Markup(
            "<nav aria-label='{}'>{}</nav><span>{} <form method=post action='{}'>{}"
            "<button id=sign-out>{}</button></form></span>"
        ).format(
            say(lang, "nav"),
            items,
            say(lang, "signed_in_as", user=Markup("<b>{}</b>").format(user)),
            links("/logout"),
            hidden_field("csrf", csrf),
            say(lang, "sign_out"),
        )
    header = Markup("<div class=top><small>{}</small>{}{}</div>").format(
        say(lang, "console"), nav, switch
    )
    footer = Markup("<p class=muted>{}</p>").format(say(lang, "times_note", zone=zone()))
    document = html_document(
        title, body + footer, style=_STYLE, header=header, lang=HTML_LANG[lang]
    )
    response = Response(document, status=status, content_type="text/html; charset=utf-8")
    response.vary.update(("Accept-Language", "Cookie"))
    return response


def message_body(lang: str, key: str, links: Links, **values: object) -> Markup:
    return Markup("<p>{}</p><p><a href='{}'>{}</a></p>").format(
        say(lang, key, **values), links("/"), say(lang, "back")
    )


# -- signing in ---------------------------------------------------------------------


def login_body(
    lang: str, links: Links, csrf: str, message: Markup | None, name: str, next_path: str
) -> Markup:
    return Markup(
        "{}<form method=post action='{}' id=login>{}{}"
        "<p><label>{}<br><input name=user id=user value='{}' autocomplete=username "
        "autocapitalize=none required></label></p>"
        "<p><label>{}<br><input name=password id=password type=password "
        "autocomplete=current-password required></label></p>"
        "<p><button id=sign-in>{}</button></p></form>"
    ).format(
        notice(message, warn=True) if message else "",
        links("/login"),
        hidden_field("csrf", csrf),
        hidden_field("next", next_path) if next_path else "",
        say(lang, "user_name"),
        name,
        say(lang, "password"),
        say(lang, "sign_in"),
    )

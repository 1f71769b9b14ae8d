"""The sandbox's layout: ``page("Console", console_body(...), "zh", switch)``, the frame of
every sandbox page and the pieces its pages share, escaped by construction, in English or
Chinese, laid out for a phone's width too.

Every piece is a ``markupsafe.Markup`` template whose arguments are escaped as they are
filled in (``Markup("<b>{}</b>").format(text)``), so no value from a shop, a buyer or
the console can open a tag; a value shown as text goes through ``printable`` first, so
none can hide or reorder the text around it either (a form keeps its values as they
are). The words come from ``texts.py``, one table per language, and are escaped like
any value (``say(lang, key, ...)``). Only this module, ``pay_page.py`` (the buyer's) and
``merchant_console.py`` (the merchant's) write HTML for the sandbox.
"""

from __future__ import annotations

from collections.abc import Iterable

from markupsafe import Markup, escape
from werkzeug.wrappers import Request, Response

from .. import languages
from ..client import PAY_TYPES
from ..pages import PHONE_STYLE, html_document
from .texts import COOKIE, HTML_LANG, TEXTS

# Readable on a 390 px phone (``pages.PHONE_STYLE``, shared with the other pages), and
# what only these pages have.
_STYLE = (
    Markup("<style>")
    + PHONE_STYLE
    + Markup(
        "body{max-width:48rem}"
        "p,label{overflow-wrap:anywhere}"
        ".top{display:flex;flex-wrap:wrap;justify-content:space-between;align-items:center;"
        "gap:0 1rem;color:#57606a;font-size:.875rem}"
        ".lang a{display:inline-block;min-height:44px;line-height:44px;padding:0 .35rem}"
        ".lang a[aria-current]{font-weight:bold;color:inherit;text-decoration:none}"
        "td.notifies{white-space:normal;min-width:16rem}"
        "input,select{font:inherit;max-width:100%}"
        "input:not([type=checkbox]),select{min-height:44px;padding:.25em .5em}"
        "input[type=checkbox]{width:1.25rem;height:1.25rem;margin:0 .35rem 0 0;"
        "vertical-align:middle}"
        "label{display:inline-block;max-width:100%;margin:.25rem 0}"
        "#pay,#quick-pay{min-width:12rem;font-size:1.125rem}"
        "</style>"
    )
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


def page_language(request: Request) -> str:
    """``"zh"`` or ``"en"`` for this request's page (``languages.page_language``)."""
    return languages.page_language(request.environ, COOKIE)


def page_for(request: Request, title: str, body: Markup, refresh: int | None = None) -> Response:
    """A whole page in the request's language, with the switch to the other one."""
    lang = page_language(request)
    switch = language_switch(
        lang, request.script_root + request.path, request.args.items(multi=True)
    )
    return page(title, body, lang, switch, refresh)


def title(lang: str, key: str, **values: object) -> str:
    """A page's title (plain text: ``html_document`` escapes it)."""
    return TEXTS[lang][key].format(**values)


def type_name(lang: str, pay_type: str) -> str:
    """``alipay`` as the page's language names it (支付宝); an unknown type as it is."""
    return TEXTS[lang].get(f"type_{pay_type}", pay_type)


def amount(lang: str, price: str, pay_type: str) -> str:
    """``10.00 yuan (alipay)``, in Chinese with the type's Chinese name."""
    return title(lang, "amount", price=price, type=type_name(lang, pay_type))


def type_choice(lang: str) -> Markup:
    """The pay types as a ``<select>``'s options, named in ``lang``."""
    return Markup("").join(_CHOICE.format(t, type_name(lang, t)) for t in PAY_TYPES)


def message_body(lang: str, key: str) -> Markup:
    """A page's one message, the text ``key`` of ``lang``."""
    return Markup("<p>{}</p>").format(say(lang, key))

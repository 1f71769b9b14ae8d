"""Chinese or English for a page: ``lang = page_language(environ, cookie="shop_lang")``.

Most buyers of Alipay/WeChat shops read Chinese; the people behind the shops may prefer
either. Every page of the package speaks both, chosen the same way everywhere: a
``?lang=zh|en`` link (kept in a cookie from then on), else the cookie, else the page's
own setting, else the browser's ``Accept-Language`` (Chinese for ``zh*``), else English.
The library's own buyer pages, the sandbox, the demo and the console all use this module.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode

from markupsafe import Markup
from werkzeug.http import parse_cookie

from .errors import ConfigError

if TYPE_CHECKING:
    from werkzeug.wrappers import Response

#: The languages of every page.
LANGUAGES = ("zh", "en")
#: Each language by its own name, as a language switch shows it.
LANGUAGE_NAMES = {"zh": "中文", "en": "English"}
#: The ``lang`` attribute of a page in each language.
HTML_LANG = {"zh": "zh-CN", "en": "en"}
#: How long a ``?lang=`` choice is kept (seconds).
KEPT_FOR = 365 * 24 * 3600


def buyer_language(environ: Mapping[str, Any], forced: str | None = None) -> str:
    """``buyer_language(environ)`` -> ``"zh"`` or ``"en"``: ``forced`` if given, else the
    first of Chinese and English in the browser's ``Accept-Language`` (by its ``q``),
    else English."""
    if forced is not None:
        return forced
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate(str(environ.get("HTTP_ACCEPT_LANGUAGE", "")).split(",")):
        tag, _, params = item.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in LANGUAGES:
            continue
        quality = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        if quality > 0:
            ranked.append((-quality, position, primary))
    return min(ranked)[2] if ranked else "en"


def check_language(language: str | None) -> str | None:
    """``None`` (follow the browser) or one of ``LANGUAGES``; else ``ConfigError``."""
    if language is not None and language not in LANGUAGES:
        raise ConfigError(
            f"language must be one of {', '.join(LANGUAGES)} or None, got {language!r}"
        )
    return language


def _query(environ: Mapping[str, Any]) -> dict[str, str]:
    return dict(parse_qsl(str(environ.get("QUERY_STRING", ""))))


def _cookie(environ: Mapping[str, Any], name: str) -> str | None:
    return parse_cookie(str(environ.get("HTTP_COOKIE", ""))).get(name)


def page_language(environ: Mapping[str, Any], cookie: str, default: str | None = None) -> str:
    """``"zh"`` or ``"en"``: ``?lang=``, else the ``cookie`` a ``?lang=`` set, else
    ``default``, else the browser's ``Accept-Language`` (Chinese for ``zh*``)."""
    for chosen in (_query(environ).get("lang"), _cookie(environ, cookie)):
        if chosen in LANGUAGES:
            return str(chosen)
    return buyer_language(environ, default)


def remember_language(
    response: Response, environ: Mapping[str, Any], cookie: str, *, path: str = "/"
) -> None:
    """Keep a ``?lang=`` choice in ``cookie`` (HttpOnly, SameSite=Lax, Secure over HTTPS),
    so the pages that follow, and the gateway's redirects back, keep the language."""
    chosen = _query(environ).get("lang")
    if chosen in LANGUAGES:
        response.set_cookie(
            cookie,
            str(chosen),
            max_age=KEPT_FOR,
            path=path,
            secure=environ.get("wsgi.url_scheme") == "https",
            httponly=True,
            samesite="Lax",
        )


def language_switch(lang: str, path: str, args: Iterable[tuple[str, str]], label: str) -> Markup:
    """ "中文 | English": links to this page (``path`` with its query ``args``) in each
    language, ``?lang=zh`` or ``?lang=en``; ``label`` names the switch for a screen reader."""
    keep = [(name, value) for name, value in args if name != "lang"]
    links = Markup(" | ").join(
        Markup("<a id=lang-{} href='{}' hreflang={} lang={}{}>{}</a>").format(
            choice,
            f"{path}?{urlencode([*keep, ('lang', choice)])}",
            HTML_LANG[choice],
            HTML_LANG[choice],
            Markup(" aria-current=true") if choice == lang else "",
            LANGUAGE_NAMES[choice],
        )
        for choice in LANGUAGES
    )
    return Markup("<nav class=lang aria-label='{}'>{}</nav>").format(label, links)

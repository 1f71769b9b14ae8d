"""How every answer is written: ``return redirect("/orders/A7")`` from a page handler.

A page handler may answer with a ``str`` (HTML), ``bytes``, or any WSGI application
(every werkzeug, WebOb, Flask and Bottle response is one); ``redirect`` builds the last
kind without a framework, ``render`` writes any of them, ``respond`` writes a whole
answer of bytes (the notify's ``success``), ``status_line`` is the one place a status
becomes a WSGI status line, and ``html_document`` is the one page wrapper.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, Union

from markupsafe import Markup, escape

#: The rules every page of the package starts from, readable on a 390 px phone: the body
#: keeps a margin (each page sets its measure, ``body{max-width:...}``), a table scrolls
#: sideways inside its own box instead of widening the page, buttons are 44 px targets,
#: and Chinese gets its own fonts.
PHONE_STYLE = Markup(
    "*,::before,::after{box-sizing:border-box}"
    "html{-webkit-text-size-adjust:100%;text-size-adjust:100%}"
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'PingFang SC',"
    "'Hiragino Sans GB','Microsoft YaHei','Noto Sans CJK SC','Noto Sans SC',"
    "'Source Han Sans SC',sans-serif;font-size:16px;line-height:1.6;color:#1f2328;"
    "margin:0 auto;padding:.75rem 1rem 2rem}"
    "h1{font-size:1.5rem;line-height:1.3;margin:.5rem 0 1rem}"
    "h2{font-size:1.25rem;line-height:1.3;margin:1.75rem 0 .75rem}"
    "code{font-size:.9em;overflow-wrap:anywhere}"
    ".scroll{max-width:100%;overflow-x:auto;-webkit-overflow-scrolling:touch;margin:.5rem 0}"
    "table{border-collapse:collapse}"
    "td,th{padding:.4em .6em;text-align:left;vertical-align:top;white-space:nowrap}"
    "th{border-bottom:1px solid #d0d7de}"
    "td{border-bottom:1px solid #eaeef2}"
    "button{min-height:44px;padding:.4em 1em;font:inherit}"
    "form p{margin:.5rem 0}"
)

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

#: What a page handler may return.
Page = Union[str, bytes, "WSGIApplication"]

HTML = "text/html; charset=utf-8"
_TEXT = "text/plain; charset=utf-8"
_NO_STORE = ("Cache-Control", "no-store")

# The one place a status becomes a WSGI status line. RFC 9110 calls 413 "Content Too
# Large", as Python's own table does from 3.13 on: the same line on every Python.
_LINES = {status: f"{status.value} {status.phrase}" for status in HTTPStatus}
_LINES[HTTPStatus.REQUEST_ENTITY_TOO_LARGE] = "413 Content Too Large"
_REDIRECTS = (
    HTTPStatus.MOVED_PERMANENTLY,
    HTTPStatus.FOUND,
    HTTPStatus.SEE_OTHER,
    HTTPStatus.TEMPORARY_REDIRECT,
)


def status_line(status: HTTPStatus) -> str:
    """``status_line(HTTPStatus.SEE_OTHER)`` -> ``"303 See Other"``."""
    return _LINES[status]


def respond(
    start_response: StartResponse,
    status: HTTPStatus,
    body: bytes,
    content_type: str = _TEXT,
    extra_headers: Iterable[tuple[str, str]] = (),
) -> list[bytes]:
    """``return respond(start_response, HTTPStatus.OK, b"success")``: a whole, uncached answer."""
    headers = [
        ("Content-Type", content_type),
        ("Content-Length", str(len(body))),
        _NO_STORE,
        *extra_headers,
    ]
    start_response(_LINES[status], headers)
    return [body]


def redirect(location: str, status: int = 303) -> WSGIApplication:
    """``return redirect("/orders/A7")``: send the buyer's browser elsewhere."""
    if any(ch in location for ch in "\r\n\x00"):
        raise ValueError("a redirect location cannot contain line breaks")
    if status not in _REDIRECTS:
        raise ValueError(f"redirect status must be one of {[s.value for s in _REDIRECTS]}")
    code = HTTPStatus(status)
    header = location.encode("utf-8").decode("latin-1")  # WSGI headers are latin-1 strings

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        return respond(start_response, code, b"", HTML, [("Location", header)])

    return app


def is_page(answer: object) -> bool:
    """Whether a handler's answer is something ``render`` can write."""
    return isinstance(answer, (str, bytes, bytearray)) or callable(answer)


def render(
    page: Any,
    environ: WSGIEnvironment,
    start_response: StartResponse,
    status: HTTPStatus = HTTPStatus.OK,
    extra_headers: Iterable[tuple[str, str]] = (),
) -> Iterable[bytes]:
    """Write a page handler's answer: str and bytes as HTML, a WSGI app by calling it."""
    if isinstance(page, str):
        return respond(start_response, status, page.encode("utf-8"), HTML, extra_headers)
    if isinstance(page, (bytes, bytearray)):
        return respond(start_response, status, bytes(page), HTML, extra_headers)
    if callable(page):
        app: Callable[..., Iterable[bytes]] = page
        return app(environ, start_response)
    raise TypeError(
        f"a page handler must return str, bytes or a WSGI application, not {type(page).__name__}"
    )


def html_document(
    title: str,
    body: str,
    *,
    style: str = "",
    header: str = "",
    refresh: int | None = None,
    lang: str = "en",
    heading: bool = True,
) -> str:
    """``html_document("Paid", "<p>Thank you.</p>")``: a whole UTF-8 HTML page.

    The one page wrapper of the package (the library's own pages, the sandbox, the demo),
    laid out for the device's width (a phone's too). ``title`` is text and is escaped;
    ``body``, ``style`` and ``header`` are HTML. ``refresh`` reloads the page every so
    many seconds; ``lang`` is the page's language; ``heading=False`` leaves the ``<h1>``
    of the title to ``body``.
    """
    meta = f"<meta http-equiv=refresh content={int(refresh)}>" if refresh else ""
    h1 = f"<h1>{escape(title)}</h1>" if heading else ""
    return (
        f"<!doctype html><html lang={escape(lang)}><head><meta charset=utf-8>"
        f"<meta name=viewport content='width=device-width, initial-scale=1'>{meta}"
        f"<title>{escape(title)}</title>{style}</head><body>{header}{h1}{body}</body></html>"
    )

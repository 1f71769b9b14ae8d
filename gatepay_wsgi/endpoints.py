"""The three callbacks as WSGI apps: ``Notify(mark_paid)``, ``Return(page)``, ``Timeout(page)``.

Each endpoint is a WSGI application of its own; ``GatePayMiddleware`` gives it the
middleware's credentials (``with_defaults``) unless it was built with its own, which
is how one site serves several merchants.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

from .errors import (
    BadSignature,
    GatePayError,
    MalformedRequest,
    MethodNotAllowed,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from .messages import (
    DEFAULT_CLOCK_SKEW,
    Notification,
    ReturnVisit,
    TimeoutVisit,
    read_notification,
    read_return,
    read_timeout,
)
from .pages import HTML, Page, is_page, render, send, simple_page
from .request_fields import body_fields, query_fields

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

logger = logging.getLogger("gatepay_wsgi")

#: Default ``max_body_size``: a notify is a few hundred bytes.
DEFAULT_MAX_BODY_SIZE = 64 * 1024

_SUCCESS = b"success"
_FAIL = b"fail"
_STATUS_BY_ERROR: dict[type[GatePayError], str] = {
    PayloadTooLarge: "413 Content Too Large",
    UnsupportedMediaType: "415 Unsupported Media Type",
    MethodNotAllowed: "405 Method Not Allowed",
    BadSignature: "403 Forbidden",
}


def status_for(error: GatePayError) -> str:
    """The HTTP status line for a refused callback (the closest class in the tree wins)."""
    for cls in type(error).__mro__:
        if cls in _STATUS_BY_ERROR:
            return _STATUS_BY_ERROR[cls]
    return "400 Bad Request"


def _clip(value: str | None, size: int = 40) -> str:
    """Quote an untrusted value for a log line: bounded, no raw line breaks."""
    return "-" if value is None else repr(value[:size])


def log_refused(
    what: str, error: GatePayError, fields: Mapping[str, str], environ: WSGIEnvironment
) -> None:
    """One warning line: reason code, ids, remote address, a sign prefix at most."""
    sign = fields.get("sign")
    logger.warning(
        "%s refused reason=%s field=%s order_id=%s out_order_id=%s remote=%s sign=%s",
        what,
        error.reason,
        error.field or "-",
        _clip(fields.get("order_id")),
        _clip(fields.get("out_order_id")),
        environ.get("REMOTE_ADDR", "-"),
        "-" if sign is None else _clip(sign, 6)[:-1] + "...'",
    )


def check_credential(name: str, value: str | None) -> None:
    """Refuse an appkey/appsecret that is given but empty: fail closed at start-up."""
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ValueError(f"{name} must be a non-empty string")


class Endpoint:
    """Base of the three endpoints: a WSGI app with optional own credentials."""

    #: Whether requests are signed, so that credentials are required.
    signed = True

    def __init__(
        self, handler: Callable[..., Any], *, appkey: str | None, appsecret: str | None
    ) -> None:
        if not callable(handler):
            raise TypeError(f"{type(self).__name__} needs a callable handler, got {handler!r}")
        check_credential("appkey", appkey)
        check_credential("appsecret", appsecret)
        self.handler = handler
        self.appkey = appkey
        self.appsecret = appsecret

    def with_defaults(self, appkey: str | None, appsecret: str | None) -> Endpoint:
        """A copy that uses these credentials where the endpoint has none of its own."""
        bound = copy.copy(self)
        bound.appkey = self.appkey or appkey
        bound.appsecret = self.appsecret or appsecret
        return bound

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        raise NotImplementedError


class Notify(Endpoint):
    """``Notify(mark_paid)``: the async notify, answered exactly ``success`` or ``fail``.

    ``mark_paid(notification)`` runs only for a verified notify. Returning ``False`` or
    raising answers ``fail`` (the gateway retries); anything else answers ``success``.
    Accepts a POST form body (urlencoded or multipart) or, for the older page, a GET
    query string: one source per request, never merged.
    """

    def __init__(
        self,
        handler: Callable[[Notification], object],
        *,
        appkey: str | None = None,
        appsecret: str | None = None,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        clock_skew: int = DEFAULT_CLOCK_SKEW,
    ) -> None:
        super().__init__(handler, appkey=appkey, appsecret=appsecret)
        if max_body_size <= 0 or clock_skew < 0:
            raise ValueError("max_body_size must be positive and clock_skew not negative")
        self.max_body_size = max_body_size
        self.clock_skew = clock_skew

    def form(self, environ: WSGIEnvironment) -> tuple[dict[str, str], str]:
        """The request's fields and their encoding: POST body or GET query string."""
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "POST":
            return body_fields(environ, self.max_body_size)
        if method == "GET":
            return query_fields(environ)
        raise MethodNotAllowed(f"method {method[:16]!r} is not POST or GET")

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        fields: dict[str, str] = {}
        try:
            fields, encoding = self.form(environ)
            notification = read_notification(
                fields,
                appkey=self.appkey or "",
                appsecret=self.appsecret or "",
                encoding=encoding,
                clock_skew=self.clock_skew,
            )
        except GatePayError as error:
            log_refused("notify", error, fields, environ)
            extra = [("Allow", "GET, POST")] if isinstance(error, MethodNotAllowed) else []
            return send(start_response, status_for(error), _FAIL, extra_headers=extra)
        if self.run_handler(notification, environ):
            return send(start_response, "200 OK", _SUCCESS)
        return send(start_response, "500 Internal Server Error", _FAIL)

    def run_handler(self, notification: Notification, environ: WSGIEnvironment) -> bool:
        """Call the handler; ``True`` when it accepted the notification."""
        ids = (notification.order_id, _clip(notification.out_order_id))
        try:
            accepted = self.handler(notification) is not False
        except Exception:
            logger.exception(
                "notify failed reason=handler_error order_id=%s out_order_id=%s remote=%s",
                *ids,
                environ.get("REMOTE_ADDR", "-"),
            )
            return False
        if not accepted:
            logger.warning(
                "notify failed reason=handler_declined order_id=%s out_order_id=%s remote=%s",
                *ids,
                environ.get("REMOTE_ADDR", "-"),
            )
        return accepted


def _default_error_page(error: GatePayError) -> Page:
    return simple_page(
        "Payment link not valid",
        "This page could not be verified. Your order's real state is on the order page.",
    )


class _PageEndpoint(Endpoint):
    """A browser-facing GET endpoint whose handler's answer is the page."""

    what = "page"

    def __init__(
        self,
        handler: Callable[..., Page],
        *,
        appkey: str | None = None,
        appsecret: str | None = None,
        error_page: Callable[[GatePayError], Page] = _default_error_page,
    ) -> None:
        super().__init__(handler, appkey=appkey, appsecret=appsecret)
        self.error_page = error_page

    def visit(self, fields: dict[str, str], encoding: str) -> object:
        raise NotImplementedError

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        fields: dict[str, str] = {}
        try:
            if environ.get("REQUEST_METHOD", "GET") != "GET":
                raise MethodNotAllowed("only GET")
            fields, encoding = query_fields(environ)
            visit = self.visit(fields, encoding)
        except GatePayError as error:
            log_refused(self.what, error, fields, environ)
            status = status_for(error) if isinstance(error, MalformedRequest) else "400 Bad Request"
            return render(self.error_page(error), environ, start_response, status)
        try:
            page = self.handler(visit)
            if not is_page(page):
                raise TypeError(f"handler returned {type(page).__name__}, not a page")
        except Exception:
            logger.exception("%s failed reason=handler_error", self.what)
            body = simple_page("Something went wrong", "Please check your order page.")
            return send(start_response, "500 Internal Server Error", body.encode(), HTML)
        return render(page, environ, start_response)


class Return(_PageEndpoint):
    """``Return(thank_you_page)``: the buyer's browser after paying (GET, signed).

    ``thank_you_page(visit: ReturnVisit)`` answers with the page. A reload or a shared
    link can repeat this visit: show the order's real state, never fulfil here.
    """

    what = "return"

    def visit(self, fields: dict[str, str], encoding: str) -> ReturnVisit:
        return read_return(
            fields, appkey=self.appkey or "", appsecret=self.appsecret or "", encoding=encoding
        )


class Timeout(_PageEndpoint):
    """``Timeout(closed_page)``: the order closed unpaid (GET, unsigned, display only).

    ``closed_page(visit: TimeoutVisit)`` gets every query field as sent; escape them.
    """

    what = "timeout"
    signed = False

    def visit(self, fields: dict[str, str], encoding: str) -> TimeoutVisit:
        return read_timeout(fields)

"""The browser callbacks as WSGI apps, ``Return(page)`` and ``Timeout(page)``, and their base.

Each endpoint (``Notify`` lives in ``notify.py``) is a WSGI application of its own;
``GatePayMiddleware`` gives it the middleware's credentials (``with_defaults``) unless
it was built with its own, which is how one site serves several merchants.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterable, Mapping
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from .buyer_pages import buyer_page, check_language
from .callbacks import ReturnVisit, TimeoutVisit
from .errors import (
    BadSignature,
    ConfigError,
    GatePayError,
    MalformedRequest,
    MethodNotAllowed,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from .messages import read_return, read_timeout
from .pages import HTML, Page, is_page, render, respond
from .request_fields import query_fields
from .signing import Appsecret, configured_appsecret

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment


logger = logging.getLogger("gatepay_wsgi")

#: ``context(environ)`` -> a context manager entered around a handler call.
HandlerContext = Callable[["WSGIEnvironment"], AbstractContextManager[object]]

_STATUS_BY_ERROR: dict[type[GatePayError], HTTPStatus] = {
    PayloadTooLarge: HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
    UnsupportedMediaType: HTTPStatus.UNSUPPORTED_MEDIA_TYPE,
    MethodNotAllowed: HTTPStatus.METHOD_NOT_ALLOWED,
    BadSignature: HTTPStatus.FORBIDDEN,
}


def status_for(error: GatePayError) -> HTTPStatus:
    """The HTTP status of a refused callback (the closest class in the tree wins)."""
    for cls in type(error).__mro__:
        if cls in _STATUS_BY_ERROR:
            return _STATUS_BY_ERROR[cls]
    return HTTPStatus.BAD_REQUEST


def clip(value: str | None, size: int = 40) -> str:
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
        clip(fields.get("order_id")),
        clip(fields.get("out_order_id")),
        environ.get("REMOTE_ADDR", "-"),
        "-" if sign is None else clip(sign, 6)[:-1] + "...'",
    )


def check_credential(name: str, value: str | None) -> None:
    """Refuse an appkey/appsecret that is given but empty: fail closed at start-up."""
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ConfigError(f"{name} must be a non-empty string")


def check_appsecret(value: Appsecret | None) -> Appsecret | None:
    """The appsecret as given (``None``: not given), several as a tuple (``"new old"`` or
    ``["new", "old"]``: a rotation, the current one first); ``ConfigError`` for an empty
    one (``signing.configured_appsecret``)."""
    return None if value is None else configured_appsecret(value)


class Endpoint:
    """Base of the three endpoints: a WSGI app with optional own credentials."""

    #: Whether requests are signed, so that credentials are required.
    signed = True

    def __init__(
        self, handler: Callable[..., Any], *, appkey: str | None, appsecret: Appsecret | None
    ) -> None:
        if not callable(handler):
            raise TypeError(f"{type(self).__name__} needs a callable handler, got {handler!r}")
        check_credential("appkey", appkey)
        appsecret = check_appsecret(appsecret)
        if (appkey is None) != (appsecret is None):
            # One merchant's key with the middleware's secret (another merchant's) would
            # answer every notify 403 at run time: say so now.
            raise ConfigError(
                f"{type(self).__name__}: give it both appkey and appsecret, or neither "
                "(it then uses the middleware's)"
            )
        self.handler = handler
        self.appkey = appkey
        self.appsecret = appsecret
        self.context: HandlerContext | None = None

    def with_defaults(
        self,
        *,
        appkey: str | None,
        appsecret: Appsecret | None,
        context: HandlerContext | None = None,
    ) -> Endpoint:
        """A copy that uses these settings where the endpoint has none of its own."""
        bound = copy.copy(self)
        bound.appkey = self.appkey or appkey
        bound.appsecret = self.appsecret or appsecret
        bound.context = self.context or context
        return bound

    def scope(self, environ: WSGIEnvironment) -> AbstractContextManager[object]:
        """The framework context the handler runs in (Flask: ``app.request_context``)."""
        return nullcontext() if self.context is None else self.context(environ)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        raise NotImplementedError


class _PageEndpoint(Endpoint):
    """A browser-facing GET endpoint whose handler's answer is the page."""

    what = "page"

    def __init__(
        self,
        handler: Callable[..., Page],
        *,
        appkey: str | None = None,
        appsecret: Appsecret | None = None,
        error_page: Callable[[GatePayError], Page] | None = None,
        language: str | None = None,
        shop_url: str | None = None,
    ) -> None:
        super().__init__(handler, appkey=appkey, appsecret=appsecret)
        self.error_page = error_page
        self.language = check_language(language)
        self.shop_url = shop_url

    def visit(self, fields: dict[str, str], encoding: str) -> ReturnVisit | TimeoutVisit:
        raise NotImplementedError

    def buyer_page(self, kind: str, environ: WSGIEnvironment) -> str:
        """This library's own page of ``kind`` (``buyer_pages.KINDS``) for this visit."""
        return buyer_page(kind, environ, language=self.language, shop_url=self.shop_url)

    def _error_page(self, error: GatePayError, environ: WSGIEnvironment) -> Page:
        kind = "wrong_method" if isinstance(error, MethodNotAllowed) else "not_valid"
        if self.error_page is None:
            return self.buyer_page(kind, environ)
        try:
            page = self.error_page(error)
            if is_page(page):
                return page
            raise TypeError(f"error_page returned {type(page).__name__}, not a page")
        except Exception:
            logger.exception("%s error_page failed; the default page is shown", self.what)
            return self.buyer_page(kind, environ)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        with self.scope(environ):  # the error page may want the framework's templates too
            return self.answer_visit(environ, start_response)

    def answer_visit(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        """Read the visit, call the handler, write its page (or this library's own)."""
        fields: dict[str, str] = {}
        try:
            if environ.get("REQUEST_METHOD", "GET") != "GET":
                raise MethodNotAllowed("only GET")
            fields, encoding = query_fields(environ)
            visit = replace(
                self.visit(fields, encoding),
                script_name=environ.get("SCRIPT_NAME", ""),
                environ=environ,
            )
        except GatePayError as error:
            log_refused(self.what, error, fields, environ)
            malformed = isinstance(error, MalformedRequest)
            status = status_for(error) if malformed else HTTPStatus.BAD_REQUEST
            extra = [("Allow", "GET")] if isinstance(error, MethodNotAllowed) else []
            return render(self._error_page(error, environ), environ, start_response, status, extra)
        try:
            page = self.handler(visit)
            if not is_page(page):
                raise TypeError(f"handler returned {type(page).__name__}, not a page")
        except Exception:
            logger.exception("%s failed reason=handler_error", self.what)
            body = self.buyer_page("went_wrong", environ).encode()
            return respond(start_response, HTTPStatus.INTERNAL_SERVER_ERROR, body, HTML)
        return render(page, environ, start_response)


class Return(_PageEndpoint):
    """``Return(thank_you_page)``: the buyer's browser after paying (GET, signed).

    ``thank_you_page(visit: ReturnVisit)`` answers with the page. A reload or a shared
    link can repeat this visit: show the order's real state, never fulfil here.

    :param handler: called with the verified ``ReturnVisit``; returns the page (``str``,
        ``bytes`` or a WSGI app, such as a redirect).
    :param appkey: this endpoint's own merchant; ``None``: the middleware's.
    :param appsecret: likewise (never logged).
    :param error_page: called with the ``GatePayError`` of a forged or malformed visit;
        returns the page shown instead (by default this library's own page, below).
    :param language: ``"zh"`` or ``"en"`` for this library's own pages (a visit that
        cannot be verified, a wrong method, a handler that failed); ``None``: the
        browser's ``Accept-Language`` chooses (Chinese for ``zh*``, else English).
    :param shop_url: where those pages link back to ("back to the shop"); a path is
        taken inside the site's mount; ``None``: the root of the site.
    """

    what = "return"

    def visit(self, fields: dict[str, str], encoding: str) -> ReturnVisit:
        return read_return(
            fields, appkey=self.appkey or "", appsecret=self.appsecret or "", encoding=encoding
        )


class Timeout(_PageEndpoint):
    """``Timeout(closed_page)``: the order closed unpaid (GET, unsigned, display only).

    ``closed_page(visit: TimeoutVisit)`` gets every query field as sent; escape them.

    :param handler: called with the ``TimeoutVisit``; returns the page (``str``,
        ``bytes`` or a WSGI app).
    :param error_page: called with the ``GatePayError`` of a malformed visit (a wrong
        method, a body too large); returns the page shown instead.
    :param language: as for ``Return``: ``"zh"``, ``"en"`` or ``None`` (the browser's).
    :param shop_url: as for ``Return``: where this library's own pages link back to.
    """

    what = "timeout"
    signed = False

    def visit(self, fields: dict[str, str], encoding: str) -> TimeoutVisit:
        return read_timeout(fields)

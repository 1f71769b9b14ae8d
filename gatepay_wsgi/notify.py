"""``Notify(mark_paid)``: the async notify, answered exactly ``success`` or ``fail``.

HTTP only: read the fields (POST body or GET query, never both), verify and type them,
hand the notification to the inbox's one step (``Inbox.deliver``: put on record before
anything else happens, the handler run at most once at a time and never again once it
succeeded), write what that step came to. A notify that cannot be put on record is
answered ``fail`` and never reaches the handler.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING

from . import signals
from .callbacks import Notification
from .endpoints import Endpoint, log_refused, status_for
from .errors import ConfigError, GatePayError, MethodNotAllowed
from .inbox import Inbox, MemoryInbox, open_inbox
from .inbox.handlers import notification_ids
from .inbox.states import Delivered
from .messages import DEFAULT_CLOCK_SKEW, read_gateway_notify, read_notification
from .pages import respond, status_line
from .request_fields import body_fields, gateway_body, parse_urlencoded, query_fields
from .signing import Appsecret, appsecrets

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

logger = logging.getLogger("gatepay_wsgi")

#: Default ``max_body_size``: a notify is a few hundred bytes.
DEFAULT_MAX_BODY_SIZE = 64 * 1024

_SUCCESS = b"success"
_FAIL = b"fail"
_OK = HTTPStatus.OK
_OK_LINE = status_line(_OK)
# A POST's answer is never stored by a cache (RFC 9111 4.2.1 needs explicit freshness,
# which it has not): no Cache-Control header for the server to process. A GET notify
# (the older page) says no-store, or a proxy could answer a retry with a stale success.
_POST_SUCCESS_HEADERS = (("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", "7"))
_GET_SUCCESS_HEADERS = (*_POST_SUCCESS_HEADERS, ("Cache-Control", "no-store"))
_HANDLER_FAILED = HTTPStatus.INTERNAL_SERVER_ERROR
_FORBIDDEN = HTTPStatus.FORBIDDEN
_UNAVAILABLE = HTTPStatus.SERVICE_UNAVAILABLE
#: What the gateway is answered for what a delivery came to (only 200 writes ``success``).
_ANSWERS = {
    Delivered.HANDLED: _OK,
    Delivered.DONE_BEFORE: _OK,
    Delivered.FAILED: _HANDLER_FAILED,
    Delivered.BUSY: _UNAVAILABLE,
    Delivered.UNAVAILABLE: _UNAVAILABLE,
    Delivered.REUSED_SIGN: _FORBIDDEN,
}
_FALLBACK_LOCK = threading.Lock()
NOT_DURABLE = (
    "gatepay_wsgi: no inbox= given, so notifies are kept in memory only and a restart "
    "loses them; pass inbox='sqlite:////path/to/gatepay.sqlite3'"
)


class Notify(Endpoint):
    """``Notify(mark_paid)``: verify, record, and hand a paid order to ``mark_paid``.

    ``mark_paid(notification)`` runs only for a verified notify, at most once at a time
    per order, and never again once it succeeded. Returning ``False`` or raising answers
    ``fail`` (the gateway retries; ``inbox.replay`` can too); anything else ``success``.

    :param handler: called with the typed ``Notification`` (``Decimal`` money, ``int``
        ids, ``n.raw`` the fields as sent).
    :param appkey: this endpoint's own merchant; ``None``: the middleware's.
    :param appsecret: likewise (never logged).
    :param inbox: a URL or an ``Inbox``; ``None``: the middleware's.
    :param max_body_size: bytes a notify's body may have (larger: 413 ``fail``).
    :param clock_skew: seconds ``paytime`` may lie ahead of this host's clock.
    """

    def __init__(
        self,
        handler: Callable[[Notification], object],
        *,
        appkey: str | None = None,
        appsecret: Appsecret | None = None,
        inbox: str | Inbox | None = None,
        max_body_size: int = DEFAULT_MAX_BODY_SIZE,
        clock_skew: int = DEFAULT_CLOCK_SKEW,
    ) -> None:
        super().__init__(handler, appkey=appkey, appsecret=appsecret)
        if max_body_size <= 0 or clock_skew < 0:
            raise ConfigError(
                f"max_body_size must be positive and clock_skew not negative, got "
                f"max_body_size={max_body_size!r}, clock_skew={clock_skew!r}"
            )
        self.max_body_size = max_body_size
        self.clock_skew = clock_skew
        #: Where notifies are kept; ``None`` until the middleware gives its own.
        self.inbox: Inbox | None = None if inbox is None else open_inbox(inbox)

    def inbox_in_use(self) -> Inbox:
        """The inbox, or (used without the middleware and without one) a memory inbox."""
        if self.inbox is None:
            with _FALLBACK_LOCK:
                if self.inbox is None:
                    logger.warning(NOT_DURABLE)
                    self.inbox = MemoryInbox()
        return self.inbox

    def form(self, environ: WSGIEnvironment) -> tuple[dict[str, str], str]:
        """The request's fields and their encoding: POST body or GET query string."""
        method = environ.get("REQUEST_METHOD", "GET")
        if method == "POST":
            return body_fields(environ, self.max_body_size)
        if method == "GET":
            return query_fields(environ)
        raise MethodNotAllowed(f"method {method[:16]!r} is not POST or GET")

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        inbox = self.inbox_in_use()
        appkey, appsecret = self.appkey or "", self.appsecret or ""
        fields: dict[str, str] = {}
        try:
            body = gateway_body(environ, self.max_body_size)
            notification = None
            if body is not None:  # the gateway's way: one pattern reads and checks it all
                try:
                    text = body.decode("utf-8")
                except UnicodeDecodeError:
                    text = ""  # the general way below names the error
                notification = read_gateway_notify(
                    text, appkey=appkey, appsecret=appsecret, clock_skew=self.clock_skew
                )
            if notification is None:  # any other shape, or refused: field by field
                fields, encoding = (
                    self.form(environ) if body is None else (parse_urlencoded(body), "utf-8")
                )
                notification = read_notification(
                    fields,
                    appkey=appkey,
                    appsecret=appsecret,
                    encoding=encoding,
                    clock_skew=self.clock_skew,
                )
        except GatePayError as error:
            self.refuse(error, fields, environ)
            extra = [("Allow", "GET, POST")] if isinstance(error, MethodNotAllowed) else []
            return respond(start_response, status_for(error), _FAIL, extra_headers=extra)
        except Exception:  # a bug of ours on odd input: still never a traceback out, never
            logger.exception("notify refused reason=internal_error")  # a handler call
            return respond(start_response, _HANDLER_FAILED, _FAIL)
        if self.context is None:  # no framework context to enter: skip an empty with-block
            status = self.handle(inbox, notification, fields, environ)
        else:
            with self.scope(environ):
                status = self.handle(inbox, notification, fields, environ)
        if status is _OK:  # the hot path: headers built once, copied (servers may add to them)
            post = environ.get("REQUEST_METHOD") == "POST"
            start_response(_OK_LINE, list(_POST_SUCCESS_HEADERS if post else _GET_SUCCESS_HEADERS))
            return [_SUCCESS]
        return respond(start_response, status, _FAIL)

    def refuse(self, error: GatePayError, fields: dict[str, str], environ: WSGIEnvironment) -> None:
        """Log a refused request and count it in the inbox."""
        log_refused("notify", error, fields, environ)
        refusal = {
            "field": error.field,
            "remote_addr": environ.get("REMOTE_ADDR"),
            "order_id": fields.get("order_id", "")[:40] or None,
            "out_order_id": fields.get("out_order_id", "")[:40] or None,
        }
        self.inbox_in_use().record_rejection(error.reason, **refusal)
        signals.send(signals.notify_refused, self, reason=error.reason, **refusal)

    def handle(
        self,
        inbox: Inbox,
        notification: Notification,
        fields: dict[str, str],
        environ: WSGIEnvironment,
    ) -> HTTPStatus:
        """Hand a verified notify to the inbox's step; the status line to answer with."""
        remote_addr = environ.get("REMOTE_ADDR")
        if notification.secret_index:
            logger.warning(
                "notify verified with an older appsecret (#%d of %d; the first is the "
                "current one): the gateway still signs with it, so keep it configured: %s "
                "remote=%s",
                notification.secret_index + 1,
                len(appsecrets(self.appsecret or "")),
                notification_ids(notification),
                remote_addr or "-",
            )
        signals.send(
            signals.notify_received, self, notification=notification, remote_addr=remote_addr
        )
        delivered = inbox.deliver(notification, self.handler, remote_addr=remote_addr, sender=self)
        return _ANSWERS[delivered]

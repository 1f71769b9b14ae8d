"""``Notify(mark_paid)``: the async notify, answered exactly ``success`` or ``fail``.

The flow of one delivery: read the fields (POST body or GET query, never both), verify
and type them, ``claim`` the notify in the inbox (committed before anything else
happens), run the handler once, ``finish`` the record, answer. A notify that cannot be
put on record is answered ``fail`` and never reaches the handler.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import TYPE_CHECKING

from . import signals
from .endpoints import Endpoint, clip, log_refused, status_for
from .errors import ConfigError, GatePayError, InboxUnavailable, MethodNotAllowed
from .inbox import Claim, Inbox, MemoryInbox, open_inbox
from .inbox.outcomes import OutcomeWriter
from .inbox.states import ALREADY_DONE, BUSY, DONE, LOST, PROCESSING, REUSED_SIGN, RUN
from .messages import DEFAULT_CLOCK_SKEW, Notification, read_gateway_notify, read_notification
from .pages import send, status_line
from .request_fields import body_fields, gateway_body, parse_urlencoded, query_fields

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
        appsecret: str | None = None,
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
            return send(start_response, status_for(error), _FAIL, extra_headers=extra)
        except Exception:  # a bug of ours on odd input: still never a traceback out, never
            logger.exception("notify refused reason=internal_error")  # a handler call
            return send(start_response, _HANDLER_FAILED, _FAIL)
        if self.context is None:  # no framework context to enter: skip an empty with-block
            status = self.handle(inbox, notification, fields, environ)
        else:
            with self.scope(environ):
                status = self.handle(inbox, notification, fields, environ)
        if status is _OK:  # the hot path: headers built once, copied (servers may add to them)
            post = environ.get("REQUEST_METHOD") == "POST"
            start_response(_OK_LINE, list(_POST_SUCCESS_HEADERS if post else _GET_SUCCESS_HEADERS))
            return [_SUCCESS]
        return send(start_response, status, _FAIL)

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
        """Record, claim and handle a verified notify; the status line to answer with."""
        remote_addr = environ.get("REMOTE_ADDR")
        if signals.notify_received.receivers:  # an attribute read when nobody listens
            signals.send(
                signals.notify_received, self, notification=notification, remote_addr=remote_addr
            )

        if OutcomeWriter.ever_kept and OutcomeWriter.outcome(
            inbox, notification.appkey, notification.order_id
        ):  # handled here, its outcome not written yet: never run it again
            return _OK
        told = (
            signals.notify_handled.receivers
            or signals.notify_failed.receivers
            or signals.notify_failed_for_good.receivers
        )
        if not told:  # a new order, in an inbox that does it all in one step (memory)
            ran = inbox.run_if_new(notification, self.handler, remote_addr)
            if ran is not None:
                return _OK if ran[0] else _HANDLER_FAILED
        try:
            claim = inbox.claim(notification, remote_addr=remote_addr)
            # The same sign, other signed fields, being handled: wait for them, then decide.
            if (
                claim.outcome == BUSY
                and claim.other is not None
                and inbox.wait(*claim.other[:2]) != PROCESSING
            ):
                claim = inbox.claim(notification, remote_addr=remote_addr)
        except InboxUnavailable as error:
            where = _where(notification, remote_addr)
            logger.error("notify failed reason=inbox_unavailable %s: %s", where, error)
            return _UNAVAILABLE
        if claim.outcome is not RUN or claim.new_delivery or claim.took_over:  # not the usual
            answer = self.unusual_claim(inbox, claim, notification, environ)
            if answer is not None:
                return answer
        # A slow handler keeps its claim (the lease is renewed); a dead worker's expires.
        started = time.perf_counter() if told else 0.0
        ok, error_text = inbox.run_handler(
            claim, self.handler, notification, f" remote={remote_addr or '-'}"
        )
        if told:
            self.tell_outcome(notification, ok, error_text, time.perf_counter() - started)
        # If the inbox refuses this write, the outcome is kept and written in the
        # background, the claim held meanwhile: the handler never runs again either way.
        if inbox.record_outcome(claim, ok=ok, error=error_text) == LOST:
            logger.error(
                "notify claim was lost before the handler finished: %s",
                _where(notification, remote_addr),
            )
        return _OK if ok else _HANDLER_FAILED

    def unusual_claim(
        self, inbox: Inbox, claim: Claim, notification: Notification, environ: WSGIEnvironment
    ) -> HTTPStatus | None:
        """Log a claim that is not simply this worker's to run; the answer, or ``None`` when
        the handler is to run all the same (a new field set, a dead worker's claim)."""
        remote_addr = environ.get("REMOTE_ADDR")
        if claim.new_delivery:
            logger.warning(
                "notify delivered again with other signed fields, kept: %s",
                _where(notification, remote_addr),
            )
        if claim.took_over:
            logger.warning(
                "notify stale claim taken over (a worker died mid-handler): %s",
                _where(notification, remote_addr),
            )
        if claim.outcome == REUSED_SIGN:
            return self.refuse_forgery(inbox, claim, notification, environ)
        if claim.outcome == ALREADY_DONE:
            return _OK
        if claim.outcome == BUSY:
            return self.wait_for_other_worker(
                inbox, claim, lambda: _where(notification, remote_addr)
            )
        return None

    def tell_outcome(
        self, notification: Notification, ok: bool, error: str | None, duration: float
    ) -> None:
        """The handler's outcome to whoever listens (``signals``)."""
        if ok:
            signals.send(signals.notify_handled, self, notification=notification, duration=duration)
            return
        signals.send(
            signals.notify_failed, self, notification=notification, error=error, duration=duration
        )
        if time.time() - notification.paytime > signals.RETRIES_OVER_AFTER:
            signals.send(
                signals.notify_failed_for_good, self, notification=notification, error=error
            )

    def wait_for_other_worker(
        self, inbox: Inbox, claim: Claim, where: Callable[[], str]
    ) -> HTTPStatus:
        """Another worker runs this order's handler: its outcome is the answer."""
        if claim.other is None:
            try:
                if inbox.wait(claim.appkey, claim.order_id) == DONE:
                    return _OK
            except InboxUnavailable as error:
                logger.error("notify failed reason=inbox_unavailable %s: %s", where(), error)
                return _UNAVAILABLE
        logger.warning("notify failed reason=busy %s (another worker has it)", where())
        return _UNAVAILABLE

    def refuse_forgery(
        self, inbox: Inbox, claim: Claim, notification: Notification, environ: WSGIEnvironment
    ) -> HTTPStatus:
        """A sign already handled with other signed fields: a field boundary was moved."""
        _appkey, order_id, out_order_id = claim.other or ("-", 0, "-")
        remote_addr = environ.get("REMOTE_ADDR")
        logger.error(
            "notify refused reason=reused_sign: attempted forgery: this sign was handled for "
            "order_id=%s out_order_id=%s; refused order_id=%s out_order_id=%s remote=%s",
            order_id,
            clip(out_order_id),
            notification.order_id,
            clip(notification.out_order_id),
            remote_addr or "-",
        )
        refusal = {
            "field": None,
            "remote_addr": remote_addr,
            "order_id": str(notification.order_id),
            "out_order_id": notification.out_order_id[:40],
        }
        inbox.record_rejection(REUSED_SIGN, **refusal)
        signals.send(signals.notify_refused, self, reason=REUSED_SIGN.value, **refusal)
        return _FORBIDDEN


def _where(notification: Notification, remote_addr: str | None) -> str:
    """A notify's ids for a log line (built only when a line is logged)."""
    return (
        f"order_id={notification.order_id} "
        f"out_order_id={clip(notification.out_order_id)} remote={remote_addr or '-'}"
    )

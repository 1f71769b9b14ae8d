"""The one step every delivery takes: ``inbox.deliver(n, mark_paid)``, ``inbox.replay(...)``.

A live delivery and a replay take the same step over a backend's primitives
(``base.InboxStore``): claim the notify (recording it first, for a live one), decide from
the claim, run the handler with the claim held (its lease renewed: ``leases.py``), write
the outcome; one the store refuses now is written in the background, the claim held
meanwhile (``outcomes.py``), so a handler that succeeded never runs again. What a
delivery is answered, and what a replay reports, both come from here.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from dataclasses import replace

from .. import signals
from ..callbacks import Notification
from ..errors import GatePayError, InboxUnavailable
from ..messages import parse_notification
from .base import InboxStore
from .handlers import notification_ids, run_handler
from .leases import Holding, LeaseKeeper
from .outcomes import OutcomeWriter
from .records import Claim, InboxRecord, ReplayResult
from .states import (
    ALREADY_DONE,
    BUSY,
    DONE,
    FAILED,
    LOST,
    PENDING,
    PROCESSING,
    RECEIVED,
    RECORDED,
    REUSED_SIGN,
    Delivered,
    ReplayOutcome,
    Status,
    Written,
)

logger = logging.getLogger("gatepay_wsgi")
_POLL = 0.02
Handler = Callable[[Notification], object]


class Inbox(InboxStore):
    """``inbox.deliver(n, mark_paid)``: the step over a backend's primitives, written once."""

    # -- the step a live delivery takes -----------------------------------------------

    def deliver(
        self,
        notification: Notification,
        handler: Handler,
        *,
        remote_addr: str | None = None,
        sender: object = None,
    ) -> Delivered:
        """``inbox.deliver(n, mark_paid, remote_addr=ip)``: keep a verified notify, run
        ``handler`` for it at most once at a time and never again once it succeeded, and
        say what the delivery came to (``Notify`` answers the gateway from it).

        :param sender: who sends the outcome signals (``notify_handled`` and the rest; the
            ``Notify`` endpoint).
        """

        def where() -> str:
            return f"{notification_ids(notification)} remote={remote_addr or '-'}"

        if OutcomeWriter.outcome(self, notification.appkey, notification.order_id):
            return Delivered.DONE_BEFORE  # handled here, its outcome not written yet
        try:
            claim = self.claim(notification, remote_addr=remote_addr)
            # The same sign, other signed fields, being handled: wait for them, then decide.
            if (
                claim.outcome == BUSY
                and claim.other is not None
                and self.wait(*claim.other[:2]) != PROCESSING
            ):
                claim = self.claim(notification, remote_addr=remote_addr)
        except InboxUnavailable as error:
            logger.error("notify failed reason=inbox_unavailable %s: %s", where(), error)
            return Delivered.UNAVAILABLE
        if claim.new_delivery:
            logger.warning("notify delivered again with other signed fields, kept: %s", where())
        if claim.took_over:
            logger.warning("notify stale claim taken over (a worker died mid-handler): %s", where())
        if claim.outcome == REUSED_SIGN:
            self._refuse_forgery(claim, notification, remote_addr, sender)
            return Delivered.REUSED_SIGN
        if claim.outcome == ALREADY_DONE:
            return Delivered.DONE_BEFORE
        if claim.outcome == BUSY:
            return self._wait_for_other_worker(claim, where)
        ok, _error, written = self._run_claimed(
            claim, handler, notification, f" remote={remote_addr or '-'}", sender
        )
        if written == LOST:
            logger.error("notify claim was lost before the handler finished: %s", where())
        return Delivered.HANDLED if ok else Delivered.FAILED

    def _run_claimed(
        self,
        claim: Claim,
        handler: Handler,
        notification: Notification,
        log_suffix: str,
        sender: object = None,
    ) -> tuple[bool, str | None, Written]:
        """Run the handler with the claim held, tell the signals (a live delivery's), and
        write the outcome: ``(ok, error, what became of the outcome)``."""
        started = time.perf_counter()
        ok, error = self.run_handler(claim, handler, notification, log_suffix)
        if sender is not None:
            signals.send_outcome(sender, notification, ok, error, time.perf_counter() - started)
        return ok, error, self.record_outcome(claim, ok=ok, error=error)

    def _wait_for_other_worker(self, claim: Claim, where: Callable[[], str]) -> Delivered:
        """Another worker runs this order's handler: its outcome is the answer."""
        if claim.other is None:
            try:
                if self.wait(claim.appkey, claim.order_id) == DONE:
                    return Delivered.DONE_BEFORE
            except InboxUnavailable as error:
                logger.error("notify failed reason=inbox_unavailable %s: %s", where(), error)
                return Delivered.UNAVAILABLE
        logger.warning("notify failed reason=busy %s (another worker has it)", where())
        return Delivered.BUSY

    def _refuse_forgery(
        self,
        claim: Claim,
        notification: Notification,
        remote_addr: str | None,
        sender: object,
    ) -> None:
        """A sign already handled with other signed fields: a field boundary was moved."""
        _appkey, order_id, out_order_id = claim.other or ("-", 0, "-")
        logger.error(
            "notify refused reason=reused_sign: attempted forgery: this sign was handled for "
            "order_id=%s out_order_id=%r; refused %s remote=%s",
            order_id,
            out_order_id[:40],
            notification_ids(notification),
            remote_addr or "-",
        )
        refusal = {
            "field": None,
            "remote_addr": remote_addr,
            "order_id": str(notification.order_id),
            "out_order_id": notification.out_order_id[:40],
        }
        self.record_rejection(REUSED_SIGN, **refusal)
        signals.send(signals.notify_refused, sender, reason=REUSED_SIGN.value, **refusal)

    # -- outcomes, leases, waits and replays ------------------------------------------

    def record_outcome(self, claim: Claim, *, ok: bool, error: str | None = None) -> Written:
        """``finish`` the claim: ``RECORDED``, ``LOST``, or ``PENDING`` when the inbox refused
        the write (it is then retried in the background, the claim held, until it lands: an
        outcome not written would leave the notify looking unfinished, to be run again)."""
        returned = time.time()  # the write below may wait for a lock up to busy_timeout
        try:
            return RECORDED if self.finish(claim, ok=ok, error=error) else LOST
        except InboxUnavailable as failure:
            OutcomeWriter.for_this_process().defer(
                self, claim, ok=ok, error=error, failure=failure, handled_at=returned
            )
            return PENDING

    def close(self) -> None:
        """``inbox.close()``: write the outcomes this process still keeps for this inbox
        (for a few seconds at most), stop renewing its claims; backends then close their
        connections. Nothing of the process touches the inbox afterwards."""
        OutcomeWriter.settle(self)
        LeaseKeeper.forget(self)

    def holding(self, claim: Claim) -> AbstractContextManager[None]:
        """``with inbox.holding(claim): handler(n)``: keep the lease alive meanwhile."""
        return Holding(self, claim)

    def run_handler(
        self,
        claim: Claim,
        handler: Handler,
        notification: Notification,
        log_suffix: str = "",
    ) -> tuple[bool, str | None]:
        """``ok, error = inbox.run_handler(claim, mark_paid, n)``: ``handlers.run_handler``
        with the claim held (its lease kept alive) meanwhile."""
        with self.holding(claim):
            return run_handler(handler, notification, log_suffix)

    def wait(self, appkey: str, order_id: int, timeout: float | None = None) -> Status | None:
        """Wait up to ``timeout`` (default ``busy_wait``) for a claimed notify's outcome."""
        deadline = time.monotonic() + (self.busy_wait if timeout is None else timeout)
        while True:
            status = self.status(appkey, order_id)
            if status != PROCESSING or time.monotonic() >= deadline:
                return status
            time.sleep(_POLL)

    def replayable(self, appkey: str | None = None) -> list[InboxRecord]:
        """Notifies a replay should retry: failed, never claimed, or with a stale claim."""
        now = time.time()
        found = [
            record
            for status in (FAILED, RECEIVED, PROCESSING)
            for record in self.records(status, limit=1_000_000)
            if status != PROCESSING or (record.lease_until or 0) <= now
        ]
        return [r for r in found if appkey is None or r.appkey == appkey]

    def replay(
        self,
        handler: Handler,
        order_ids: Iterable[int] | None = None,
        *,
        appkey: str | None = None,
        by: str | None = None,
    ) -> list[ReplayResult]:
        """``inbox.replay(mark_paid)``: run the handler again for failed notifies.

        Each runs at most once at a time, across processes, exactly as a live delivery
        would: it is claimed, its lease held while the handler runs, its outcome written.

        :param handler: the notify handler, called with the stored ``Notification``;
            returning ``False`` or raising marks the notify failed again.
        :param order_ids: the gateway order ids to replay (one already done is
            ``skipped``); ``None`` replays every failed, never claimed or stale one.
        :param appkey: only this merchant's notifies (an inbox may hold several).
        :param by: who asked (the console's user, ``"cli"``): logged with each replay and
            sent with the ``notify_replayed`` signal.
        :return: a ``ReplayResult`` per order, its ``outcome`` a ``ReplayOutcome``.
        """
        results = self._replay(handler, order_ids, appkey)
        for result in results:
            logger.info(
                "notify replayed order_id=%s outcome=%s by=%s",
                result.order_id,
                result.outcome.value,
                by or "-",
            )
            signals.send(signals.notify_replayed, self, result=result, by=by)
        return results

    def _replay(
        self,
        handler: Handler,
        order_ids: Iterable[int] | None,
        appkey: str | None,
    ) -> list[ReplayResult]:
        if order_ids is None:
            targets = [(r.appkey, r.order_id) for r in self.replayable(appkey)]
            return [self._replay_one(handler, key, order_id) for key, order_id in targets]
        results: list[ReplayResult] = []
        for order_id in order_ids:
            stored = self.get(order_id, appkey)
            if not stored:
                results.append(ReplayResult(appkey or "-", order_id, ReplayOutcome.MISSING))
            for record in stored:
                results.append(self._replay_one(handler, record.appkey, order_id))
        return results

    def _replay_one(self, handler: Handler, appkey: str, order_id: int) -> ReplayResult:
        try:
            claimed = self.reclaim(appkey, order_id)
        except InboxUnavailable as error:  # nothing ran; say so and go on with the rest
            return ReplayResult(appkey, order_id, ReplayOutcome.UNAVAILABLE, str(error))
        if claimed is None:
            return ReplayResult(appkey, order_id, ReplayOutcome.MISSING)
        claim, record = claimed
        if claim.outcome == ALREADY_DONE:
            return ReplayResult(appkey, order_id, ReplayOutcome.SKIPPED)
        if claim.outcome == BUSY:
            return ReplayResult(appkey, order_id, ReplayOutcome.BUSY)
        if claim.outcome == REUSED_SIGN:
            other = claim.other or ("-", 0, "-")
            why = f"its sign was handled for order_id={other[1]} out_order_id={other[2]!r}"
            return ReplayResult(appkey, order_id, ReplayOutcome.REUSED_SIGN, why)
        error_text: str | None
        try:
            notification = parse_notification(record.raw, appkey=appkey)
            if record.secret_index:  # the secret that verified it then: it is not verified again
                notification = replace(notification, secret_index=record.secret_index)
        except GatePayError as error:  # stored by an older, laxer version: never runs
            ok, error_text = False, f"stored fields no longer parse: {error}"
            written = self.record_outcome(claim, ok=ok, error=error_text)
        else:  # the step a live delivery takes, from its claim on
            ok, error_text, written = self._run_claimed(claim, handler, notification, " (replay)")
        if written == PENDING:  # a replay reports what became of it: wait, as a delivery would
            if not OutcomeWriter.for_this_process().wait(self, appkey, order_id, self.busy_wait):
                why = f"handler ok={ok}; the outcome is retried in the background"
                return ReplayResult(appkey, order_id, ReplayOutcome.UNRECORDED, why)
            written = RECORDED if self.status(appkey, order_id) in (DONE, FAILED) else LOST
        if written == LOST:
            return ReplayResult(
                appkey, order_id, ReplayOutcome.LOST, "another worker took the claim over"
            )
        outcome = ReplayOutcome.DONE if ok else ReplayOutcome.FAILED
        return ReplayResult(appkey, order_id, outcome, error_text)

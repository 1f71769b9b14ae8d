"""What every inbox does: ``claim`` a verified notify before its handler runs, ``finish`` it.

A notify's record moves ``received -> processing -> done | failed`` (``states.py``), keyed by the
gateway's ``order_id`` per appkey. ``claim`` commits the record (raw fields, time,
remote address) and answers what to do:

- ``RUN``: this worker holds the claim (a lease); run the handler, then ``finish``.
- ``ALREADY_DONE``: handled before; answer ``success`` without running anything.
- ``BUSY``: another worker holds a live claim; ``wait`` for its outcome.

- ``REUSED_SIGN``: this sign was already handled with other signed fields: someone slid
  characters across a field boundary of a genuine notify (the sign input has no
  separators); refuse. While no field set under a sign has succeeded, another may still
  run (a forged copy that arrives first must never lock the genuine notify out), one at
  a time: a claim under a sign that another field set holds is ``BUSY`` until it ends.

While a handler runs, its claim's lease is renewed (``holding``); a claim whose lease
ran out because its worker was killed mid-handler is taken over by the next delivery
or replay. An outcome that cannot be written when the handler returns is kept and
retried in the background (``outcomes.py``), the claim held meanwhile, so a handler that
succeeded never runs again. A backend may also offer ``run_if_new``: a notify it has
never seen, claimed, handled and finished in one step (the memory inbox does; ``Notify``
takes it when nobody listens to the outcome signals, else claims as above). Backends
implement the primitives; replay, refusal
recording and the waiting loop live here, once (the lease keeper in ``leases.py``, late
outcomes in ``outcomes.py``).
"""

from __future__ import annotations

import logging
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from contextlib import AbstractContextManager
from typing import Any

from .. import signals
from ..errors import GatePayError, InboxUnavailable
from ..messages import Notification, parse_notification
from .handlers import run_handler
from .leases import Holding
from .outcomes import OutcomeWriter
from .records import Claim, InboxRecord, InboxStats, Rejection, ReplayResult, SignInChange
from .search import SearchFilter
from .states import (
    ALREADY_DONE,
    BUSY,
    DEFAULT_BUSY_WAIT,
    DEFAULT_LEASE,
    DONE,
    FAILED,
    LOST,
    PENDING,
    PROCESSING,
    RECEIVED,
    RECORDED,
    REUSED_SIGN,
    ReplayOutcome,
    Status,
    Written,
)

logger = logging.getLogger("gatepay_wsgi")
_POLL = 0.02


class Inbox(ABC):
    """The storage protocol behind ``Notify``; see the module docstring for the states."""

    lease: float = DEFAULT_LEASE
    busy_wait: float = DEFAULT_BUSY_WAIT
    #: Whether notifies survive a restart (the memory inbox's do not).
    durable: bool = True

    @abstractmethod
    def claim(self, notification: Notification, *, remote_addr: str | None = None) -> Claim:
        """Record a verified notify (committed) and claim it, or say why not."""

    @abstractmethod
    def reclaim(self, appkey: str, order_id: int) -> tuple[Claim, InboxRecord] | None:
        """Claim a stored notify again (replay); ``None`` if there is none."""

    @abstractmethod
    def finish(
        self, claim: Claim, *, ok: bool, error: str | None = None, note: str | None = None
    ) -> bool:
        """Mark a claimed notify done or failed; ``False`` if the claim was lost meanwhile."""

    @abstractmethod
    def renew(self, claims: list[Claim]) -> None:
        """Extend the lease of claims whose handlers are still running."""

    @abstractmethod
    def status(self, appkey: str, order_id: int) -> Status | None:
        """The current status of one notify, or ``None``."""

    @abstractmethod
    def get(self, order_id: int, appkey: str | None = None) -> list[InboxRecord]:
        """The stored notifies for one gateway order id (one per appkey)."""

    @abstractmethod
    def records(self, status: Status | str | None = None, limit: int = 100) -> list[InboxRecord]:
        """The newest stored notifies, optionally of one status."""

    def search(
        self,
        status: Status | str | None = None,
        order_id: int | None = None,
        out_order_id: str | None = None,
        since: float | None = None,
        until: float | None = None,
        limit: int = 100,
    ) -> list[InboxRecord]:
        """``inbox.search(status="failed", since=time.time() - 86400)``: stored notifies,
        newest first (by ``updated_at``), without their later deliveries.

        :param status: only this status.
        :param order_id: only this gateway order id.
        :param out_order_id: only shop order ids containing this text (ASCII letters in
            either case).
        :param since: only notifies first received at or after this time (epoch seconds).
        :param until: only notifies first received before this time.
        :param limit: at most this many.

        This default reads ``records`` and filters them; the backends ask their store.
        """
        wanted = SearchFilter.of(status, order_id, out_order_id, since, until)
        found = [
            record
            for record in self.records(wanted.status, limit=1_000_000)
            if wanted.matches(
                record.status, record.order_id, record.out_order_id, record.received_at
            )
        ]
        return found[:limit]

    def record_rejection(
        self,
        reason: str,
        *,
        field: str | None = None,
        remote_addr: str | None = None,
        order_id: str | None = None,
        out_order_id: str | None = None,
    ) -> None:
        """Count and keep a refused request (best effort: never raises)."""
        self._keep_rejection((time.time(), reason, field, remote_addr, order_id, out_order_id))

    @abstractmethod
    def _keep_rejection(self, row: tuple[Any, ...]) -> None:
        """Keep one ``Rejection``'s fields, in its order (best effort: never raises)."""

    @abstractmethod
    def rejections(self, limit: int = 100) -> list[Rejection]:
        """The newest refused requests."""

    @abstractmethod
    def stats(self) -> InboxStats:
        """Counts by status, stale claims, and refusals by reason."""

    @abstractmethod
    def update_sign_ins(self, keys: list[str], change: SignInChange, now: float) -> float:
        """``wait = inbox.update_sign_ins(["user:alice"], change, time.time())``: read the
        failed console sign-ins kept for ``keys``, write what ``change`` makes of them and
        return its answer, atomically across every process and host sharing this inbox
        (the console's throttle: a burst of guesses is counted one after another). Keys
        whose ``forget_at`` and ``blocked_until`` are both before ``now`` are dropped."""

    def close(self) -> None:  # noqa: B027  # optional for backends
        """Release connections held by this thread."""

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

    def holding(self, claim: Claim) -> AbstractContextManager[None]:
        """``with inbox.holding(claim): handler(n)``: keep the lease alive meanwhile."""
        return Holding(self, claim)

    def run_handler(
        self,
        claim: Claim,
        handler: Callable[[Notification], object],
        notification: Notification,
        context: str = "",
    ) -> tuple[bool, str | None]:
        """``ok, error = inbox.run_handler(claim, mark_paid, n)``: ``handlers.run_handler``
        with the claim held (its lease kept alive) meanwhile."""
        with self.holding(claim):
            return run_handler(handler, notification, context)

    def run_if_new(
        self,
        notification: Notification,
        handler: Callable[[Notification], object],
        remote_addr: str | None = None,
    ) -> tuple[bool, str | None] | None:
        """``inbox.run_if_new(n, mark_paid)``: a notify this inbox has never seen, claimed,
        handled and finished in one step: ``(ok, error)`` as ``run_handler`` gives it.

        ``None``, having done nothing, for any other notify (its order or its sign seen
        before) and in a backend without this shortcut: ``claim`` it the usual way.
        """
        return None

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
        handler: Callable[[Notification], object],
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
        handler: Callable[[Notification], object],
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

    def _replay_one(
        self, handler: Callable[[Notification], object], appkey: str, order_id: int
    ) -> ReplayResult:
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
        with self.holding(claim):
            try:
                notification = parse_notification(record.raw, appkey=appkey)
            except GatePayError as error:  # stored by an older, laxer version
                ok, error_text = False, f"stored fields no longer parse: {error}"
            else:
                ok, error_text = run_handler(handler, notification, " (replay)")
        written = self.record_outcome(claim, ok=ok, error=error_text)
        if written == PENDING:
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

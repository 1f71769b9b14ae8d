"""What every inbox does: ``claim`` a verified notify before its handler runs, ``finish`` it.

A notify's record moves ``received -> processing -> done | failed``, keyed by the
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
succeeded never runs again. Backends implement the primitives; replay, the lease keeper
and the waiting loop live here, once.
"""

from __future__ import annotations

import atexit
import json
import logging
import operator
import os
import threading
import time
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

from ..errors import GatePayError
from ..messages import Notification, parse_notification
from ..signing import NOTIFY_SIGNED_FIELDS

logger = logging.getLogger("gatepay_wsgi")

RECEIVED, PROCESSING, DONE, FAILED = "received", "processing", "done", "failed"
STATUSES = (RECEIVED, PROCESSING, DONE, FAILED)
RUN, ALREADY_DONE, BUSY, REUSED_SIGN = "run", "already_done", "busy", "reused_sign"
#: What ``Inbox.record_outcome`` did: written, lost (the claim was taken over meanwhile),
#: or pending (the inbox refused the write; retried in the background until it lands).
RECORDED, LOST, PENDING = "recorded", "lost", "pending"

#: Seconds a claim stays live; past it, a killed worker's claim is taken over.
DEFAULT_LEASE = 120.0
#: Seconds a delivery waits for another worker's outcome on the same order.
DEFAULT_BUSY_WAIT = 5.0
#: Refused requests kept (the newest); older ones are dropped, counts are kept.
DEFAULT_KEEP_REJECTIONS = 1000
#: Later deliveries kept per order when their signed fields differ (manual re-sends).
MAX_DELIVERIES = 20
_POLL = 0.02
_MAX_ERROR = 2000


class InboxUnavailable(Exception):
    """The inbox cannot be read or written: answer ``fail``, never ``success``."""


@dataclass(frozen=True)
class Claim:
    """The answer of ``Inbox.claim``: what this delivery should do."""

    outcome: str
    appkey: str
    order_id: int
    token: str | None = None
    took_over: bool = False  # a stale claim (killed worker) was taken over
    new_delivery: bool = False  # the signed fields differ from the stored ones
    #: ``REUSED_SIGN``, or ``BUSY`` because of it: (appkey, order_id, out_order_id) of the
    #: notify that holds this sign with other signed fields.
    other: tuple[str, int, str] | None = None


@dataclass(frozen=True)
class InboxRecord:
    """One stored notify, as ``inbox show`` prints it."""

    appkey: str
    order_id: int
    out_order_id: str
    status: str
    raw: Mapping[str, str]
    received_at: float
    remote_addr: str | None
    attempts: int
    last_error: str | None
    updated_at: float
    lease_until: float | None
    deliveries: int = 1  # every verified delivery whose fields differed counts once more
    other_deliveries: tuple[Mapping[str, Any], ...] = field(default=(), repr=False)
    #: What happened beyond the status, e.g. an outcome that was written late.
    note: str | None = None

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``--json``)."""
        data = asdict(self)
        data["raw"] = dict(self.raw)
        data["other_deliveries"] = [dict(d) for d in self.other_deliveries]
        return data


@dataclass(frozen=True)
class Rejection:
    """A refused request, kept in a bounded table."""

    at: float
    reason: str
    field: str | None
    remote_addr: str | None
    order_id: str | None
    out_order_id: str | None


@dataclass(frozen=True)
class InboxStats:
    """Counts for ``inbox stats``."""

    by_status: Mapping[str, int]
    stale: int
    rejections: Mapping[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "by_status": dict(self.by_status),
            "stale": self.stale,
            "rejections": dict(self.rejections),
        }


@dataclass(frozen=True)
class ReplayResult:
    """What ``Inbox.replay`` did with one order."""

    appkey: str
    order_id: int
    # done | failed | skipped (already done) | busy | missing | lost (claim taken over)
    # | unrecorded (the handler ran; its outcome is still being retried in the background)
    # | unavailable (the inbox could not be read; the handler did not run)
    # | reused_sign (its sign was handled with other signed fields: a forgery, not run)
    outcome: str
    error: str | None = None


#: The columns the SQL inboxes read a record from, in ``record_from_row``'s order.
RECORD_COLUMNS = (
    "appkey, order_id, out_order_id, status, raw, received_at, remote_addr, attempts, "
    "last_error, updated_at, lease_until, note"
)


def settle(status: str, lease_until: float | None, now: float) -> str | None:
    """What a stored notify means for a new claim: ``ALREADY_DONE``, ``BUSY``, or ``None``
    (free to take: new, failed, or a dead worker's claim whose lease ran out)."""
    if status == DONE:
        return ALREADY_DONE
    if status == PROCESSING and (lease_until or 0) > now:
        return BUSY
    return None


def sign_conflict(status: str, lease_until: float | None, now: float) -> str | None:
    """What another field set under the same sign means for a claim: ``REUSED_SIGN`` once
    it was handled, ``BUSY`` while it runs, ``None`` if it failed (or its worker died)."""
    if status == DONE:
        return REUSED_SIGN
    if status == PROCESSING and (lease_until or 0) > now:
        return BUSY
    return None


_SIGNED_VALUES = operator.itemgetter(*NOTIFY_SIGNED_FIELDS)


def signed_values(raw: Mapping[str, str]) -> tuple[str, ...]:
    """The signed fields' values in sign order: what one sign vouches for."""
    values: tuple[str, ...] = _SIGNED_VALUES(raw)  # in C: this runs on every claim
    return values


def dump_signed(raw: Mapping[str, str]) -> str:
    """``signed_values`` as the SQL inboxes store them (JSON: unambiguous, any text)."""
    return json.dumps(signed_values(raw), ensure_ascii=False)


def backfill_handled(done_rows: Iterable[Sequence[Any]]) -> list[tuple[str, str, str, int]]:
    """The schema 2 upgrade: ``(run_sign, run_fields, appkey, order_id)`` for records done
    before the inbox kept each claim's sign, taken as handled with their first field set.

    ``done_rows``: ``(appkey, order_id, raw)`` of the done records.
    """
    runs = []
    for appkey, order_id, text in done_rows:
        raw = json.loads(text)
        runs.append((raw["sign"], dump_signed(raw), appkey, order_id))
    return runs


def record_from_row(row: Sequence[Any], deliveries: Iterable[Sequence[Any]] = ()) -> InboxRecord:
    """An ``InboxRecord`` from a row of ``RECORD_COLUMNS`` and its later deliveries'
    ``(raw, received_at, remote_addr)`` rows."""
    appkey, order_id, out_order_id, status, raw, received_at, remote_addr = row[:7]
    attempts, last_error, updated_at, lease_until, note = row[7:]
    others = tuple(
        {"raw": json.loads(text), "received_at": at, "remote_addr": addr}
        for text, at, addr in deliveries
    )
    return InboxRecord(
        appkey=appkey,
        order_id=order_id,
        out_order_id=out_order_id,
        status=status,
        raw=json.loads(raw),
        received_at=received_at,
        remote_addr=remote_addr,
        attempts=attempts,
        last_error=last_error,
        updated_at=updated_at,
        lease_until=lease_until,
        deliveries=1 + len(others),
        other_deliveries=others,
        note=note,
    )


def stored_fields(raw: Mapping[str, str]) -> dict[str, str]:
    """What an inbox keeps of a delivery: the signed fields, the sign, an ``appkey`` field.

    Unsigned extras are left out, and the sign is lower-cased, so that nobody can make
    a genuine notify look new (and fill the disk) by adding junk or re-casing the sign.
    """
    kept = {name: raw[name] for name in NOTIFY_SIGNED_FIELDS if name in raw}
    kept["sign"] = raw.get("sign", "").lower()
    if "appkey" in raw:
        kept["appkey"] = raw["appkey"]
    return kept


def dump_fields(fields: Mapping[str, str]) -> str:
    """The stored form of a notify's fields: JSON with sorted keys, so equal means equal."""
    return json.dumps(stored_fields(fields), ensure_ascii=False, sort_keys=True)


def run_handler(
    handler: Callable[[Notification], object], notification: Notification, context: str = ""
) -> tuple[bool, str | None]:
    """Call a notify handler: ``(True, None)``, or ``(False, why)`` when it declined or raised.

    Returning ``False`` declines; raising is logged with its traceback.
    """
    ids = f"order_id={notification.order_id} out_order_id={notification.out_order_id[:40]!r}"
    try:
        answer = handler(notification)
    except Exception as error:
        logger.exception("notify failed reason=handler_error %s%s", ids, context)
        return False, f"{type(error).__name__}: {error}"[:_MAX_ERROR]
    if answer is False:
        logger.warning("notify failed reason=handler_declined %s%s", ids, context)
        return False, "handler returned False"
    return True, None


class RefusalBuffer:
    """Refused requests held in memory and written in batches: ``buffer.add(row)``.

    A probe must neither fill the disk, nor fail a request, nor take a durable inbox's
    write lock once per forgery (payments need it). ``write(batch)`` runs once ``size``
    rows wait or ``seconds`` after the last write (so the first refusal is written at
    once); a failed write is dropped quietly, the endpoint having logged each refusal.
    What waits is written when the process exits, too (a worker stopped by its server).
    """

    _live: ClassVar[weakref.WeakSet[RefusalBuffer]] = weakref.WeakSet()

    @classmethod
    def flush_all(cls) -> None:
        """At exit: write what every buffer of this process still holds."""
        for buffer in list(cls._live):
            buffer._flush_quietly()

    def __init__(
        self,
        write: Callable[[list[tuple[Any, ...]]], None],
        size: int = 100,
        seconds: float = 1.0,
    ) -> None:
        self._write, self._size, self._seconds = write, size, seconds
        self._rows: list[tuple[Any, ...]] = []
        self._written = float("-inf")
        self._lock = threading.Lock()
        RefusalBuffer._live.add(self)

    def add(self, row: tuple[Any, ...]) -> None:
        with self._lock:
            self._rows.append(row)
            due = len(self._rows) >= self._size or self._stale()
        if due:
            self._flush_quietly()

    def flush_stale(self) -> None:
        """Write the tail of a burst, if it has waited long enough (cheap otherwise)."""
        if self._rows and self._stale():
            self._flush_quietly()

    def flush(self) -> None:
        """Write what waits; ``InboxUnavailable`` if the inbox cannot take it."""
        with self._lock:
            batch, self._rows = self._rows, []
            self._written = time.monotonic()
        if batch:
            self._write(batch)

    def _stale(self) -> bool:
        return time.monotonic() - self._written >= self._seconds

    def _flush_quietly(self) -> None:
        with suppress(InboxUnavailable):
            self.flush()


atexit.register(RefusalBuffer.flush_all)


class LeaseKeeper:
    """One daemon thread per process that renews the claims of running handlers.

    A slow handler keeps its claim; only a worker that died stops renewing, so only its
    claims expire and get taken over. One thread serves every inbox of the process (a
    thread per inbox would leak with every inbox an app or a test builds), and holds an
    inbox only while one of its claims is held.
    """

    _process: LeaseKeeper | None = None
    _process_lock = threading.Lock()

    @classmethod
    def for_this_process(cls) -> LeaseKeeper:
        with cls._process_lock:
            keeper = cls._process
            if keeper is None or keeper.pid != os.getpid() or not keeper.thread.is_alive():
                cls._process = keeper = cls()  # none yet, forked, or died: a new one
            return keeper

    def __init__(self) -> None:
        # (inbox id, token) -> [inbox, claim, when its lease is next renewed]
        self.held: dict[tuple[int, str], list[Any]] = {}
        self.changed = threading.Condition()
        self.pid = os.getpid()
        self.thread = threading.Thread(target=self._run, name="gatepay-lease", daemon=True)
        self.thread.start()

    def hold(self, inbox: Inbox, claim: Claim) -> None:
        due = time.monotonic() + inbox.lease / 3
        with self.changed:
            soonest = min((entry[2] for entry in self.held.values()), default=None)
            self.held[(id(inbox), claim.token or "")] = [inbox, claim, due]
            if soonest is None or due < soonest:
                self.changed.notify()  # the thread sleeps until the soonest renewal

    def release(self, inbox: Inbox, claim: Claim) -> None:
        with self.changed:
            self.held.pop((id(inbox), claim.token or ""), None)

    def _due(self) -> dict[int, tuple[Inbox, list[Claim]]]:
        """Wait for the soonest renewal; the claims due by then, by inbox."""
        with self.changed:
            while True:
                now = time.monotonic()
                soonest = min((entry[2] for entry in self.held.values()), default=None)
                if soonest is not None and soonest <= now:
                    break
                self.changed.wait(None if soonest is None else soonest - now)
            due: dict[int, tuple[Inbox, list[Claim]]] = {}
            for entry in self.held.values():
                inbox, claim, when = entry
                if when <= now:
                    due.setdefault(id(inbox), (inbox, []))[1].append(claim)
                    entry[2] = now + inbox.lease / 3
            return due

    def _run(self) -> None:
        while True:
            for inbox, claims in self._due().values():
                try:
                    inbox.renew(claims)
                except Exception as error:  # this thread must outlive any error
                    logger.error("could not renew %d claim(s): %s", len(claims), error)
                    self._retry_soon(inbox, claims)

    def _retry_soon(self, inbox: Inbox, claims: list[Claim]) -> None:
        """A failed renewal is tried again within a tenth of the lease, not a third."""
        retry = time.monotonic() + inbox.lease / 10
        with self.changed:
            for claim in claims:
                entry = self.held.get((id(inbox), claim.token or ""))
                if entry is not None:
                    entry[2] = min(entry[2], retry)


class Holding:
    """The context of ``Inbox.holding``: the claim is renewed from enter to exit."""

    __slots__ = ("claim", "inbox", "keeper")

    def __init__(self, inbox: Inbox, claim: Claim) -> None:
        self.inbox, self.claim = inbox, claim
        self.keeper = LeaseKeeper.for_this_process()

    def __enter__(self) -> None:
        self.keeper.hold(self.inbox, self.claim)

    def __exit__(self, *exc: object) -> None:
        self.keeper.release(self.inbox, self.claim)


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
    def status(self, appkey: str, order_id: int) -> str | None:
        """The current status of one notify, or ``None``."""

    @abstractmethod
    def get(self, order_id: int, appkey: str | None = None) -> list[InboxRecord]:
        """The stored notifies for one gateway order id (one per appkey)."""

    @abstractmethod
    def records(self, status: str | None = None, limit: int = 100) -> list[InboxRecord]:
        """The newest stored notifies, optionally of one status."""

    @abstractmethod
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

    @abstractmethod
    def rejections(self, limit: int = 100) -> list[Rejection]:
        """The newest refused requests."""

    @abstractmethod
    def stats(self) -> InboxStats:
        """Counts by status, stale claims, and refusals by reason."""

    def close(self) -> None:  # noqa: B027  # optional for backends
        """Release connections held by this thread."""

    def record_outcome(self, claim: Claim, *, ok: bool, error: str | None = None) -> str:
        """``finish`` the claim: ``RECORDED``, ``LOST``, or ``PENDING`` when the inbox refused
        the write (it is then retried in the background, the claim held, until it lands: an
        outcome not written would leave the notify looking unfinished, to be run again)."""
        try:
            return RECORDED if self.finish(claim, ok=ok, error=error) else LOST
        except InboxUnavailable as failure:
            from .outcomes import OutcomeWriter  # it builds on this module

            OutcomeWriter.for_this_process().defer(self, claim, ok=ok, error=error, failure=failure)
            return PENDING

    def holding(self, claim: Claim) -> Holding:
        """``with inbox.holding(claim): handler(n)``: keep the lease alive meanwhile."""
        return Holding(self, claim)

    def wait(self, appkey: str, order_id: int, timeout: float | None = None) -> str | None:
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
    ) -> list[ReplayResult]:
        """``inbox.replay(mark_paid)``: run the handler again for failed notifies.

        With ``order_ids``, replay those orders (skipping ones already done); without,
        every failed, unclaimed or stale one. Each runs at most once at a time, across
        processes, exactly as a live delivery would.
        """
        if order_ids is None:
            targets = [(r.appkey, r.order_id) for r in self.replayable(appkey)]
            return [self._replay_one(handler, key, order_id) for key, order_id in targets]
        results: list[ReplayResult] = []
        for order_id in order_ids:
            stored = self.get(order_id, appkey)
            if not stored:
                results.append(ReplayResult(appkey or "-", order_id, "missing"))
            for record in stored:
                results.append(self._replay_one(handler, record.appkey, order_id))
        return results

    def _replay_one(
        self, handler: Callable[[Notification], object], appkey: str, order_id: int
    ) -> ReplayResult:
        try:
            claimed = self.reclaim(appkey, order_id)
        except InboxUnavailable as error:  # nothing ran; say so and go on with the rest
            return ReplayResult(appkey, order_id, "unavailable", str(error))
        if claimed is None:
            return ReplayResult(appkey, order_id, "missing")
        claim, record = claimed
        if claim.outcome == ALREADY_DONE:
            return ReplayResult(appkey, order_id, "skipped")
        if claim.outcome == BUSY:
            return ReplayResult(appkey, order_id, "busy")
        if claim.outcome == REUSED_SIGN:
            other = claim.other or ("-", 0, "-")
            why = f"its sign was handled for order_id={other[1]} out_order_id={other[2]!r}"
            return ReplayResult(appkey, order_id, REUSED_SIGN, why)
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
            from .outcomes import OutcomeWriter

            if not OutcomeWriter.for_this_process().wait(self, appkey, order_id, self.busy_wait):
                why = f"handler ok={ok}; the outcome is retried in the background"
                return ReplayResult(appkey, order_id, "unrecorded", why)
            written = RECORDED if self.status(appkey, order_id) in (DONE, FAILED) else LOST
        if written == LOST:
            return ReplayResult(appkey, order_id, "lost", "another worker took the claim over")
        return ReplayResult(appkey, order_id, DONE if ok else FAILED, error_text)

"""Outcomes the inbox refused to write: ``OutcomeWriter.for_this_process().defer(...)``.

A handler that succeeded must never run again, so its outcome must land. When the inbox
is locked, full or restarting at the moment a handler returns, the outcome is kept here
and written again in the background, with backoff, until it lands or the process ends.
Meanwhile the claim stays held (the lease keeper goes on renewing it, so no other worker
takes it over), a delivery of the same order in this process is answered from the
outcome kept here, and one in another process waits (``busy_wait``) for it like for any
running handler. The failed write is logged once, its landing once, and the record's
note says what happened. A process that ends first logs what it could not write: that
record stays ``processing`` and is taken over after its lease (README, "the one case").
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Protocol

from ..errors import InboxUnavailable
from .leases import LeaseKeeper, Leasing
from .records import Claim

logger = logging.getLogger("gatepay_wsgi")

#: Seconds before the first retry; it doubles up to ``MAX_BACKOFF``. Short, because once
#: the inbox is back the outcome must land before another delivery could find the lease
#: run out (an outage longer than the lease) and take the claim over.
FIRST_BACKOFF, MAX_BACKOFF = 0.05, 2.0
#: Seconds a process that is ending, or an inbox being closed, still tries to write
#: what it holds.
AT_EXIT = 5.0

Key = tuple[int, str, int]  # (id of the inbox, appkey, order_id)


class Finishing(Leasing, Protocol):
    """What the writer needs of an inbox (every ``Inbox`` is one): a lease it can hold,
    and the write of an outcome. Named here rather than imported: ``step.py``, where
    ``Inbox`` is, imports this module."""

    def finish(
        self, claim: Claim, *, ok: bool, error: str | None = None, note: str | None = None
    ) -> bool: ...


@dataclass
class Pending:
    """One outcome waiting to be written."""

    inbox: Finishing
    claim: Claim
    ok: bool
    error: str | None
    handled_at: float  # when the handler returned (wall clock, for the note)
    first_failure: str
    tries: int = 1
    due: float = 0.0  # monotonic time of the next try

    def note(self) -> str:
        """What the record's note says, made as a try begins (it is written by that try):
        counted from the handler's return to then. The try itself may still wait for a
        lock, up to ``busy_timeout``: the log line of its landing says when it landed."""
        began = time.time() - self.handled_at
        at = datetime.fromtimestamp(self.handled_at, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        return (
            f"outcome written late, by try {self.tries}, begun {began:.1f} s after the "
            f"handler returned at {at} UTC ({'succeeded' if self.ok else 'failed'}): the "
            f"inbox had refused the write ({self.first_failure[:300]})"
        )


class OutcomeWriter:
    """One daemon thread per process that writes the outcomes the inbox refused."""

    _process: OutcomeWriter | None = None
    _process_lock = threading.Lock()

    @classmethod
    def for_this_process(cls) -> OutcomeWriter:
        with cls._process_lock:
            writer = cls._process
            if writer is None or writer.pid != os.getpid() or not writer.thread.is_alive():
                # none yet, forked (the parent's outcomes are the parent's to write), or dead
                kept = writer.pending if writer is not None and writer.pid == os.getpid() else {}
                cls._process = writer = cls(kept)
            return writer

    @classmethod
    def outcome(cls, inbox: Finishing, appkey: str, order_id: int) -> bool | None:
        """The handler's result for an order whose outcome waits here, else ``None``."""
        writer = cls._process
        if writer is None or not writer.pending or writer.pid != os.getpid():
            return None
        entry = writer.pending.get((id(inbox), appkey, order_id))
        return None if entry is None else entry.ok

    def __init__(self, pending: dict[Key, Pending] | None = None) -> None:
        self.pending: dict[Key, Pending] = pending or {}
        self.changed = threading.Condition()
        self.writing = threading.Lock()  # one try at a time (the thread, or the exit hook)
        self.pid = os.getpid()
        self.thread = threading.Thread(target=self._run, name="gatepay-outcomes", daemon=True)
        self.thread.start()
        atexit.register(self.at_exit)

    def defer(
        self,
        inbox: Finishing,
        claim: Claim,
        *,
        ok: bool,
        error: str | None,
        failure: Exception,
        handled_at: float | None = None,
    ) -> None:
        """Keep an outcome that could not be written, hold its claim, write it later.

        ``handled_at``: when the handler returned (``time.time()``; default now). The
        failed write may have waited for a lock since, as long as ``busy_timeout``.
        """
        LeaseKeeper.for_this_process().hold(inbox, claim)
        returned = time.time() if handled_at is None else handled_at
        entry = Pending(inbox, claim, ok, error, returned, str(failure))
        entry.due = time.monotonic() + FIRST_BACKOFF
        logger.error(
            "notify outcome could not be recorded (handler %s) order_id=%s: %s; the claim is "
            "kept and the write retried in the background until it lands",
            "succeeded" if ok else "failed",
            claim.order_id,
            failure,
        )
        with self.changed:
            self.pending[(id(inbox), claim.appkey, claim.order_id)] = entry
            self.changed.notify_all()

    def wait(self, inbox: Finishing, appkey: str, order_id: int, timeout: float) -> bool:
        """Wait up to ``timeout`` seconds for an outcome to land; whether it did."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while (id(inbox), appkey, order_id) in self.pending:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.changed.wait(remaining)
        return True

    def _due(self) -> list[Pending]:
        with self.changed:
            while True:
                now = time.monotonic()
                soonest = min((entry.due for entry in self.pending.values()), default=None)
                if soonest is not None and soonest <= now:
                    return [entry for entry in self.pending.values() if entry.due <= now]
                self.changed.wait(None if soonest is None else soonest - now)

    def _run(self) -> None:
        while True:
            for entry in self._due():
                self._try(entry)

    def _try(self, entry: Pending) -> bool:
        """One more try at writing ``entry``; whether it is settled (written or lost)."""
        with self.writing:
            key = (id(entry.inbox), entry.claim.appkey, entry.claim.order_id)
            if self.pending.get(key) is not entry:
                return True  # settled by the other caller meanwhile
            return self._write(entry, key)

    def _write(self, entry: Pending, key: Key) -> bool:
        entry.tries += 1
        note = entry.note()
        try:
            kept = entry.inbox.finish(entry.claim, ok=entry.ok, error=entry.error, note=note)
        except Exception as error:  # InboxUnavailable, or anything: this thread must live on
            if not isinstance(error, InboxUnavailable):
                logger.error("writing a kept notify outcome raised: %r", error)
            backoff = min(MAX_BACKOFF, FIRST_BACKOFF * 2 ** (entry.tries - 1))
            entry.due = time.monotonic() + backoff
            logger.debug(
                "outcome of order_id=%s still not recorded: %s", entry.claim.order_id, error
            )
            return False
        if kept:
            logger.warning(
                "notify outcome recorded late order_id=%s, %.1f s after the handler returned: %s",
                entry.claim.order_id,
                time.time() - entry.handled_at,
                note,
            )
        else:
            logger.error(
                "notify outcome of order_id=%s could not be recorded: its claim was taken over "
                "while the inbox was unavailable (handler %s): check the order",
                entry.claim.order_id,
                "succeeded" if entry.ok else "failed",
            )
        LeaseKeeper.for_this_process().release(entry.inbox, entry.claim)
        with self.changed:
            self.pending.pop(key, None)
            self.changed.notify_all()
        return True

    @classmethod
    def settle(cls, inbox: Finishing) -> None:
        """``inbox.close()``: write what this process keeps for ``inbox`` at once, trying
        for up to ``AT_EXIT`` seconds, then say what is left and forget it; nothing of
        the process touches that inbox afterwards."""
        writer = cls._process
        if writer is not None and writer.pid == os.getpid():
            writer._settle(lambda entry: entry.inbox is inbox, "the inbox was closed")

    def at_exit(self) -> None:
        """At interpreter exit: a last few seconds of tries, then say what is left."""
        if self.pid == os.getpid():
            self._settle(lambda entry: True, "the process ended")

    def _settle(self, chosen: Callable[[Pending], bool], why: str) -> None:
        def left() -> list[Pending]:
            with self.changed:
                return [entry for entry in self.pending.values() if chosen(entry)]

        deadline = time.monotonic() + AT_EXIT
        while left() and time.monotonic() < deadline:
            for entry in left():
                if not self._try(entry):
                    time.sleep(max(0.0, min(entry.due - time.monotonic(), 0.5)))
        for entry in left():
            logger.error(
                "notify outcome NEVER recorded order_id=%s (handler %s): %s with the inbox "
                "unavailable; the record stays processing and its lease will run out: check "
                "the order before it is handled again",
                entry.claim.order_id,
                "succeeded" if entry.ok else "failed",
                why,
            )
            self._forget(entry)

    def _forget(self, entry: Pending) -> None:
        with self.writing:  # not while the thread is trying it
            LeaseKeeper.forget(entry.inbox, entry.claim)
            with self.changed:
                key = (id(entry.inbox), entry.claim.appkey, entry.claim.order_id)
                if self.pending.get(key) is entry:
                    del self.pending[key]
                self.changed.notify_all()

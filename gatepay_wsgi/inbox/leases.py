"""Claims kept alive while their handlers run: ``with inbox.holding(claim): handler(n)``."""

from __future__ import annotations

import logging
import os
import threading
import time
from typing import Any, Protocol

from .records import Claim

logger = logging.getLogger("gatepay_wsgi")


class Leasing(Protocol):
    """What the keeper needs of an inbox (every ``Inbox`` is one): how long a lease lasts,
    and a way to extend one. Named here rather than imported: ``step.py``, where ``Inbox``
    is, imports this module."""

    lease: float

    def renew(self, claims: list[Claim]) -> None: ...


class LeaseKeeper:
    """One daemon thread per process that renews the claims of running handlers.

    A slow handler keeps its claim; only a worker that died stops renewing, so only its
    claims expire and get taken over. One thread serves every inbox of the process (a
    thread per inbox would leak with every inbox an app or a test builds), and holds an
    inbox only while one of its claims is held. The schedule is decided by
    ``renew_due(now)``, one pass at a given time, which the thread calls when the
    soonest renewal is due (and tests call with a clock of their own).
    """

    _process: LeaseKeeper | None = None
    _process_lock = threading.Lock()

    @classmethod
    def for_this_process(cls) -> LeaseKeeper:
        keeper = cls._process  # once per claim: the common case takes no lock
        if keeper is not None and keeper.pid == os.getpid() and keeper.thread.is_alive():
            return keeper
        with cls._process_lock:
            keeper = cls._process
            if keeper is None or keeper.pid != os.getpid() or not keeper.thread.is_alive():
                cls._process = keeper = cls()  # none yet, forked, or died: a new one
                keeper.thread.start()
            return keeper

    @classmethod
    def forget(cls, inbox: Leasing, claim: Claim | None = None) -> None:
        """``inbox.close()``: renew none of that inbox's claims (or only ``claim``) any
        more, and wait for a renewal of them already under way. Starts no thread:
        ``close()`` may run from ``__del__`` as the interpreter ends, where starting one
        hangs."""
        keeper = cls._process
        if keeper is not None and keeper.pid == os.getpid():
            keeper.drop(inbox, claim)

    def __init__(self) -> None:
        # (inbox id, token) -> [inbox, claim, when its lease is next renewed]
        self.held: dict[tuple[int, str], list[Any]] = {}
        self.changed = threading.Condition()
        self.renewing = threading.Lock()  # held by a pass while it renews
        self.pid = os.getpid()
        self.thread = threading.Thread(target=self._run, name="gatepay-lease", daemon=True)

    def hold(self, inbox: Leasing, claim: Claim, now: float | None = None) -> None:
        due = (time.monotonic() if now is None else now) + inbox.lease / 3
        with self.changed:
            soonest = self.soonest()
            self.held[(id(inbox), claim.token or "")] = [inbox, claim, due]
            if soonest is None or due < soonest:
                self.changed.notify()  # the thread sleeps until the soonest renewal

    def release(self, inbox: Leasing, claim: Claim) -> None:
        with self.changed:
            self.held.pop((id(inbox), claim.token or ""), None)

    def drop(self, inbox: Leasing, claim: Claim | None = None) -> None:
        """``release`` every claim of ``inbox`` (or only ``claim``), and wait (up to 30 s)
        for a pass that is renewing now: once this returns, none of them is written."""
        with self.changed:
            for key in [key for key in self.held if key[0] == id(inbox)]:
                if claim is None or key[1] == (claim.token or ""):
                    del self.held[key]
        if threading.current_thread() is not self.thread and self.renewing.acquire(timeout=30):
            self.renewing.release()

    def soonest(self) -> float | None:
        """When the next renewal is due (monotonic seconds), or ``None``."""
        return min((entry[2] for entry in self.held.values()), default=None)

    def renew_due(self, now: float) -> None:
        """One pass: renew the claims due by ``now``, by inbox; a failed renewal is tried
        again within a tenth of the lease, not a third."""
        with self.renewing:
            with self.changed:
                due: dict[int, tuple[Leasing, list[Claim]]] = {}
                for entry in self.held.values():
                    inbox, claim, when = entry
                    if when <= now:
                        due.setdefault(id(inbox), (inbox, []))[1].append(claim)
                        entry[2] = now + inbox.lease / 3
            for inbox, claims in due.values():
                try:
                    inbox.renew(claims)
                except Exception as error:  # the thread must outlive any error
                    logger.error("could not renew %d claim(s): %s", len(claims), error)
                    self._retry_soon(inbox, claims, now + inbox.lease / 10)

    def _run(self) -> None:
        while True:
            with self.changed:
                while True:
                    soonest, now = self.soonest(), time.monotonic()
                    if soonest is not None and soonest <= now:
                        break
                    self.changed.wait(None if soonest is None else soonest - now)
            self.renew_due(now)

    def _retry_soon(self, inbox: Leasing, claims: list[Claim], when: float) -> None:
        with self.changed:
            for claim in claims:
                entry = self.held.get((id(inbox), claim.token or ""))
                if entry is not None:
                    entry[2] = min(entry[2], when)


class Holding:
    """The context of ``Inbox.holding``: the claim is renewed from enter to exit."""

    __slots__ = ("claim", "inbox", "keeper")

    def __init__(self, inbox: Leasing, claim: Claim) -> None:
        self.inbox, self.claim = inbox, claim
        self.keeper = LeaseKeeper.for_this_process()

    def __enter__(self) -> None:
        self.keeper.hold(self.inbox, self.claim)

    def __exit__(self, *exc: object) -> None:
        self.keeper.release(self.inbox, self.claim)

"""What a backend keeps: ``InboxStore``, whose reads and writes each backend makes atomic.

A notify's record moves ``received -> processing -> done | failed`` (``states.py``), keyed
by the gateway's ``order_id`` per appkey. ``claim`` commits the record (raw fields, time,
remote address) and answers what to do:

- ``RUN``: this worker holds the claim (a lease); run the handler, then ``finish``.
- ``ALREADY_DONE``: handled before; answer ``success`` without running anything.
- ``BUSY``: another worker holds a live claim; wait for its outcome.
- ``REUSED_SIGN``: this sign was already handled with other signed fields: someone slid
  characters across a field boundary of a genuine notify (the sign input has no
  separators); refuse. While no field set under a sign has succeeded, another may still
  run (a forged copy that arrives first must never lock the genuine notify out), one at
  a time: a claim under a sign that another field set holds is ``BUSY`` until it ends.

The step every delivery takes over these primitives (claim, run the handler holding the
claim, finish, replay) is ``step.py``'s ``Inbox``, written once for every backend.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from typing import Any

from ..callbacks import Notification
from .records import Claim, InboxRecord, InboxStats, Rejection, SignInChange
from .search import SearchFilter
from .states import (
    DEFAULT_BUSY_WAIT,
    DEFAULT_LEASE,
    Status,
)


class InboxStore(ABC):
    """What every backend keeps and how: atomic reads and writes (the module docstring)."""

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

        Checked once here (``SearchFilter``); each backend's ``_search`` asks its store.
        """
        return self._search(SearchFilter.of(status, order_id, out_order_id, since, until), limit)

    def _search(self, wanted: SearchFilter, limit: int) -> list[InboxRecord]:
        """``search``'s answer; this default reads ``records`` and filters them."""
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

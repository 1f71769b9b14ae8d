"""``inbox="memory://"``: one process, nothing survives a restart (tests, development).

Duplicates are still handled once and concurrent deliveries still wait for each other,
but only within this process: use the SQLite inbox for several workers. The oldest
finished records are forgotten past ``max_records``, so a long-running process does
not grow without bound.
"""

from __future__ import annotations

import itertools
import logging
import math
import threading
import time
from collections import Counter, deque
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any

from ..callbacks import Notification
from .decide import SignHolder, Stored, record_decision, sign_decision
from .handlers import run_handler
from .memory_entries import HeldWhileRunning, MemoryEntry
from .records import (
    Claim,
    InboxRecord,
    InboxStats,
    Rejection,
    SignInChange,
    SignInFailures,
    signed_values,
    stored_fields,
)
from .search import SearchFilter
from .states import (
    DEFAULT_BUSY_WAIT,
    DEFAULT_KEEP_REJECTIONS,
    DEFAULT_LEASE,
    DONE,
    FAILED,
    MAX_DELIVERIES,
    PROCESSING,
    RUN,
    Status,
)
from .step import Inbox

Key = tuple[str, int]
logger = logging.getLogger("gatepay_wsgi")
#: Console sign-in keys (user names, addresses) kept at most.
_MAX_SIGN_IN_KEYS = 10_000


class MemoryInbox(Inbox):
    """``MemoryInbox()``: an in-process inbox with the same states as the durable ones."""

    durable = False

    def __init__(
        self,
        *,
        lease: float = DEFAULT_LEASE,
        busy_wait: float = DEFAULT_BUSY_WAIT,
        keep_rejections: int = DEFAULT_KEEP_REJECTIONS,
        max_records: int = 10_000,
    ) -> None:
        self.lease = lease
        self.busy_wait = busy_wait
        self.max_records = max_records
        # appkey -> order_id -> record: no key tuple kept per record.
        self._orders: dict[str, dict[int, MemoryEntry]] = {}
        self._size = 0
        # sign -> the record that claimed it last. Older claimers under a sign have all
        # failed (a claim under a sign that another holds or handled waits or is refused).
        self._runs: dict[str, MemoryEntry] = {}
        self._tokens = itertools.count(1)
        # Claims whose handlers run now (``holding``): never stale, whatever their lease.
        # A memory inbox dies with its process, so no lease needs renewing to say "alive".
        self._held: set[str] = set()
        # Done records in the order they were done: the oldest are forgotten first, O(1).
        self._done: deque[MemoryEntry] = deque()
        # One lock for every change (taken in C: `with` on a Condition runs Python code),
        # and a condition over it for the few deliveries that wait for another's outcome.
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._waiting = 0
        self._rejections: deque[Rejection] = deque(maxlen=keep_rejections)
        self._rejection_counts: Counter[str] = Counter()
        self._sign_ins: dict[str, SignInFailures] = {}  # the oldest changed first

    def _take(self, entry: MemoryEntry, now: float, sign: str, raw: dict[str, str]) -> Claim:
        took_over = entry.status == PROCESSING
        if entry.run_sign is not None and self._runs.get(entry.run_sign) is entry:
            del self._runs[entry.run_sign]
        entry.run_sign, entry.run_raw = sign, raw
        self._runs[sign] = entry
        entry.token = str(next(self._tokens))
        entry.status, entry.attempts = PROCESSING, entry.attempts + 1
        entry.lease_until, entry.updated_at = now + self.lease, now
        return Claim.run(entry.appkey, entry.order_id, entry.token, took_over)

    def _lease(self, entry: MemoryEntry) -> float | None:
        """The entry's lease as claims see it: endless while its handler runs here."""
        return math.inf if entry.token in self._held else entry.lease_until

    def _decide(self, entry: MemoryEntry, now: float, sign: str, raw: dict[str, str]) -> Claim:
        """``decide.record_decision`` over the entry; its claim taken when it says run."""
        decision = record_decision(Stored(entry.status, self._lease(entry)), now)
        if decision.outcome is RUN:
            return self._take(entry, now, sign, raw)
        return Claim(decision.outcome, entry.appkey, entry.order_id)

    def _sign_held(self, sign: str, raw: dict[str, str], key: Key, now: float) -> Claim | None:
        """``decide.sign_decision`` over the field set that claimed this sign last."""
        owner = self._runs.get(sign)
        if owner is None or owner.run_sign != sign or owner.run_raw is None:
            return None
        same = owner.run_raw is raw or signed_values(owner.run_raw) == signed_values(raw)
        other = (owner.appkey, owner.order_id, owner.out_order_id)
        holder = SignHolder(other, owner.status, self._lease(owner), same)
        decision = sign_decision((holder,), now)
        return None if decision is None else Claim(decision.outcome, *key, other=decision.other)

    def _forget_oldest(self) -> None:
        """Forget the record done first, one for each new record past ``max_records``.

        One at a time, not in batches: the memory freed is what the next record takes, so
        the allocator keeps its arenas. Forgetting a thousand at once emptied whole arenas,
        handed back to the system and mapped again within the next thousand notifies
        (page faults, and in a threaded server a TLB flush on every core it runs on).
        """
        if self._done:
            entry = self._done.popleft()
            del self._orders[entry.appkey][entry.order_id]
            if entry.run_sign is not None and self._runs.get(entry.run_sign) is entry:
                del self._runs[entry.run_sign]
            self._size -= 1

    def _add(
        self, notification: Notification, raw: dict[str, str], now: float, remote_addr: str | None
    ) -> MemoryEntry:
        """Keep a notify never seen before, claimed (under the lock)."""
        if self._size >= self.max_records:
            self._forget_oldest()
        orders = self._orders.get(notification.appkey)
        if orders is None:
            orders = self._orders[notification.appkey] = {}
        token, sign = str(next(self._tokens)), raw["sign"]
        # By position: keywords to a slots dataclass cost twice as much (a notify's hot path).
        entry = orders[notification.order_id] = MemoryEntry(
            notification.appkey,
            notification.order_id,
            notification.out_order_id,
            raw,
            now,  # received_at
            remote_addr,
            PROCESSING,  # claimed as it is made (what _take does to one kept before)
            1,  # attempts
            None,  # last_error
            now,  # updated_at
            now + self.lease,  # lease_until
            token,
            None,  # other_deliveries
            None,  # note
            sign,  # run_sign
            raw,  # run_raw
        )
        entry.secret_index = notification.secret_index  # the appsecret that verified it
        self._runs[sign] = entry
        self._size += 1
        return entry

    def _finished(self, entry: MemoryEntry, ok: bool, error: str | None, note: str | None) -> None:
        """Write a claimed record's outcome (under the lock)."""
        entry.token, entry.lease_until = None, None
        entry.status, entry.last_error = (DONE if ok else FAILED), error
        if ok:
            self._done.append(entry)
        entry.note = note or entry.note
        entry.updated_at = time.time()
        if self._waiting:
            self._changed.notify_all()

    def _record(self, entry: MemoryEntry) -> InboxRecord:
        """The entry as a record. A claim whose handler runs here shows a live lease, as a
        renewed one does in a durable inbox (here none needs renewing): never stale."""
        held = entry.token is not None and entry.token in self._held
        return entry.record(time.time() + self.lease if held else entry.lease_until)

    def _entry(self, appkey: str, order_id: int) -> MemoryEntry | None:
        orders = self._orders.get(appkey)
        return None if orders is None else orders.get(order_id)

    def _all(self) -> list[MemoryEntry]:
        return [entry for orders in self._orders.values() for entry in orders.values()]

    def holding(self, claim: Claim) -> AbstractContextManager[None]:
        """``with inbox.holding(claim): handler(n)``: the claim stays live meanwhile."""
        return HeldWhileRunning(self._held, claim.token or "")

    def run_handler(
        self,
        claim: Claim,
        handler: Callable[[Notification], object],
        notification: Notification,
        log_suffix: str = "",
    ) -> tuple[bool, str | None]:
        # ``holding`` written out: the notify's hot path, three calls fewer per notify.
        token = claim.token or ""
        self._held.add(token)
        try:
            return run_handler(handler, notification, log_suffix)
        finally:
            self._held.discard(token)

    def claim(self, notification: Notification, *, remote_addr: str | None = None) -> Claim:
        appkey, order_id = notification.appkey, notification.order_id
        raw = stored_fields(notification.raw)
        now = time.time()
        sign = raw["sign"]
        with self._lock:
            if sign in self._runs:  # another claim under this sign (rare): no call otherwise
                held = self._sign_held(sign, raw, (appkey, order_id), now)
                if held is not None:
                    return held
            entry = self._entry(appkey, order_id)
            if entry is None:
                entry = self._add(notification, raw, now, remote_addr)
                return Claim.run(appkey, order_id, entry.token or "")
            entry.received += 1
            new_delivery = entry.raw != raw
            if new_delivery:
                kept = entry.other_deliveries
                if kept is None:
                    kept = entry.other_deliveries = []
                if len(kept) < MAX_DELIVERIES and all(d["raw"] != raw for d in kept):
                    kept.append({"raw": raw, "received_at": now, "remote_addr": remote_addr})
            claim = self._decide(entry, now, sign, raw)
            if claim.outcome is RUN:  # the appsecret that verified the delivery it runs for
                entry.secret_index = notification.secret_index
            return replace(claim, new_delivery=new_delivery)

    def reclaim(self, appkey: str, order_id: int) -> tuple[Claim, InboxRecord] | None:
        with self._lock:
            entry = self._entry(appkey, order_id)
            if entry is None:
                return None
            record, now = self._record(entry), time.time()
            sign, raw = entry.raw["sign"], entry.raw
            held = (
                None
                if entry.status == DONE
                else self._sign_held(sign, raw, (appkey, order_id), now)
            )
            return held or self._decide(entry, now, sign, raw), record

    def renew(self, claims: list[Claim]) -> None:
        until = time.time() + self.lease
        with self._lock:
            for claim in claims:
                entry = self._entry(claim.appkey, claim.order_id)
                if entry is not None and entry.token == claim.token:
                    entry.lease_until = until

    def finish(
        self, claim: Claim, *, ok: bool, error: str | None = None, note: str | None = None
    ) -> bool:
        with self._lock:
            entry = self._entry(claim.appkey, claim.order_id)
            if entry is None or claim.token is None or entry.token != claim.token:
                return False
            self._finished(entry, ok, error, note)
            return True

    def status(self, appkey: str, order_id: int) -> Status | None:
        entry = self._entry(appkey, order_id)
        return None if entry is None else entry.status

    def wait(self, appkey: str, order_id: int, timeout: float | None = None) -> Status | None:
        deadline = time.monotonic() + (self.busy_wait if timeout is None else timeout)
        with self._lock:
            while (status := self.status(appkey, order_id)) == PROCESSING:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._waiting += 1  # under the lock: finish() notifies only when needed
                try:
                    self._changed.wait(remaining)
                finally:
                    self._waiting -= 1
            return status

    def get(self, order_id: int, appkey: str | None = None) -> list[InboxRecord]:
        with self._lock:
            return [
                self._record(orders[order_id])
                for key, orders in self._orders.items()
                if order_id in orders and appkey in (None, key)
            ]

    def records(self, status: Status | str | None = None, limit: int = 100) -> list[InboxRecord]:
        with self._lock:
            found = [self._record(e) for e in self._all() if status in (None, e.status)]
        return sorted(found, key=lambda r: r.updated_at, reverse=True)[:limit]

    def _search(self, wanted: SearchFilter, limit: int) -> list[InboxRecord]:
        with self._lock:
            found = [
                e
                for e in self._all()
                if wanted.matches(e.status, e.order_id, e.out_order_id, e.received_at)
            ]
            found.sort(key=lambda e: (e.updated_at, e.order_id), reverse=True)
            return [self._record(e) for e in found[:limit]]

    def _keep_rejection(self, row: tuple[Any, ...]) -> None:
        with self._lock:
            self._rejection_counts[row[1]] += 1
            self._rejections.append(Rejection(*row))

    def rejections(self, limit: int = 100) -> list[Rejection]:
        with self._lock:
            return list(self._rejections)[::-1][:limit]

    def update_sign_ins(self, keys: list[str], change: SignInChange, now: float) -> float:
        with self._lock:
            kept = self._sign_ins
            answer, changed = change({key: kept[key] for key in keys if key in kept})
            for key, failures in changed.items():
                kept.pop(key, None)  # a changed key goes last: the oldest are dropped first
                if failures is not None:
                    kept[key] = failures
            over = len(kept) - _MAX_SIGN_IN_KEYS
            if over > 0:  # a flood of names: the oldest unblocked go first, then the oldest
                for key in sorted(kept, key=lambda k: kept[k].blocked_until > now)[:over]:
                    del kept[key]
        return answer

    def stats(self) -> InboxStats:
        now = time.time()
        with self._lock:
            entries = self._all()
            counts = dict(self._rejection_counts)
        stale = sum(1 for e in entries if e.status == PROCESSING and (self._lease(e) or 0) <= now)
        return InboxStats(Counter(e.status for e in entries), stale, counts)

"""``inbox="memory://"``: one process, nothing survives a restart (tests, development).

Duplicates are still handled once and concurrent deliveries still wait for each other,
but only within this process: use the SQLite inbox for several workers. The oldest
finished records are forgotten past ``max_records``, so a long-running process does
not grow without bound.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter, deque
from dataclasses import replace

from ..messages import Notification
from .base import (
    ALREADY_DONE,
    BUSY,
    DEFAULT_BUSY_WAIT,
    DEFAULT_KEEP_REJECTIONS,
    DEFAULT_LEASE,
    DONE,
    FAILED,
    MAX_DELIVERIES,
    PROCESSING,
    RECEIVED,
    REUSED_SIGN,
    RUN,
    Claim,
    Inbox,
    InboxRecord,
    InboxStats,
    Rejection,
    stored_fields,
)

Key = tuple[str, int]


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
        self._records: dict[Key, InboxRecord] = {}
        self._tokens: dict[Key, str] = {}
        self._signs: dict[str, Key] = {}
        self._changed = threading.Condition()
        self._rejections: deque[Rejection] = deque(maxlen=keep_rejections)
        self._rejection_counts: Counter[str] = Counter()

    def _take(self, key: Key, record: InboxRecord, now: float) -> Claim:
        token = uuid.uuid4().hex
        self._tokens[key] = token
        self._records[key] = replace(
            record,
            status=PROCESSING,
            attempts=record.attempts + 1,
            lease_until=now + self.lease,
            updated_at=now,
        )
        return Claim(RUN, key[0], key[1], token, took_over=record.status == PROCESSING)

    def _decide(self, key: Key, record: InboxRecord, now: float) -> Claim:
        if record.status == DONE:
            return Claim(ALREADY_DONE, *key)
        if record.status == PROCESSING and (record.lease_until or 0) > now:
            return Claim(BUSY, *key)
        return self._take(key, record, now)

    def _forget_oldest(self) -> None:
        finished = sorted(
            (r for r in self._records.values() if r.status == DONE), key=lambda r: r.updated_at
        )
        for record in finished[: max(1, len(finished) // 10)]:
            key = (record.appkey, record.order_id)
            del self._records[key]
            for sign in [s for s, k in self._signs.items() if k == key]:
                del self._signs[sign]

    def claim(self, notification: Notification, *, remote_addr: str | None = None) -> Claim:
        key = (notification.appkey, notification.order_id)
        raw = stored_fields(notification.raw)
        now = time.time()
        with self._changed:
            if self._signs.setdefault(raw["sign"], key) != key:
                return Claim(REUSED_SIGN, *key)
            record = self._records.get(key)
            if record is None:
                if len(self._records) >= self.max_records:
                    self._forget_oldest()
                record = InboxRecord(
                    appkey=key[0],
                    order_id=key[1],
                    out_order_id=notification.out_order_id,
                    status=RECEIVED,
                    raw=raw,
                    received_at=now,
                    remote_addr=remote_addr,
                    attempts=0,
                    last_error=None,
                    updated_at=now,
                    lease_until=None,
                )
                return self._take(key, record, now)
            new_delivery = record.raw != raw
            if new_delivery and record.deliveries <= MAX_DELIVERIES:
                delivery = {"raw": raw, "received_at": now, "remote_addr": remote_addr}
                record = replace(
                    record,
                    deliveries=record.deliveries + 1,
                    other_deliveries=(*record.other_deliveries, delivery),
                )
                self._records[key] = record
            return replace(self._decide(key, record, now), new_delivery=new_delivery)

    def reclaim(self, appkey: str, order_id: int) -> tuple[Claim, InboxRecord] | None:
        key = (appkey, order_id)
        with self._changed:
            record = self._records.get(key)
            if record is None:
                return None
            return self._decide(key, record, time.time()), record

    def renew(self, claims: list[Claim]) -> None:
        until = time.time() + self.lease
        with self._changed:
            for claim in claims:
                key = (claim.appkey, claim.order_id)
                if self._tokens.get(key) == claim.token:
                    self._records[key] = replace(self._records[key], lease_until=until)

    def finish(self, claim: Claim, *, ok: bool, error: str | None = None) -> bool:
        key = (claim.appkey, claim.order_id)
        with self._changed:
            if claim.token is None or self._tokens.get(key) != claim.token:
                return False
            del self._tokens[key]
            self._records[key] = replace(
                self._records[key],
                status=DONE if ok else FAILED,
                last_error=error,
                lease_until=None,
                updated_at=time.time(),
            )
            self._changed.notify_all()
            return True

    def status(self, appkey: str, order_id: int) -> str | None:
        record = self._records.get((appkey, order_id))
        return None if record is None else record.status

    def wait(self, appkey: str, order_id: int, timeout: float | None = None) -> str | None:
        deadline = time.monotonic() + (self.busy_wait if timeout is None else timeout)
        with self._changed:
            while (status := self.status(appkey, order_id)) == PROCESSING:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._changed.wait(remaining)
            return status

    def get(self, order_id: int, appkey: str | None = None) -> list[InboxRecord]:
        with self._changed:
            return [
                r
                for (key, oid), r in self._records.items()
                if oid == order_id and appkey in (None, key)
            ]

    def records(self, status: str | None = None, limit: int = 100) -> list[InboxRecord]:
        with self._changed:
            found = [r for r in self._records.values() if status in (None, r.status)]
        return sorted(found, key=lambda r: r.updated_at, reverse=True)[:limit]

    def record_rejection(
        self,
        reason: str,
        *,
        field: str | None = None,
        remote_addr: str | None = None,
        order_id: str | None = None,
        out_order_id: str | None = None,
    ) -> None:
        with self._changed:
            self._rejection_counts[reason] += 1
            self._rejections.append(
                Rejection(time.time(), reason, field, remote_addr, order_id, out_order_id)
            )

    def rejections(self, limit: int = 100) -> list[Rejection]:
        with self._changed:
            return list(self._rejections)[::-1][:limit]

    def stats(self) -> InboxStats:
        now = time.time()
        with self._changed:
            records = list(self._records.values())
            counts = dict(self._rejection_counts)
        stale = sum(1 for r in records if r.status == PROCESSING and (r.lease_until or 0) <= now)
        return InboxStats(Counter(r.status for r in records), stale, counts)

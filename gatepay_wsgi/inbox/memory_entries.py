"""What the memory inbox keeps per notify: ``MemoryEntry``, and ``HeldWhileRunning``.

Kept apart from ``memory.py`` (which decides nothing: it asks ``decide.py`` under its
lock) so that the store's shape reads on its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .records import InboxRecord
from .states import RECEIVED, Status


@dataclass(slots=True, eq=False)
class MemoryEntry:
    """A record as the memory inbox keeps it: mutable, turned into an ``InboxRecord`` to read.

    One object the garbage collector tracks per record, since thousands are kept: indexed
    by itself (hashed by identity) rather than by a key tuple, no list until a second field
    set comes, and the latest claim's fields by reference (their signed values made only
    when another claim under the same sign compares them).
    """

    appkey: str
    order_id: int
    out_order_id: str
    raw: dict[str, str]
    received_at: float
    remote_addr: str | None
    status: Status = RECEIVED
    attempts: int = 0
    last_error: str | None = None
    updated_at: float = 0.0
    lease_until: float | None = None
    token: str | None = None
    other_deliveries: list[dict[str, Any]] | None = None
    note: str | None = None
    run_sign: str | None = None  # the sign and stored fields of the latest claim
    run_raw: dict[str, str] | None = None
    received: int = 1
    secret_index: int = 0

    def record(self, lease_until: float | None) -> InboxRecord:
        others = self.other_deliveries or ()
        return InboxRecord(
            appkey=self.appkey,
            order_id=self.order_id,
            out_order_id=self.out_order_id,
            status=self.status,
            raw=dict(self.raw),
            received_at=self.received_at,
            remote_addr=self.remote_addr,
            attempts=self.attempts,
            last_error=self.last_error,
            updated_at=self.updated_at,
            lease_until=lease_until,
            deliveries=1 + len(others),
            other_deliveries=tuple(others),
            note=self.note,
            received=self.received,
            secret_index=self.secret_index,
        )


class HeldWhileRunning:
    """The context of ``MemoryInbox.holding``: the token is in the held set meanwhile."""

    __slots__ = ("held", "token")

    def __init__(self, held: set[str], token: str) -> None:
        self.held, self.token = held, token

    def __enter__(self) -> None:
        self.held.add(self.token)  # one bytecode-level operation: safe across threads

    def __exit__(self, *exc: object) -> None:
        self.held.discard(self.token)

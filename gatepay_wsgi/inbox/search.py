"""What ``Inbox.search`` looks for: ``SearchFilter.of(status="failed", out_order_id="shop")``.

Checked once here, read the same way by every backend (the memory inbox filters its
records with ``matches``; the SQL one turns the same fields into conditions).
"""

from __future__ import annotations

import string
from dataclasses import dataclass

from .states import Status

_ASCII_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def ascii_lower(text: str) -> str:
    """``text`` with only its ASCII letters lower-cased, as SQLite's ``LOWER`` does."""
    return text.translate(_ASCII_LOWER)


@dataclass(frozen=True)
class SearchFilter:
    """What ``Inbox.search`` looks for, checked once: every backend reads it the same way.

    ``out_order_id`` is a part of the shop's order id, its ASCII letters in either case
    (kept lower-cased here; empty: any); ``since <= received_at < until`` (seconds since
    the epoch; ``None``: open).
    """

    status: Status | None = None
    order_id: int | None = None
    out_order_id: str | None = None
    since: float | None = None
    until: float | None = None

    @classmethod
    def of(
        cls,
        status: Status | str | None = None,
        order_id: int | None = None,
        out_order_id: str | None = None,
        since: float | None = None,
        until: float | None = None,
    ) -> SearchFilter:
        return cls(
            None if status is None else Status(status),
            None if order_id is None else int(order_id),
            ascii_lower(out_order_id) if out_order_id else None,
            None if since is None else float(since),
            None if until is None else float(until),
        )

    def matches(self, status: str, order_id: int, out_order_id: str, received_at: float) -> bool:
        """Whether a stored notify with these values is wanted."""
        return (
            (self.status is None or status == self.status)
            and (self.order_id is None or order_id == self.order_id)
            and (self.out_order_id is None or self.out_order_id in ascii_lower(out_order_id))
            and (self.since is None or received_at >= self.since)
            and (self.until is None or received_at < self.until)
        )

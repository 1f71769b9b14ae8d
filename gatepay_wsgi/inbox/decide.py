"""The one decision: ``decide(stored, holders, now)`` -> what a delivery of a notify gets.

Pure: no store, no clock, no I/O. Every backend gathers the same facts under its own lock
or transaction (the order's stored record, the other field sets claimed under the same
sign), asks here, and writes what comes back; a live delivery and a replay alike.

- ``sign_decision``: another field set under this sign was handled (``REUSED_SIGN``: a
  field boundary was moved) or is running (``BUSY``, wait for it); one that failed, or
  whose worker died, is no obstacle, so a forged copy that arrived first never locks the
  genuine notify out.
- ``record_decision``: the order's own record: new or failed or a dead worker's claim
  (``RUN``, taking the claim over if it was held), running (``BUSY``), done
  (``ALREADY_DONE``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .states import ALREADY_DONE, BUSY, DONE, PROCESSING, REUSED_SIGN, RUN, ClaimOutcome


@dataclass(frozen=True)
class Stored:
    """The order's record as the decision needs it."""

    status: str
    lease_until: float | None


@dataclass(frozen=True)
class SignHolder:
    """Another record that claimed under the same sign: ``other`` is its (appkey,
    order_id, out_order_id); ``same_fields`` whether its signed fields are this delivery's."""

    other: tuple[str, int, str]
    status: str
    lease_until: float | None
    same_fields: bool


@dataclass(frozen=True)
class Decision:
    """What the delivery gets: ``RUN`` (take the claim; ``took_over`` a dead worker's),
    ``ALREADY_DONE``, ``BUSY`` or ``REUSED_SIGN`` (``other``: the record in the way)."""

    outcome: ClaimOutcome
    took_over: bool = False
    other: tuple[str, int, str] | None = None


def _live(status: str, lease_until: float | None, now: float) -> bool:
    return status == PROCESSING and (lease_until or 0) > now


def sign_decision(holders: Iterable[SignHolder], now: float) -> Decision | None:
    """``REUSED_SIGN`` or ``BUSY`` if another field set holds the sign, else ``None``."""
    for holder in holders:
        if holder.same_fields:
            continue
        if holder.status == DONE:
            return Decision(REUSED_SIGN, other=holder.other)
        if _live(holder.status, holder.lease_until, now):
            return Decision(BUSY, other=holder.other)
    return None


def record_decision(stored: Stored | None, now: float) -> Decision:
    """What the order's own record allows (``None``: never seen)."""
    if stored is None:
        return Decision(RUN)
    if stored.status == DONE:
        return Decision(ALREADY_DONE)
    if _live(stored.status, stored.lease_until, now):
        return Decision(BUSY)
    return Decision(RUN, took_over=stored.status == PROCESSING)


def decide(stored: Stored | None, holders: Iterable[SignHolder], now: float) -> Decision:
    """``decide(Stored("failed", None), [], time.time())``: the sign first, then the
    record (a SQL store asks the two halves apart, around its insert)."""
    return sign_decision(holders, now) or record_decision(stored, now)

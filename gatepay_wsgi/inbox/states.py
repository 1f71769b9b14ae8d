"""The words of the inbox: ``if inbox.status(appkey, order_id) == Status.DONE:``.

A notify's record moves ``received -> processing -> done | failed``. Each enum is a
``str``: it is stored, printed, compared and serialised as its value (``"done"``), so
the on-disk schema, the CLI's output and the log lines read as they always did.
"""

from __future__ import annotations

from enum import Enum


class _Word(str, Enum):
    """A ``str`` enum that prints as its value on every Python (``StrEnum`` is 3.11+)."""

    def __str__(self) -> str:
        return str.__str__(self)

    def __format__(self, spec: str) -> str:
        return str.__format__(self, spec)


class Status(_Word):
    """Where a stored notify stands."""

    RECEIVED = "received"  # committed, not yet claimed
    PROCESSING = "processing"  # a worker holds its claim and runs the handler
    DONE = "done"  # the handler accepted it
    FAILED = "failed"  # the handler declined or raised: replay it


class ClaimOutcome(_Word):
    """What ``Inbox.claim`` tells a delivery to do."""

    RUN = "run"  # this worker holds the claim: run the handler, then finish
    ALREADY_DONE = "already_done"  # handled before: answer success, run nothing
    BUSY = "busy"  # another worker holds a live claim: wait for its outcome
    REUSED_SIGN = "reused_sign"  # the sign was handled with other signed fields: refuse


class Written(_Word):
    """What ``Inbox.record_outcome`` did with a handler's outcome."""

    RECORDED = "recorded"
    LOST = "lost"  # the claim was taken over meanwhile
    PENDING = "pending"  # the inbox refused the write: retried in the background


class Delivered(_Word):
    """What one live delivery came to (``Inbox.deliver``): the gateway's answer follows."""

    HANDLED = "handled"  # the handler ran now and accepted it: success
    FAILED = "failed"  # the handler ran now and declined or raised: fail
    DONE_BEFORE = "done_before"  # handled before, here or by the worker waited for: success
    BUSY = "busy"  # another worker holds it and did not succeed in the wait: fail
    UNAVAILABLE = "unavailable"  # the inbox could not keep or read it; nothing ran: fail
    REUSED_SIGN = "reused_sign"  # its sign was handled with other signed fields: refused


class ReplayOutcome(_Word):
    """What ``Inbox.replay`` did with one order."""

    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"  # already done
    BUSY = "busy"  # another worker holds its claim
    MISSING = "missing"  # no such notify in the inbox
    LOST = "lost"  # its claim was taken over while the handler ran
    UNRECORDED = "unrecorded"  # the handler ran; its outcome is still being written
    UNAVAILABLE = "unavailable"  # the inbox could not be read: the handler did not run
    REUSED_SIGN = "reused_sign"  # its sign was handled with other fields: a forgery


RECEIVED, PROCESSING, DONE, FAILED = (
    Status.RECEIVED,
    Status.PROCESSING,
    Status.DONE,
    Status.FAILED,
)
STATUSES: tuple[str, ...] = tuple(status.value for status in Status)  # as the CLI offers them
RUN, ALREADY_DONE, BUSY, REUSED_SIGN = (
    ClaimOutcome.RUN,
    ClaimOutcome.ALREADY_DONE,
    ClaimOutcome.BUSY,
    ClaimOutcome.REUSED_SIGN,
)
RECORDED, LOST, PENDING = Written.RECORDED, Written.LOST, Written.PENDING

#: Seconds a claim stays live; past it, a killed worker's claim is taken over.
DEFAULT_LEASE = 120.0
#: Seconds a delivery waits for another worker's outcome on the same order.
DEFAULT_BUSY_WAIT = 5.0
#: Refused requests kept (the newest); older ones are dropped, counts are kept.
DEFAULT_KEEP_REJECTIONS = 1000
#: Later deliveries kept per order when their signed fields differ (manual re-sends).
MAX_DELIVERIES = 20

"""inbox/decide.py: the one decision, every combination against the README's table."""

from __future__ import annotations

import itertools

import pytest

from gatepay_wsgi.inbox.decide import Decision, SignHolder, Stored, decide

NOW = 1_000.0
OTHER = ("key", 7, "SHOP-7")
#: The order's own record: None (new), or (status, lease_until).
RECORDS = {
    "new": None,
    "received": Stored("received", None),
    "processing, live": Stored("processing", NOW + 60),
    "processing, lease run out": Stored("processing", NOW - 1),
    "processing, no lease": Stored("processing", None),
    "done": Stored("done", None),
    "failed": Stored("failed", None),
}
#: Another field set under the same sign, in each state, and the same fields.
HOLDERS = {
    "none": [],
    "same fields, done": [SignHolder(OTHER, "done", None, True)],
    "same fields, running": [SignHolder(OTHER, "processing", NOW + 60, True)],
    "other fields, done": [SignHolder(OTHER, "done", None, False)],
    "other fields, running": [SignHolder(OTHER, "processing", NOW + 60, False)],
    "other fields, dead worker": [SignHolder(OTHER, "processing", NOW - 1, False)],
    "other fields, failed": [SignHolder(OTHER, "failed", None, False)],
    "other fields, received": [SignHolder(OTHER, "received", None, False)],
}


def expected(record: str, holder: str) -> Decision:
    """The README's table, written out: the sign rule first, then the order's record."""
    if holder == "other fields, done":
        return Decision("reused_sign", other=OTHER)  # a re-split genuine notify
    if holder == "other fields, running":
        return Decision("busy", other=OTHER)  # wait for that field set, then decide
    return {
        "new": Decision("run"),
        "received": Decision("run"),
        "failed": Decision("run"),
        "processing, live": Decision("busy"),
        "processing, lease run out": Decision("run", took_over=True),
        "processing, no lease": Decision("run", took_over=True),
        "done": Decision("already_done"),
    }[record]


@pytest.mark.parametrize(("record", "holder"), list(itertools.product(RECORDS, HOLDERS)))
def test_every_combination(record, holder):
    assert decide(RECORDS[record], HOLDERS[holder], NOW) == expected(record, holder)


def test_a_lease_ending_exactly_now_is_run_out():
    assert decide(Stored("processing", NOW), [], NOW) == Decision("run", took_over=True)
    held = [SignHolder(OTHER, "processing", NOW, False)]
    assert decide(None, held, NOW) == Decision("run")


def test_the_first_holder_in_the_way_is_named():
    holders = [
        SignHolder(("a", 1, "A"), "failed", None, False),
        SignHolder(("b", 2, "B"), "done", None, False),
        SignHolder(("c", 3, "C"), "processing", NOW + 5, False),
    ]
    assert decide(None, holders, NOW) == Decision("reused_sign", other=("b", 2, "B"))

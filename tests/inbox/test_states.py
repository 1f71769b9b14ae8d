"""inbox/states.py: the inbox's words are str enums that read as their values."""

from __future__ import annotations

import json

import pytest

from gatepay_wsgi.inbox import (
    STATUSES,
    ClaimOutcome,
    Delivered,
    ReplayOutcome,
    Status,
    Written,
)


@pytest.mark.parametrize("word", [*Status, *ClaimOutcome, *Written, *ReplayOutcome, *Delivered])
def test_each_word_prints_stores_and_compares_as_its_value(word):
    assert word == word.value
    assert str(word) == f"{word}" == "%s" % word == word.value  # noqa: UP031  # logs use %s
    assert json.dumps(word) == json.dumps(word.value)


def test_the_statuses_in_their_order():
    assert STATUSES == ("received", "processing", "done", "failed")
    assert Status("done") is Status.DONE


def test_replay_outcomes_are_listed_in_one_place():
    assert {o.value for o in ReplayOutcome} == {
        "done",
        "failed",
        "skipped",
        "busy",
        "missing",
        "lost",
        "unrecorded",
        "unavailable",
        "reused_sign",
    }

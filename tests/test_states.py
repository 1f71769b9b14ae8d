"""inbox/states.py: the inbox's words are str enums that read as their values."""

from __future__ import annotations

import json

import pytest

from gatepay_wsgi.inbox import STATUSES, ClaimOutcome, ReplayOutcome, Status, Written
from gatepay_wsgi.inbox.states import settle, sign_conflict


@pytest.mark.parametrize("word", [*Status, *ClaimOutcome, *Written, *ReplayOutcome])
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


@pytest.mark.parametrize(
    ("status", "lease_until", "for_the_order", "for_its_sign"),
    [
        (Status.DONE, None, ClaimOutcome.ALREADY_DONE, ClaimOutcome.REUSED_SIGN),
        (Status.PROCESSING, 200.0, ClaimOutcome.BUSY, ClaimOutcome.BUSY),
        (Status.PROCESSING, 50.0, None, None),  # a dead worker's claim: free to take
        (Status.FAILED, None, None, None),
        (Status.RECEIVED, None, None, None),
    ],
)
def test_what_a_stored_notify_means_for_a_claim(status, lease_until, for_the_order, for_its_sign):
    assert settle(status, lease_until, now=100.0) == for_the_order
    assert sign_conflict(status, lease_until, now=100.0) == for_its_sign

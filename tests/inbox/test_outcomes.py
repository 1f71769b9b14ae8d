"""inbox/outcomes.py: an outcome the inbox refused is kept, its claim held, and written later."""

from __future__ import annotations

import logging
import re
import sqlite3
import threading
import time
from datetime import datetime, timezone

import pytest

from gatepay_wsgi.errors import InboxUnavailable
from gatepay_wsgi.inbox import outcomes
from gatepay_wsgi.inbox.leases import LeaseKeeper
from gatepay_wsgi.inbox.outcomes import OutcomeWriter, Pending
from gatepay_wsgi.inbox.records import Claim

from ..gateway import APPKEY


class Refusing:
    """An inbox whose ``finish`` raises ``refusals`` times (an error each), then answers."""

    lease = 60.0  # no renewal falls within a test

    def __init__(self, *refusals: Exception, answer: bool = True) -> None:
        self.refusals = list(refusals)
        self.answer = answer
        self.finished: list[tuple[int, bool, str | None, str | None]] = []
        self.lock = threading.Lock()

    def finish(self, claim, *, ok, error=None, note=None):
        with self.lock:
            if self.refusals:
                raise self.refusals.pop(0)
            self.finished.append((claim.order_id, ok, error, note))
            return self.answer

    def renew(self, claims):
        pass


@pytest.fixture
def writer(monkeypatch):
    """A writer of its own, standing for this process's while the test runs."""
    own = OutcomeWriter()
    monkeypatch.setattr(OutcomeWriter, "_process", own)
    return own


def locked() -> InboxUnavailable:
    return InboxUnavailable("database is locked")


def test_a_deferred_outcome_is_answered_from_memory_until_it_lands(writer, caplog):
    inbox = Refusing(locked(), locked())
    claim = Claim.run(APPKEY, 7, "token-7")
    with caplog.at_level(logging.WARNING, logger="gatepay_wsgi"):
        writer.defer(inbox, claim, ok=False, error="ValueError: no stock", failure=locked())
        assert OutcomeWriter.outcome(inbox, APPKEY, 7) is False  # the handler's result
        assert OutcomeWriter.outcome(inbox, APPKEY, 8) is None
        assert (id(inbox), "token-7") in LeaseKeeper.for_this_process().held
        assert writer.wait(inbox, APPKEY, 7, timeout=3)
    ((order_id, ok, error, note),) = inbox.finished
    assert (order_id, ok, error) == (7, False, "ValueError: no stock")
    assert re.match(
        r"outcome written late, by try 4, begun \d+\.\d s after the handler returned at ", note
    )
    assert note.endswith("UTC (failed): the inbox had refused the write (database is locked)")
    assert OutcomeWriter.outcome(inbox, APPKEY, 7) is None
    assert (id(inbox), "token-7") not in LeaseKeeper.for_this_process().held
    mine = [r for r in caplog.records if "order_id=7" in r.getMessage()]
    assert [r.levelno for r in mine] == [logging.ERROR, logging.WARNING]  # once each
    assert "could not be recorded (handler failed) order_id=7" in mine[0].getMessage()
    assert "recorded late order_id=7, " in mine[1].getMessage()


def test_the_writer_outlives_an_unexpected_error_and_retries(writer, caplog):
    inbox = Refusing(RuntimeError("a bug in a backend"), locked())
    writer.defer(inbox, Claim.run(APPKEY, 9, "t"), ok=True, error=None, failure=locked())
    assert writer.wait(inbox, APPKEY, 9, timeout=3)
    assert [(o, ok) for o, ok, _, _ in inbox.finished] == [(9, True)]
    assert writer.thread.is_alive()
    assert "writing a kept notify outcome raised: RuntimeError('a bug in a backend')" in (
        caplog.text
    )


def test_a_claim_taken_over_meanwhile_is_an_error_to_check(writer, caplog):
    inbox = Refusing(answer=False)  # finish: the claim was lost
    writer.defer(inbox, Claim.run(APPKEY, 3, "t"), ok=True, error=None, failure=locked())
    assert writer.wait(inbox, APPKEY, 3, timeout=3)
    taken = [r for r in caplog.records if "taken over" in r.getMessage()]
    assert len(taken) == 1
    assert taken[0].levelno == logging.ERROR
    assert "order_id=3" in taken[0].getMessage()
    assert "handler succeeded" in taken[0].getMessage()
    assert "recorded late" not in caplog.text


def test_an_outcome_still_refused_at_exit_is_logged_as_never_recorded(writer, monkeypatch, caplog):
    monkeypatch.setattr(outcomes, "AT_EXIT", 0.2)
    inbox = Refusing(*[locked() for _ in range(1000)])
    writer.defer(inbox, Claim.run(APPKEY, 5, "t"), ok=True, error=None, failure=locked())
    assert not writer.wait(inbox, APPKEY, 5, timeout=0.1)
    writer.at_exit()
    assert "notify outcome NEVER recorded order_id=5 (handler succeeded)" in caplog.text
    inbox.refusals.clear()  # the inbox is back: the outcome lands, nothing left for exit
    assert writer.wait(inbox, APPKEY, 5, timeout=3)


def test_the_note_says_how_late_at_which_try_and_why():
    entry = Pending(
        inbox=None,  # type: ignore[arg-type]
        claim=None,  # type: ignore[arg-type]
        ok=True,
        error=None,
        handled_at=time.time() - 2.5,
        first_failure="disk full " + "x" * 1000,
        tries=3,
    )
    note = entry.note()
    assert note.startswith(
        "outcome written late, by try 3, begun 2.5 s after the handler returned at "
    )
    assert "UTC (succeeded): the inbox had refused the write" in note
    assert note.endswith("(disk full " + "x" * 290 + ")")


def test_a_late_outcomes_note_counts_from_the_moment_the_handler_returned(tmp_path, caplog):
    """Issue 26: with the lock held by another writer the log said "2.0 s late" while the
    record said "0.0 s late" and gave the time of the first failed write as the handler's.
    The note is written once, counted from the handler's return, and logged as stored."""
    from urllib.parse import urlencode

    from werkzeug.test import Client

    from gatepay_wsgi import GatePayMiddleware, Notify
    from gatepay_wsgi.inbox import DONE, SQLiteInbox

    from ..gateway import APPSECRET, notify_fields, shop

    path = tmp_path / "gatepay.sqlite3"
    inbox = SQLiteInbox(path, busy_timeout=1.0)
    other_writer = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    returned: list[float] = []

    def mark_paid(notification):
        other_writer.execute("BEGIN IMMEDIATE")  # another process's write, 3 s long
        threading.Timer(3.0, other_writer.execute, ("COMMIT",)).start()
        returned.append(time.time())
        return True

    app = GatePayMiddleware(
        shop, appkey=APPKEY, appsecret=APPSECRET, paths={"/n": Notify(mark_paid)}, inbox=inbox
    )
    with caplog.at_level(logging.WARNING, logger="gatepay_wsgi"):
        answer = Client(app).post(
            "/n",
            data=urlencode(notify_fields()),
            content_type="application/x-www-form-urlencoded",
        )
        assert answer.get_data() == b"success"
        assert OutcomeWriter.for_this_process().wait(inbox, APPKEY, 100001, timeout=30)
    (record,) = inbox.get(100001)
    assert record.status == DONE
    began = float(re.search(r", begun (\d+\.\d) s after the handler returned", record.note)[1])
    # Two tries waited their 1 s busy_timeout in vain before the one that wrote it began:
    # counted from the first failed write instead, it read about a second less.
    assert 2.0 <= began < 10
    stamp = re.search(r"returned at (\S+ \S+) UTC", record.note)[1]
    handled = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc)
    assert abs(handled.timestamp() - returned[0]) < 1.0
    (logged,) = [r.getMessage() for r in caplog.records if "recorded late" in r.getMessage()]
    landed = re.search(r"order_id=100001, (\d+\.\d) s after the handler returned", logged)
    assert 2.9 <= float(landed[1]) < 10  # the lock was held 3 s from the handler's return
    assert logged.endswith(f": {record.note}")  # the log and inbox show say the same
    inbox.close()
    other_writer.close()

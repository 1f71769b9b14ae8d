"""inbox/leases.py: the lease keeper renews held claims, and only while they are held."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

import pytest

from gatepay_wsgi.inbox import PROCESSING, open_inbox
from gatepay_wsgi.inbox.leases import LeaseKeeper
from gatepay_wsgi.inbox.records import Claim
from gatepay_wsgi.messages import parse_notification

from ..gateway import APPKEY, notify_fields


class Renewals:
    """An inbox that only records when ``renew`` is called, and may raise at first."""

    def __init__(self, lease: float, failures: int = 0) -> None:
        self.lease, self.failures = lease, failures
        self.calls: list[tuple[float, list[int]]] = []
        self.lock = threading.Lock()

    def renew(self, claims):
        with self.lock:
            self.calls.append((time.monotonic(), [c.order_id for c in claims]))
        if self.failures:
            self.failures -= 1
            raise RuntimeError("a backend hiccup")


def test_one_keeper_per_process():
    keeper = LeaseKeeper.for_this_process()
    assert LeaseKeeper.for_this_process() is keeper
    assert keeper.thread.daemon
    assert keeper.thread.is_alive()


def test_a_held_claim_is_renewed_every_third_of_its_lease_until_released():
    """On the keeper's own clock (``renew_due(now)``): no thread, no sleep."""
    keeper, inbox = LeaseKeeper(), Renewals(lease=0.3)
    claim = Claim.run(APPKEY, 1, "token-1")
    keeper.hold(inbox, claim, now=100.0)
    assert keeper.soonest() == pytest.approx(100.1)
    keeper.renew_due(100.09)
    assert inbox.calls == []  # not due yet
    for now in (100.1, 100.15, 100.2, 100.3):
        keeper.renew_due(now)
    assert [ids for _, ids in inbox.calls] == [[1], [1], [1]]  # at 100.1, 100.2, 100.3
    assert keeper.soonest() == pytest.approx(100.4)
    keeper.release(inbox, claim)
    keeper.renew_due(200.0)
    assert len(inbox.calls) == 3  # released: no more renewals
    assert keeper.held == {}


def test_a_failed_renewal_is_tried_again_within_a_tenth_of_the_lease(caplog):
    keeper, inbox = LeaseKeeper(), Renewals(lease=0.9, failures=1)
    claim = Claim.run(APPKEY, 2, "token-2")
    keeper.hold(inbox, claim, now=0.0)
    keeper.renew_due(0.3)
    assert "could not renew 1 claim(s): a backend hiccup" in caplog.text
    assert keeper.soonest() == pytest.approx(0.39)  # a tenth after the failure, not a third
    keeper.renew_due(0.39)
    assert len(inbox.calls) == 2
    assert keeper.soonest() == pytest.approx(0.69)  # renewed: a third again


def test_claims_of_several_inboxes_are_renewed_each_by_its_own():
    keeper, first, second = LeaseKeeper(), Renewals(lease=0.3), Renewals(lease=3.0)
    keeper.hold(first, Claim.run(APPKEY, 1, "a"), now=0.0)
    keeper.hold(first, Claim.run(APPKEY, 2, "b"), now=0.0)
    keeper.hold(second, Claim.run(APPKEY, 3, "c"), now=0.0)
    keeper.renew_due(0.1)
    assert [sorted(ids) for _, ids in first.calls] == [[1, 2]]  # one call for both
    assert second.calls == []  # its third of the lease is 1 s
    keeper.drop(first)
    keeper.renew_due(1.0)
    assert (len(first.calls), len(second.calls)) == (1, 1)


def test_dropping_an_inbox_waits_for_its_renewal_under_way():
    """``inbox.close()`` drops its claims: a renewal already under way (waiting for the
    database's lock) must end before ``close()`` returns, never write after it."""
    keeper = LeaseKeeper()
    keeper.thread.start()
    inbox, entered, release = Renewals(lease=0.06), threading.Event(), threading.Event()
    really_renew = inbox.renew

    def slow_renew(claims):
        entered.set()
        release.wait(10)
        really_renew(claims)

    inbox.renew = slow_renew
    keeper.hold(inbox, Claim.run(APPKEY, 1, "token-1"))
    assert entered.wait(5)  # the thread is inside a renewal
    dropped = threading.Event()
    threading.Thread(target=lambda: (keeper.drop(inbox), dropped.set())).start()
    assert not dropped.wait(0.2)  # waits for the renewal
    release.set()
    assert dropped.wait(5)
    assert len(inbox.calls) == 1
    assert keeper.held == {}


def test_a_sqlite_claim_stays_busy_while_held_and_goes_stale_after(tmp_path):
    inbox = open_inbox("sqlite:///" + str(tmp_path / "inbox.sqlite3") + "?lease=0.2")
    try:
        claim = inbox.claim(parse_notification(notify_fields(), appkey=APPKEY))
        with inbox.holding(claim):
            assert (id(inbox), claim.token) in LeaseKeeper.for_this_process().held
            time.sleep(0.3)  # past the first lease
            assert inbox.get(100001)[0].lease_until > time.time()
            assert inbox.reclaim(APPKEY, 100001)[0].outcome == "busy"
        assert (id(inbox), claim.token) not in LeaseKeeper.for_this_process().held
        time.sleep(0.25)  # past the last renewed lease
        assert inbox.status(APPKEY, 100001) == PROCESSING
        assert inbox.stats().stale == 1
        taken, _ = inbox.reclaim(APPKEY, 100001)
        assert (taken.outcome, taken.took_over) == ("run", True)
    finally:
        inbox.close()


def test_a_process_that_never_closed_its_inbox_ends(tmp_path):
    """The inbox's ``__del__`` closes it as the interpreter ends, when no lease keeper
    ran yet: closing must start no thread then (starting one at that moment hangs)."""
    script = "import sys; from gatepay_wsgi.inbox import SQLiteInbox; x = SQLiteInbox(sys.argv[1])"
    ended = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "inbox.sqlite3")], timeout=60, check=False
    )
    assert ended.returncode == 0

"""inbox/leases.py: the lease keeper renews held claims, and only while they are held."""

from __future__ import annotations

import subprocess
import sys
import threading
import time

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
    keeper, inbox = LeaseKeeper(), Renewals(lease=0.12)
    claim = Claim.run(APPKEY, 1, "token-1")
    keeper.hold(inbox, claim)
    time.sleep(0.25)
    keeper.release(inbox, claim)
    renewed = len(inbox.calls)
    assert 3 <= renewed <= 7  # every 0.04 s
    assert {tuple(ids) for _, ids in inbox.calls} == {(1,)}
    time.sleep(0.1)
    assert len(inbox.calls) == renewed  # released: no more renewals
    assert keeper.held == {}


def test_a_failed_renewal_is_tried_again_within_a_tenth_of_the_lease(caplog):
    keeper, inbox = LeaseKeeper(), Renewals(lease=0.9, failures=1)
    claim = Claim.run(APPKEY, 2, "token-2")
    keeper.hold(inbox, claim)
    deadline = time.monotonic() + 3
    while len(inbox.calls) < 2:
        assert time.monotonic() < deadline, "the renewal was not tried again"
        time.sleep(0.01)
    keeper.release(inbox, claim)
    (first, _), (second, _) = inbox.calls[:2]
    assert second - first < 0.22  # a tenth (0.09 s) after the failure, not a third (0.3 s)
    assert "could not renew 1 claim(s): a backend hiccup" in caplog.text


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

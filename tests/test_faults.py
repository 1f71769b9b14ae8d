"""Faults around the inbox, with real processes and a real (tiny) filesystem.

- the inbox locked by another process past the busy timeout -> 503 ``fail``, no handler;
- the disk full under the inbox (a 4 MiB tmpfs, filled) -> 503 ``fail``, no handler,
  and once space is back the retried notify is handled exactly once.
(A handler raising, a read-only inbox and a worker killed mid-handler are in
test_notify.py, test_inbox.py and test_inbox_processes.py.)
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from werkzeug.test import Client

from gatepay_wsgi import GatePayMiddleware, Notify
from gatepay_wsgi.inbox import DONE, SQLiteInbox, open_inbox

from .gateway import APPKEY, APPSECRET, Recorder, notify_fields


def client_for(handler, inbox) -> Client:
    return Client(
        GatePayMiddleware(
            lambda e, s: [],
            appkey=APPKEY,
            appsecret=APPSECRET,
            paths={"/n": Notify(handler)},
            inbox=inbox,
        )
    )


def deliver(client, fields) -> tuple[int, bytes]:
    response = client.post(
        "/n", data=urlencode(fields), content_type="application/x-www-form-urlencoded"
    )
    return response.status_code, response.get_data()


LOCKER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("ROLLBACK")
"""


def test_inbox_locked_by_another_process(tmp_path):
    db = tmp_path / "inbox.sqlite3"
    handler = Recorder()
    client = client_for(handler, SQLiteInbox(db, busy_timeout=0.3))
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(db), "2"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert locker.stdout.readline().strip() == "locked"
        started = time.monotonic()
        assert deliver(client, notify_fields()) == (503, b"fail")
        assert time.monotonic() - started < 2  # bounded by busy_timeout, not by the lock
        assert handler.calls == []
    finally:
        locker.communicate(timeout=30)
    assert deliver(client, notify_fields()) == (200, b"success")  # the gateway's retry
    assert len(handler.calls) == 1


@pytest.fixture
def tiny_disk(tmpfs) -> Path:
    return tmpfs


def fill(folder: Path) -> Path:
    """Write zeros until the filesystem says it is full."""
    filler = folder / "filler"
    with open(filler, "wb", buffering=0) as out:  # unbuffered: the close cannot fail
        try:
            while True:
                out.write(b"\0" * 4096)
        except OSError:
            pass
    return filler


def test_disk_full_answers_fail_and_the_retry_is_handled_once(tiny_disk):
    inbox = SQLiteInbox(tiny_disk / "inbox.sqlite3")
    handler = Recorder()
    client = client_for(handler, inbox)
    assert deliver(client, notify_fields(order_id="1"))[1] == b"success"  # the file is set up
    filler = fill(tiny_disk)
    refused = []
    for order_id in range(2, 40):  # enough new records to need pages the disk does not have
        answer = deliver(client, notify_fields(order_id=str(order_id), extend="x" * 2000))
        assert answer in ((200, b"success"), (503, b"fail"))
        if answer[1] == b"fail":
            refused.append(order_id)
    assert refused, "the full disk never refused a write"
    handled = {n.order_id for n in handler.calls}
    assert not handled & set(refused)  # no handler ran for a notify that is not on disk
    filler.unlink()  # space is back; the gateway retries what was refused
    for order_id in refused:
        fields = notify_fields(order_id=str(order_id), extend="x" * 2000)
        assert deliver(client, fields) == (200, b"success")
        assert deliver(client, fields) == (200, b"success")
    calls = [n.order_id for n in handler.calls]
    assert sorted(calls) == sorted(set(calls))  # nothing handled twice
    assert set(refused) <= set(calls)
    inbox.close()  # writes the outcomes the full disk refused (space is back)
    reopened = SQLiteInbox(tiny_disk / "inbox.sqlite3")
    assert {reopened.status(APPKEY, order_id) for order_id in range(1, 40)} == {DONE}
    reopened.close()


def outcome_refused_under_gunicorn(inbox_url: str, tmp_path: Path) -> None:
    """The defect as seen: the handler succeeds, the inbox is locked at that moment, and
    a manual re-send after the lease ran the handler a second time."""
    pytest.importorskip("gunicorn")
    from .servers import free_port, gunicorn, post

    calls, mark = tmp_path / "calls.txt", tmp_path / "locked"
    env = {
        "GATEPAY_TEST_INBOX": inbox_url,
        "GATEPAY_TEST_CALLS": str(calls),
        "GATEPAY_TEST_MARK": str(mark),
        "GATEPAY_TEST_LOCK": "3",
    }
    open_inbox(inbox_url).close()  # the schema, as a deployment's first start would
    port = free_port()
    server = gunicorn("fault_app:app", port, env, workers=3)
    try:
        fields = notify_fields(paytime="1700000000")
        assert post(port, urlencode(fields).encode()) == (200, b"success")
        assert mark.exists()  # the inbox was locked as the handler returned
        for _ in range(3):  # the gateway's retries meanwhile, on any worker
            assert post(port, urlencode(fields).encode())[1] in (b"success", b"fail")
        time.sleep(3 + 2 + 0.5)  # the lock is gone and the lease (2 s) would have run out
        resent = notify_fields(paytime="1700000999")  # "I have received this payment"
        assert post(port, urlencode(resent).encode()) == (200, b"success")
        assert post(port, urlencode(fields).encode()) == (200, b"success")
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=30)
    assert calls.read_text().split() == ["100001"], errors[-2000:]
    inbox = open_inbox(inbox_url)
    (record,) = inbox.get(100001)
    assert (record.status, record.attempts) == (DONE, 1)
    assert "late" in (record.note or "")
    inbox.close()
    assert "could not be recorded" in errors
    assert "recorded late" in errors


def test_sqlite_locked_as_the_handler_returns_never_runs_it_twice(tmp_path):
    inbox_url = f"sqlite:///{tmp_path}/inbox.sqlite3?busy_timeout=0.2&lease=2&busy_wait=0.5"
    outcome_refused_under_gunicorn(inbox_url, tmp_path)


def test_postgres_locked_as_the_handler_returns_never_runs_it_twice(postgres_url, tmp_path):
    outcome_refused_under_gunicorn(postgres_url + "?timeout=0.5&lease=2&busy_wait=0.5", tmp_path)


def test_disk_full_as_the_handler_returns_keeps_the_outcome_until_space_is_back(tiny_disk):
    inbox = SQLiteInbox(tiny_disk / "inbox.sqlite3", lease=1, busy_wait=0.1)
    client = client_for(Recorder(), inbox)
    big = "x" * 20_000  # each outcome write then needs new pages the disk cannot give
    assert deliver(client, notify_fields(order_id="1"))[1] == b"success"  # the file is set up
    filler: list[Path] = []

    def mark_paid(notification):
        filler.append(fill(tiny_disk))

    client = client_for(mark_paid, inbox)
    order = 2
    while not filler:  # until a notify was recorded and its handler then filled the disk
        assert deliver(client, notify_fields(order_id=str(order), extend=big))[1] in (
            b"success",
            b"fail",
        )
        order += 1
    handled = order - 1
    time.sleep(0.5)
    if inbox.status(APPKEY, handled) == DONE:
        pytest.skip("the outcome fit in pages the full disk still had")
    assert inbox.status(APPKEY, handled) == "processing"
    time.sleep(1.2)  # past the lease: the claim is still held, nothing may take it over
    filler[0].unlink()
    deadline = time.monotonic() + 10
    while inbox.status(APPKEY, handled) != DONE:
        assert time.monotonic() < deadline, "the outcome never landed"
        time.sleep(0.05)
    assert deliver(client, notify_fields(order_id=str(handled), extend=big)) == (200, b"success")
    assert len(filler) == 1  # the handler ran once
    assert "late" in (inbox.get(handled)[0].note or "")
    inbox.close()

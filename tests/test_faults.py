"""Faults around the inbox, with real processes and a real (tiny) filesystem.

- the inbox locked by another process past the busy timeout -> 503 ``fail``, no handler;
- the disk full under the inbox (a 4 MiB tmpfs, filled) -> 503 ``fail``, no handler,
  and once space is back the retried notify is handled exactly once.
(A handler raising, a read-only inbox and a worker killed mid-handler are in
test_notify.py, test_inbox.py and test_inbox_processes.py.)
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from werkzeug.test import Client

from gatepay_wsgi import GatePayMiddleware, Notify
from gatepay_wsgi.inbox import SQLiteInbox

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
def tiny_disk() -> Path:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    folder = Path(tempfile.mkdtemp(prefix="gatepay-tiny-"))
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        folder.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
        folder.rmdir()


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
    inbox.close()

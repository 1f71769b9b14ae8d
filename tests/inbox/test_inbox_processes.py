"""The SQLite inbox across real processes: races, a killed worker.

An inbox file the worker cannot write: tests/inbox/test_inbox_startup.py (it refuses to start).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from gatepay_wsgi.inbox import DONE, PROCESSING, SQLiteInbox

from ..gateway import Recorder

WORKER = str(Path(__file__).resolve().parents[1] / "inbox_worker.py")
PROCESSES, THREADS = 4, 8


def start(*args: str, **options) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, WORKER, *args], stdout=subprocess.PIPE, text=True, **options
    )


@pytest.mark.parametrize("round_", range(3))  # races hide: run it several times
def test_same_notify_from_4_processes_x_8_threads_is_handled_once(tmp_path, round_):
    db, calls, go = tmp_path / "inbox.sqlite3", tmp_path / "calls.txt", tmp_path / "go"
    SQLiteInbox(db)  # create the schema once, as a deployment's first start would
    order_id = str(5000 + round_)
    workers = [
        start("race", str(db), order_id, str(calls), str(go), str(THREADS))
        for _ in range(PROCESSES)
    ]
    time.sleep(0.5)  # let every process import and open its inbox
    go.touch()
    answers, exit_codes = [], []
    for worker in workers:  # every one waited for, so none outlives a failure
        out, _ = worker.communicate(timeout=120)  # its stderr is in the captured output
        exit_codes.append(worker.returncode)
        if worker.returncode == 0:
            answers += json.loads(out)
    assert exit_codes == [0] * PROCESSES
    assert len(answers) == PROCESSES * THREADS
    assert {body for _, body in answers} <= {"success", "fail"}
    assert [status for status, _ in answers if status >= 500 and status != 503] == []
    handled = calls.read_text().splitlines()
    assert len(handled) == 1, handled
    (record,) = SQLiteInbox(db).get(int(order_id))
    assert (record.status, record.attempts) == (DONE, 1)


def test_worker_killed_mid_handler_leaves_the_notify_on_disk_for_replay(tmp_path):
    db, started = tmp_path / "inbox.sqlite3", tmp_path / "started"
    worker = start("hang", str(db), str(started))
    deadline = time.monotonic() + 60
    while not started.exists():
        assert time.monotonic() < deadline, "the worker never reached its handler"
        time.sleep(0.01)
    os.kill(worker.pid, signal.SIGKILL)
    worker.communicate(timeout=30)
    inbox = SQLiteInbox(db)
    (record,) = inbox.records()
    assert record.status == PROCESSING
    assert record.raw["paytime"] == "1700000000"
    handler = Recorder()
    assert inbox.replay(handler) == []  # the claim is still live: nobody takes it yet
    time.sleep(1.1)  # the worker's lease was one second
    results = inbox.replay(handler)
    assert [(r.order_id, r.outcome) for r in results] == [(record.order_id, DONE)]
    assert len(handler.calls) == 1
    assert inbox.replay(handler) == []
    assert inbox.get(record.order_id)[0].status == DONE

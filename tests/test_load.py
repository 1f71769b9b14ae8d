"""Load and duplicates over real HTTP: gunicorn, 4 workers, one SQLite inbox.

10,000 notifies for 1,000 orders (each sent 10 times, shuffled, 32 at a time) must end
in exactly 1,000 handler calls, no 5xx, and every answer ``success`` or ``fail``.
"""

from __future__ import annotations

import http.client
import os
import random
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import pytest

from .gateway import notify_fields

pytest.importorskip("gunicorn")
TESTS = Path(__file__).resolve().parent
ORDERS, COPIES, CLIENTS = 1000, 10, 32


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def post(port: int, body: bytes) -> tuple[int, bytes]:
    for attempt in range(5):  # a refused connect while the backlog is full: try again
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request(
                "POST",
                "/gatepay/notify",
                body,
                {"Content-Type": "application/x-www-form-urlencoded"},
            )
            response = connection.getresponse()
            return response.status, response.read()
        except (ConnectionRefusedError, ConnectionResetError):
            time.sleep(0.05 * (attempt + 1))
        finally:
            connection.close()
    return 0, b"no connection"


def test_10k_notifies_for_1k_orders_through_4_gunicorn_workers(tmp_path):
    calls = tmp_path / "calls.txt"
    port = free_port()
    env = {
        **os.environ,
        "GATEPAY_TEST_CALLS": str(calls),
        "GATEPAY_TEST_INBOX": f"sqlite:///{tmp_path}/inbox.sqlite3",
    }
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            "4",
            "-b",
            f"127.0.0.1:{port}",
            "--pythonpath",
            str(TESTS),
            "--backlog",
            "512",
            "--log-level",
            "warning",
            "load_app:app",
        ],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "gunicorn did not start"
                time.sleep(0.1)
        bodies = [
            urlencode(
                notify_fields(order_id=str(10_000 + n), out_order_id=f"L{n}", paytime="1700000000")
            ).encode()
            for n in range(ORDERS)
        ] * COPIES
        random.Random(7).shuffle(bodies)  # noqa: S311  # a repeatable order, not a secret
        started = time.monotonic()
        with ThreadPoolExecutor(CLIENTS) as pool:
            answers = list(pool.map(lambda body: post(port, body), bodies))
        elapsed = time.monotonic() - started
    finally:
        server.terminate()
        _, log = server.communicate(timeout=30)
    statuses = [status for status, _ in answers]
    assert {body for _, body in answers} <= {b"success", b"fail"}, log[-2000:]
    assert [s for s in statuses if s >= 500] == []
    handled = calls.read_text().split()
    assert len(handled) == ORDERS, f"{len(handled)} handler calls for {ORDERS} orders"
    assert len(set(handled)) == ORDERS
    print(
        f"\n{len(bodies)} notifies in {elapsed:.1f}s ({len(bodies) / elapsed:.0f}/s), "
        f"{statuses.count(200)} success"
    )

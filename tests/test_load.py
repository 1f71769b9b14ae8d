"""Load and duplicates over real HTTP: gunicorn, 4 workers, one SQLite inbox.

10,000 notifies for 1,000 orders (each sent 10 times, shuffled, 32 at a time) must end
in exactly 1,000 handler calls, no 5xx, and every answer ``success`` or ``fail``.
"""

from __future__ import annotations

import os
import random
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import pytest

from .gateway import notify_fields
from .servers import free_port, gunicorn, post

pytest.importorskip("gunicorn")
TESTS = Path(__file__).resolve().parent
ORDERS, COPIES, CLIENTS = 1000, 10, 32


def test_10k_notifies_for_1k_orders_through_4_gunicorn_workers(tmp_path):
    calls = tmp_path / "calls.txt"
    port = free_port()
    env = {
        **os.environ,
        "GATEPAY_TEST_CALLS": str(calls),
        "GATEPAY_TEST_INBOX": f"sqlite:///{tmp_path}/inbox.sqlite3",
    }
    server = gunicorn("load_app:app", port, env)
    try:
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

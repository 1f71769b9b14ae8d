"""A forged re-split of a genuine notify, under gunicorn with several workers.

An observer who saw a genuine delivery (say one that met a 503) moves the boundary
between ``order_id`` and a numeric ``out_order_id`` (same sign input, same sign) and
sends it first. The shop declines the unknown order; the genuine notify must still be
handled when the gateway retries it, and the forged copy refused from then on.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from gatepay_wsgi.inbox import DONE, open_inbox

from ..gateway import notify_fields
from ..servers import free_port, gunicorn, post

PAIRS = 40


def forged_first(inbox_url: str, tmp_path) -> None:
    pytest.importorskip("gunicorn")
    calls, orders = tmp_path / "calls.txt", tmp_path / "orders.txt"
    genuine = [
        notify_fields(order_id=f"{9_000_000 + n}", out_order_id=f"{n + 10}345")
        for n in range(PAIRS)
    ]
    orders.write_text("\n".join(f["out_order_id"] for f in genuine))
    env = {
        "GATEPAY_TEST_INBOX": inbox_url,
        "GATEPAY_TEST_CALLS": str(calls),
        "GATEPAY_TEST_ORDERS": str(orders),
    }
    open_inbox(inbox_url).close()
    port = free_port()
    server = gunicorn("load_app:app", port, env, workers=3)
    try:
        for fields in genuine:
            moved = fields["out_order_id"][0]  # its first digit slides into order_id
            forged = {
                **fields,
                "order_id": fields["order_id"] + moved,
                "out_order_id": fields["out_order_id"][1:],
            }
            assert post(port, urlencode(forged).encode()) == (500, b"fail")  # declined
            assert post(port, urlencode(fields).encode()) == (200, b"success")
            assert post(port, urlencode(forged).encode()) == (403, b"fail")
            assert post(port, urlencode(fields).encode()) == (200, b"success")
    finally:
        server.terminate()
        _, errors = server.communicate(timeout=30)
    handled = calls.read_text().split()
    assert sorted(handled) == sorted(f["order_id"] for f in genuine)
    assert errors.count("attempted forgery") == PAIRS
    inbox = open_inbox(inbox_url)
    assert all(inbox.get(int(f["order_id"]))[0].status == DONE for f in genuine)
    assert inbox.stats().rejections == {"reused_sign": PAIRS}
    inbox.close()


def test_sqlite(tmp_path):
    forged_first(f"sqlite:///{tmp_path}/inbox.sqlite3", tmp_path)


def test_postgres(postgres_url, tmp_path):
    forged_first(postgres_url, tmp_path)

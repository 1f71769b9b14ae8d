"""The PostgreSQL inbox across "hosts" and through a server restart.

(The whole inbox contract runs on PostgreSQL too: test_inbox.py is parametrized.)
"""

from __future__ import annotations

import random
import shutil
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import pytest
from werkzeug.test import Client

from gatepay_wsgi import GatePayMiddleware, Notify
from gatepay_wsgi.inbox import InboxUnavailable, open_inbox

from ..gateway import APPKEY, APPSECRET, Recorder, notify_fields
from ..servers import free_port, gunicorn, post

pytest.importorskip("psycopg", reason="the postgres extra is not installed")
ORDERS, COPIES = 1000, 10


def test_two_hosts_share_one_inbox(postgres_url, tmp_path):
    """Two gunicorn servers (two "hosts", 2 workers each) over one database."""
    pytest.importorskip("gunicorn")
    calls = tmp_path / "calls.txt"
    env = {"GATEPAY_TEST_CALLS": str(calls), "GATEPAY_TEST_INBOX": postgres_url}
    open_inbox(postgres_url).close()  # the schema, as a deployment's first start would
    ports = [free_port(), free_port()]
    servers = [gunicorn("load_app:app", port, env, workers=2) for port in ports]
    try:
        bodies = [
            urlencode(
                notify_fields(order_id=str(50_000 + n), out_order_id=f"H{n}", paytime="1700000000")
            ).encode()
            for n in range(ORDERS)
        ] * COPIES
        random.Random(11).shuffle(bodies)  # noqa: S311  # a repeatable order, not a secret
        jobs = [(ports[i % 2], body) for i, body in enumerate(bodies)]  # split across hosts
        with ThreadPoolExecutor(32) as pool:
            answers = list(pool.map(lambda job: post(*job), jobs))
    finally:
        for server in servers:
            server.terminate()
            server.communicate(timeout=30)
    assert {body for _, body in answers} <= {b"success", b"fail"}
    assert [status for status, _ in answers if status >= 500] == []
    handled = calls.read_text().split()
    assert len(handled) == ORDERS, f"{len(handled)} handler calls for {ORDERS} orders"
    assert len(set(handled)) == ORDERS


@pytest.fixture
def own_server(postgres_server):
    """A PostgreSQL server of this test's own, free to be stopped and started."""
    from ..pg import PostgresServer

    folder = Path(tempfile.mkdtemp(prefix="gatepay-pg-"))
    server = PostgresServer(folder, postgres_server.bin).start()
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


def test_a_server_restart_means_fail_meanwhile_and_nothing_lost(own_server):
    url = own_server.new_database()
    handler = Recorder()
    app = GatePayMiddleware(
        lambda e, s: [],
        appkey=APPKEY,
        appsecret=APPSECRET,
        paths={"/n": Notify(handler)},
        inbox=url + "?timeout=2",
    )
    client = Client(app)

    def deliver(fields):
        response = client.post(
            "/n", data=urlencode(fields), content_type="application/x-www-form-urlencoded"
        )
        return response.status_code, response.get_data()

    before, during = notify_fields(order_id="1"), notify_fields(order_id="2")
    assert deliver(before) == (200, b"success")
    own_server.stop()
    for _ in range(3):  # the gateway's retries while the database is down
        assert deliver(during) == (503, b"fail")
    assert [n.order_id for n in handler.calls] == [1]
    own_server.start()
    assert deliver(during) == (200, b"success")  # the retry after the outage
    assert deliver(during) == (200, b"success")
    assert deliver(before) == (200, b"success")
    assert sorted(n.order_id for n in handler.calls) == [1, 2]  # each handled once
    inbox = open_inbox(url)
    assert {r.order_id: r.status for r in inbox.records()} == {1: "done", 2: "done"}
    inbox.close()


def test_postgres_urls_split_our_options_from_libpq_s(postgres_url, capsys):
    inbox = open_inbox(postgres_url + "?lease=7&busy_wait=1&connect_timeout=3")
    assert (inbox.lease, inbox.busy_wait) == (7.0, 1.0)
    inbox.close()
    from gatepay_wsgi.cli import main

    assert main(["inbox", "migrate", "--inbox", postgres_url]) == 0
    assert capsys.readouterr().out == f"inbox ready: {postgres_url}\n"


def test_a_genuine_notify_and_its_re_split_copy_at_once_never_both_run(postgres_url):
    """Claimed at once on two hosts: one runs, the other waits (``busy``); once the first
    succeeded the other is refused, and if it failed the other may run."""
    from gatepay_wsgi.inbox.postgres import PostgresInbox
    from gatepay_wsgi.messages import parse_notification

    hosts = [PostgresInbox(postgres_url), PostgresInbox(postgres_url)]
    try:
        for trial in range(30):
            genuine = notify_fields(order_id=f"7{trial:03d}", out_order_id=f"0X{trial}")
            shifted = {**genuine, "order_id": f"7{trial:03d}0", "out_order_id": f"X{trial}"}
            notifications = [parse_notification(f, appkey=APPKEY) for f in (genuine, shifted)]
            pairs = list(zip(hosts, notifications, strict=True))
            with ThreadPoolExecutor(2) as pool:
                claims = list(pool.map(lambda pair: pair[0].claim(pair[1]), pairs))
            assert sorted(claim.outcome for claim in claims) == ["busy", "run"], trial
            ran = [c.outcome for c in claims].index("run")
            succeeded = trial % 2 == 0
            assert hosts[ran].finish(claims[ran], ok=succeeded)
            waiting_host, waiting = pairs[1 - ran]
            again = waiting_host.claim(waiting)
            assert again.outcome == ("reused_sign" if succeeded else "run"), trial
            if not succeeded:
                assert waiting_host.finish(again, ok=True)
    finally:
        for inbox in hosts:
            inbox.close()


def test_a_schema_1_database_is_upgraded_and_knows_what_was_handled(postgres_url):
    import psycopg

    from gatepay_wsgi.inbox.postgres import SCHEMA
    from gatepay_wsgi.inbox.records import dump_fields

    genuine = notify_fields(order_id="9876543", out_order_id="12345")
    with psycopg.connect(postgres_url) as connection:
        for statement in SCHEMA:
            if "run_sign" not in statement and "ADD COLUMN" not in statement:
                connection.execute(statement)  # what the previous release created
        connection.execute("INSERT INTO gatepay_schema VALUES (1)")
        connection.execute(
            "INSERT INTO gatepay_notifies (appkey, order_id, out_order_id, status, raw, sign, "
            "received_at, attempts, updated_at) VALUES (%s, 9876543, '12345', 'done', %s, %s, "
            "1, 1, 1)",
            (APPKEY, dump_fields(genuine), genuine["sign"]),
        )
    handler = Recorder()
    app = GatePayMiddleware(
        lambda e, s: [],
        appkey=APPKEY,
        appsecret=APPSECRET,
        paths={"/n": Notify(handler)},
        inbox=postgres_url,
    )
    client = Client(app)
    shifted = {**genuine, "order_id": "98765431", "out_order_id": "2345"}
    for fields, answer in ((genuine, 200), (shifted, 403)):
        response = client.post(
            "/n", data=urlencode(fields), content_type="application/x-www-form-urlencoded"
        )
        assert response.status_code == answer
    assert handler.calls == []
    with psycopg.connect(postgres_url) as connection:
        assert connection.execute("SELECT version FROM gatepay_schema").fetchall() == [(5,)]
        assert connection.execute("SELECT * FROM gatepay_sign_in_failures").fetchall() == []


def test_a_restart_as_the_handler_returns_keeps_the_outcome_until_the_server_is_back(
    own_server,
):
    """The server goes down as the handler returns and stays down past the claim's lease;
    the outcome kept in the process lands once it is back, and the handler never runs
    again. Waits on what it needs (the lease's end, the server back, the pool
    reconnected), never on a guess of how long a loaded machine takes (issue 26: a fixed
    wait failed with PoolTimeout once at load 6)."""
    url = own_server.new_database()
    calls, lease_ends = [], []
    inbox = open_inbox(url + "?timeout=1&lease=2&busy_wait=0.2")

    def mark_paid(notification):
        calls.append(notification.order_id)
        (held,) = inbox.get(notification.order_id)  # its lease, on the database's clock
        lease_ends.append(held.lease_until)
        own_server.stop()  # the database restarts just as the handler returns

    app = GatePayMiddleware(
        lambda e, s: [],
        appkey=APPKEY,
        appsecret=APPSECRET,
        paths={"/n": Notify(mark_paid)},
        inbox=inbox,
    )
    client = Client(app)
    body = urlencode(notify_fields(paytime="1700000000"))
    ctype = "application/x-www-form-urlencoded"
    assert client.post("/n", data=body, content_type=ctype).get_data() == b"success"
    assert client.post("/n", data=body, content_type=ctype).get_data() == b"success"  # kept
    while time.time() <= lease_ends[0] + 0.5:  # the outage outlasts the lease (one clock)
        time.sleep(0.1)
    own_server.start()  # pg_ctl -w: accepting connections when it returns
    deadline = time.monotonic() + 60

    def once_reachable(action):
        """``action()``, again while the pool reconnects after the restart."""
        while True:
            try:
                return action()
            except InboxUnavailable:
                assert time.monotonic() < deadline, "the inbox never came back"
                time.sleep(0.1)

    while once_reachable(lambda: inbox.status(APPKEY, 100001)) != "done":
        assert time.monotonic() < deadline, "the outcome never landed"
        time.sleep(0.1)
    resent = urlencode(notify_fields(paytime="1700000999"))
    # The gateway's retry: a 503 while a pooled connection reconnects is retried as it is.
    while (answer := client.post("/n", data=resent, content_type=ctype)).status_code == 503:
        assert time.monotonic() < deadline, "the re-sent notify was never answered"
        time.sleep(0.1)
    assert answer.get_data() == b"success"
    assert calls == [100001]
    (record,) = once_reachable(lambda: inbox.get(100001))
    assert record.attempts == 1
    assert "late" in (record.note or "")
    inbox.close()


def test_a_table_locked_briefly_at_start_up_only_delays_the_start(postgres_url):
    """A worker booting while another session holds a lock for a moment must still boot."""
    import threading

    import psycopg

    open_inbox(postgres_url).close()
    locked, releasing = threading.Event(), threading.Event()

    def hold() -> None:
        with psycopg.connect(postgres_url) as connection:
            connection.execute("LOCK TABLE gatepay_notifies IN ACCESS EXCLUSIVE MODE")
            locked.set()
            time.sleep(1.5)
            releasing.set()  # the lock goes as this block ends (the transaction commits)

    holder = threading.Thread(target=hold)
    holder.start()
    assert locked.wait(10)
    inbox = open_inbox(postgres_url + "?timeout=0.3")  # waits past its 0.3 s for the lock
    assert releasing.is_set()  # it started only once the lock was being let go
    inbox.close()
    holder.join()

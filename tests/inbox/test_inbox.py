"""The inbox contract through real WSGI calls, on the memory and the SQLite inbox."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlencode

import pytest
from werkzeug.test import Client

from gatepay_wsgi import GatePayMiddleware, Notify
from gatepay_wsgi.errors import ConfigError
from gatepay_wsgi.inbox import (
    DONE,
    FAILED,
    PROCESSING,
    RUN,
    Delivered,
    InboxUnavailable,
    MemoryInbox,
    SQLiteInbox,
    open_inbox,
)
from gatepay_wsgi.inbox.sqlite import SCHEMA_VERSION
from gatepay_wsgi.messages import parse_notification

from ..gateway import APPKEY, APPSECRET, Recorder, notify_fields

PATH = "/gatepay/notify"


def shop(environ, start_response):
    start_response("200 OK", [])
    return [b"shop"]


def client_for(handler, inbox) -> Client:
    app = GatePayMiddleware(
        shop, appkey=APPKEY, appsecret=APPSECRET, paths={PATH: Notify(handler)}, inbox=inbox
    )
    return Client(app)


def deliver(client: Client, fields) -> tuple[int, bytes]:
    response = client.post(
        PATH, data=urlencode(fields), content_type="application/x-www-form-urlencoded"
    )
    return response.status_code, response.get_data()


def test_duplicate_is_handled_once(make_inbox):
    handler, inbox = Recorder(), make_inbox()
    client = client_for(handler, inbox)
    fields = notify_fields()
    assert deliver(client, fields) == (200, b"success")
    assert deliver(client, fields) == (200, b"success")
    assert len(handler.calls) == 1
    (record,) = inbox.get(100001)
    assert (record.status, record.attempts, record.appkey) == (DONE, 1, APPKEY)
    assert dict(record.raw) == fields


def test_record_is_committed_before_the_handler_runs(make_inbox):
    inbox = make_inbox()
    seen = []

    def handler(notification):
        seen.append(inbox.status(notification.appkey, notification.order_id))

    assert deliver(client_for(handler, inbox), notify_fields())[1] == b"success"
    assert seen == [PROCESSING]


def test_failed_handler_is_kept_with_its_error_and_redelivery_handles_it(make_inbox):
    handler, inbox = Recorder(error=RuntimeError("db down")), make_inbox()
    client = client_for(handler, inbox)
    fields = notify_fields()
    assert deliver(client, fields) == (500, b"fail")
    (record,) = inbox.get(100001)
    assert record.status == FAILED
    assert record.last_error == "RuntimeError: db down"
    handler.error = None
    assert deliver(client, fields) == (200, b"success")
    assert len(handler.calls) == 2
    (record,) = inbox.get(100001)
    assert (record.status, record.attempts, record.last_error) == (DONE, 2, None)


def test_declined_handler_is_failed(make_inbox):
    inbox = make_inbox()
    assert deliver(client_for(Recorder(answer=False), inbox), notify_fields()) == (500, b"fail")
    assert inbox.get(100001)[0].last_error == "handler returned False"


def test_resend_with_new_fields_after_done_is_kept_not_handled(make_inbox, caplog):
    handler, inbox = Recorder(), make_inbox()
    client = client_for(handler, inbox)
    deliver(client, notify_fields(paytime="1700000000"))
    with caplog.at_level(logging.WARNING, logger="gatepay_wsgi"):
        assert deliver(client, notify_fields(paytime="1700000999")) == (200, b"success")
    assert len(handler.calls) == 1
    assert "delivered again with other signed fields" in caplog.text
    (record,) = inbox.get(100001)
    assert record.raw["paytime"] == "1700000000"
    assert record.deliveries == 2
    if make_inbox.kind == "sqlite":
        assert record.other_deliveries[0]["raw"]["paytime"] == "1700000999"


def test_dedupe_is_per_appkey(make_inbox):
    handler, inbox = Recorder(), make_inbox()
    app = GatePayMiddleware(
        shop,
        paths={
            "/a": Notify(handler, appkey="ka", appsecret="sa"),
            "/b": Notify(handler, appkey="kb", appsecret="sb"),
        },
        inbox=inbox,
    )
    client = Client(app)
    ctype = "application/x-www-form-urlencoded"
    for path, key, secret in [("/a", "ka", "sa"), ("/b", "kb", "sb"), ("/a", "ka", "sa")]:
        body = urlencode(notify_fields(appkey=key, secret=secret))
        assert client.post(path, data=body, content_type=ctype).get_data() == b"success"
    assert [n.appkey for n in handler.calls] == ["ka", "kb"]


def test_concurrent_delivery_waits_for_the_first_outcome(make_inbox):
    inbox = make_inbox(busy_wait=10)
    started, release = threading.Event(), threading.Event()
    calls = []

    def slow(notification):
        calls.append(notification.order_id)
        started.set()
        release.wait(10)

    client = client_for(slow, inbox)
    answers = []
    first = threading.Thread(target=lambda: answers.append(deliver(client, notify_fields())))
    first.start()
    assert started.wait(5)
    second = threading.Thread(target=lambda: answers.append(deliver(client, notify_fields())))
    second.start()
    time.sleep(0.2)
    assert second.is_alive()  # waiting, not running a second handler
    release.set()
    first.join(10)
    second.join(10)
    assert answers == [(200, b"success"), (200, b"success")]
    assert calls == [100001]


@pytest.mark.parametrize("ok", [True, False])
def test_a_delivery_waiting_for_another_workers_run_answers_as_that_run_ended(make_inbox, ok):
    """The waited-for run's outcome is the answer: ``success`` only if it succeeded."""
    # A wait far longer than the test: the waiting delivery answers once the run ends.
    first_worker = make_inbox(busy_wait=120)
    # Another worker of the same shop: its own inbox object over the same store.
    second_worker = first_worker if make_inbox.kind == "memory" else make_inbox(busy_wait=120)
    started, release = threading.Event(), threading.Event()
    calls = []

    def slow(notification):
        calls.append(notification.order_id)
        started.set()
        release.wait(10)
        if not ok:
            raise RuntimeError("db down")

    answers = {}
    first = threading.Thread(
        target=lambda: answers.update(
            first=deliver(client_for(slow, first_worker), notify_fields())
        )
    )
    first.start()
    assert started.wait(5)
    second = threading.Thread(
        target=lambda: answers.update(
            second=deliver(client_for(slow, second_worker), notify_fields())
        )
    )
    second.start()
    time.sleep(0.2)
    assert second.is_alive()  # waiting for the first run, not running a second handler
    release.set()
    first.join(10)
    second.join(30)
    assert not second.is_alive()  # answered when the run ended, not at busy_wait's end
    if ok:
        assert answers == {"first": (200, b"success"), "second": (200, b"success")}
    else:
        assert answers == {"first": (500, b"fail"), "second": (503, b"fail")}
    assert calls == [100001]


def test_a_delivery_waiting_for_another_worker_answers_fail_when_the_inbox_goes(make_inbox):
    """While it waits for the other worker's outcome the inbox becomes unreadable: it
    cannot know that outcome, so ``fail`` (503) and the gateway retries."""
    if make_inbox.kind == "memory":
        pytest.skip("a memory inbox is never unreadable")
    first_worker, second_worker = make_inbox(busy_wait=120), make_inbox(busy_wait=120)
    started, release = threading.Event(), threading.Event()

    def slow(notification):
        started.set()
        release.wait(10)

    first = threading.Thread(target=deliver, args=(client_for(slow, first_worker), notify_fields()))
    first.start()
    assert started.wait(5)
    reads = []

    def status(appkey, order_id):
        reads.append(order_id)
        raise InboxUnavailable("database is locked")

    second_worker.status = status
    try:
        assert deliver(client_for(Recorder(), second_worker), notify_fields()) == (503, b"fail")
    finally:
        release.set()
        first.join(10)
    assert reads  # it was the wait that found the inbox gone
    assert first_worker.status(APPKEY, 100001) == DONE


def refusing_outcomes(inbox):
    """Make ``inbox`` refuse every outcome write while the returned event is set; the
    list counts the tries."""
    refuse, tries = threading.Event(), []
    refuse.set()
    really_finish = inbox.finish

    def finish(claim, **outcome):
        tries.append(claim.order_id)
        if refuse.is_set():
            raise InboxUnavailable("database or disk is full")
        return really_finish(claim, **outcome)

    inbox.finish = finish
    return refuse, tries


@pytest.mark.parametrize("ok", [True, False])
def test_a_delivery_answered_from_an_outcome_still_to_be_written(make_inbox, ok):
    """The handler returned, the inbox refused its outcome (kept in the process, written
    later): a delivery meanwhile gets ``success`` only if that outcome is a success, and
    never runs the handler beside it."""
    if make_inbox.kind == "memory":
        pytest.skip("a memory inbox never refuses a write")
    from gatepay_wsgi.inbox.outcomes import OutcomeWriter

    inbox = make_inbox(busy_wait=0.3)
    refuse, _ = refusing_outcomes(inbox)
    handler = Recorder(answer=None if ok else False)
    client = client_for(handler, inbox)
    answer = (200, b"success") if ok else (500, b"fail")
    assert deliver(client, notify_fields()) == answer
    assert OutcomeWriter.outcome(inbox, APPKEY, 100001) is ok  # kept, not written yet
    again = deliver(client, notify_fields())
    assert again == ((200, b"success") if ok else (503, b"fail"))
    assert len(handler.calls) == 1
    refuse.clear()
    assert OutcomeWriter.for_this_process().wait(inbox, APPKEY, 100001, 10)
    assert inbox.status(APPKEY, 100001) == (DONE if ok else FAILED)


def test_close_writes_an_outcome_kept_in_the_background_at_once(make_inbox):
    """The inbox refused the outcome, then came back: ``close()`` writes it before it
    returns, rather than leaving it to a background try due up to seconds later."""
    if make_inbox.kind == "memory":
        pytest.skip("a memory inbox never refuses a write")
    from gatepay_wsgi.inbox.outcomes import OutcomeWriter

    inbox, reader = make_inbox(), make_inbox()
    refuse, tries = refusing_outcomes(inbox)
    assert deliver(client_for(Recorder(), inbox), notify_fields()) == (200, b"success")
    deadline = time.monotonic() + 10
    while len(tries) < 6 and time.monotonic() < deadline:  # the backoff grows to ~1 s
        time.sleep(0.05)
    refuse.clear()
    inbox.close()
    assert OutcomeWriter.outcome(inbox, APPKEY, 100001) is None
    assert reader.status(APPKEY, 100001) == DONE


def test_close_gives_up_an_outcome_it_cannot_write_and_leaves_the_inbox_alone(
    make_inbox, monkeypatch, caplog
):
    """The inbox still refuses at ``close()``: after a few seconds of tries it says what
    was never written and stops; no thread of the process touches the inbox again (a
    closed SQLite inbox whose file is gone must not be created anew)."""
    if make_inbox.kind == "memory":
        pytest.skip("a memory inbox never refuses a write")
    from gatepay_wsgi.inbox import outcomes
    from gatepay_wsgi.inbox.leases import LeaseKeeper

    monkeypatch.setattr(outcomes, "AT_EXIT", 0.5)
    inbox = make_inbox(lease=0.3)
    renewals = []
    really_renew = inbox.renew
    inbox.renew = lambda claims: renewals.append(claims) or really_renew(claims)
    _, tries = refusing_outcomes(inbox)  # for good
    assert deliver(client_for(Recorder(), inbox), notify_fields()) == (200, b"success")
    with caplog.at_level(logging.ERROR, logger="gatepay_wsgi"):
        inbox.close()
    assert "NEVER recorded order_id=100001" in caplog.text
    assert outcomes.OutcomeWriter.outcome(inbox, APPKEY, 100001) is None
    assert not [key for key in LeaseKeeper.for_this_process().held if key[0] == id(inbox)]
    tried, renewed = len(tries), len(renewals)
    time.sleep(0.5)  # longer than a retry's backoff here and than a third of the lease
    assert (len(tries), len(renewals)) == (tried, renewed)


def test_concurrent_delivery_gives_up_after_busy_wait(make_inbox):
    inbox = make_inbox(busy_wait=0.2)
    started, release = threading.Event(), threading.Event()

    def slow(notification):
        started.set()
        release.wait(10)

    client = client_for(slow, inbox)
    first = threading.Thread(target=deliver, args=(client, notify_fields()))
    first.start()
    assert started.wait(5)
    try:
        assert deliver(client, notify_fields()) == (503, b"fail")
    finally:
        release.set()
        first.join(10)
    assert inbox.get(100001)[0].status == DONE


def test_stale_claim_is_taken_over_after_the_lease(make_inbox, caplog):
    inbox = make_inbox(lease=0.3, busy_wait=0.05)
    fields = notify_fields()
    notification = parse_notification(fields, appkey=APPKEY)
    dead = inbox.claim(notification, remote_addr="10.0.0.1")  # a worker that then died
    assert dead.outcome == RUN
    handler = Recorder()
    client = client_for(handler, inbox)
    assert deliver(client, fields) == (503, b"fail")  # the claim is still live
    assert handler.calls == []
    time.sleep(0.35)
    with caplog.at_level(logging.WARNING, logger="gatepay_wsgi"):
        assert deliver(client, fields) == (200, b"success")
    assert "stale claim taken over" in caplog.text
    assert len(handler.calls) == 1
    assert inbox.finish(dead, ok=True) is False  # the dead worker's claim is gone


def test_restart_knows_what_is_done(tmp_path):
    path = tmp_path / "inbox.sqlite3"
    first = Recorder()
    assert deliver(client_for(first, f"sqlite:///{path}"), notify_fields())[1] == b"success"
    second = Recorder()
    assert deliver(client_for(second, f"sqlite:///{path}"), notify_fields())[1] == b"success"
    assert (len(first.calls), len(second.calls)) == (1, 0)


def test_replay_api(make_inbox):
    inbox = make_inbox()
    client = client_for(Recorder(error=RuntimeError("down")), inbox)
    deliver(client, notify_fields(order_id="1"))
    deliver(client, notify_fields(order_id="2"))
    client_for(Recorder(), inbox)  # a healthy worker could now take them
    deliver(client_for(Recorder(), inbox), notify_fields(order_id="3"))
    replayed = Recorder()
    results = inbox.replay(replayed)
    assert sorted((r.order_id, r.outcome) for r in results) == [(1, "done"), (2, "done")]
    assert sorted(n.order_id for n in replayed.calls) == [1, 2]
    assert inbox.replay(replayed) == []
    explicit = inbox.replay(replayed, [3, 99])
    assert [(r.order_id, r.outcome) for r in explicit] == [(3, "skipped"), (99, "missing")]
    assert len(replayed.calls) == 2


@pytest.mark.parametrize("order_id", [2**63, 10**20, -1, -(2**63) - 1])
def test_an_order_id_no_notify_can_have_is_no_such_notify(make_inbox, order_id):
    # A person types it (console, CLI): outside what any notify carries (0 to 2**63 - 1),
    # it is "no such notify" on every backend, never an OverflowError from the driver.
    inbox = make_inbox()
    deliver(client_for(Recorder(answer=False), inbox), notify_fields())
    handler = Recorder()
    assert inbox.get(order_id) == []
    assert inbox.get(order_id, APPKEY) == []
    assert inbox.status(APPKEY, order_id) is None
    assert inbox.reclaim(APPKEY, order_id) is None
    assert inbox.search(order_id=order_id) == []
    (result,) = inbox.replay(handler, [order_id])
    assert (result.order_id, result.outcome) == (order_id, "missing")
    assert handler.calls == []
    assert inbox.status(APPKEY, 100001) == FAILED  # the real one untouched


def test_replay_that_fails_again_keeps_it_failed(make_inbox):
    inbox = make_inbox()
    deliver(client_for(Recorder(answer=False), inbox), notify_fields())
    (result,) = inbox.replay(Recorder(error=ValueError("still down")))
    assert (result.outcome, result.error) == (FAILED, "ValueError: still down")
    assert inbox.get(100001)[0].attempts == 2


def test_rejections_are_counted_and_bounded(make_inbox):
    inbox = make_inbox(keep_rejections=5)
    client = client_for(Recorder(), inbox)
    for i in range(12):
        deliver(client, notify_fields(secret=f"guess{i}"))
    deliver(client, {"order_id": "1"})
    stats = inbox.stats()
    assert stats.rejections == {"bad_signature": 12, "missing_field": 1}
    kept = inbox.rejections()
    assert len(kept) == 5
    assert kept[0].reason == "missing_field"
    assert kept[1].order_id == "100001"


def test_stats_and_records(make_inbox):
    inbox = make_inbox()
    deliver(client_for(Recorder(), inbox), notify_fields(order_id="1"))
    deliver(client_for(Recorder(answer=False), inbox), notify_fields(order_id="2"))
    assert dict(inbox.stats().by_status) == {DONE: 1, FAILED: 1}
    assert [r.order_id for r in inbox.records(FAILED)] == [2]
    assert {r.order_id for r in inbox.records()} == {1, 2}


def test_no_inbox_warns_once_at_start_up(caplog):
    with caplog.at_level(logging.WARNING, logger="gatepay_wsgi"):
        app = GatePayMiddleware(
            shop,
            appkey=APPKEY,
            appsecret=APPSECRET,
            paths={"/a": Notify(Recorder()), "/b": Notify(Recorder())},
        )
    assert caplog.text.count("not durable") + caplog.text.count("memory only") == 1
    assert isinstance(app.inbox, MemoryInbox)


@contextmanager
def write_locked(path):
    """Another connection holds ``path``'s write lock (an exclusive transaction) inside."""
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        yield
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()


def test_locked_inbox_answers_fail_without_the_handler(tmp_path, caplog):
    path = tmp_path / "locked.sqlite3"
    inbox = SQLiteInbox(path, busy_timeout=0.2)
    handler = Recorder()
    client = client_for(handler, inbox)
    with write_locked(path), caplog.at_level(logging.ERROR, logger="gatepay_wsgi"):
        assert deliver(client, notify_fields()) == (503, b"fail")
    assert handler.calls == []
    assert "reason=inbox_unavailable" in caplog.text
    assert deliver(client, notify_fields()) == (200, b"success")
    assert len(handler.calls) == 1


def test_locked_inbox_answers_every_waiting_thread_fail_within_busy_timeout(tmp_path):
    """Eight threads of one process deliver while another process holds the write lock:
    one waits in SQLite's own handler, the others queue in the process for their turn;
    each is answered ``fail`` (503) after about ``busy_timeout``, not after eight of
    them, and none runs the handler. Then each gets its turn."""
    path = tmp_path / "locked.sqlite3"
    inbox = SQLiteInbox(path, busy_timeout=0.3)
    handler = Recorder()
    client = client_for(handler, inbox)
    answers, waited = [], []

    def one(order_id):
        began = time.monotonic()
        answers.append(deliver(client, notify_fields(order_id=str(order_id))))
        waited.append(time.monotonic() - began)

    threads = [threading.Thread(target=one, args=(100001 + n,)) for n in range(8)]
    with write_locked(path):
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert answers == [(503, b"fail")] * 8
    assert handler.calls == []
    assert max(waited) < 0.3 * 8  # each waited once, not for every thread before it
    threads = [threading.Thread(target=one, args=(100001 + n,)) for n in range(8)]
    answers.clear()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert answers == [(200, b"success")] * 8
    assert len(handler.calls) == 8


def test_a_writer_that_never_gets_its_turn_in_the_process_answers_fail(tmp_path, caplog):
    """The process's queue for the write lock is held past ``busy_timeout`` (a writer
    stuck ahead of it): ``fail`` (503), the handler not run, the log says why."""
    from gatepay_wsgi.inbox import sqlite as sqlite_module

    path = tmp_path / "queued.sqlite3"
    inbox = SQLiteInbox(path, busy_timeout=0.2)
    handler = Recorder()
    client = client_for(handler, inbox)
    assert deliver(client, notify_fields(order_id="1")) == (200, b"success")  # makes the gate
    gate = sqlite_module._write_gates[(os.getpid(), inbox.path)]
    with gate, caplog.at_level(logging.ERROR, logger="gatepay_wsgi"):
        assert deliver(client, notify_fields(order_id="2")) == (503, b"fail")
    assert "other writers waited longer than busy_timeout" in caplog.text
    assert [n.order_id for n in handler.calls] == [1]
    assert deliver(client, notify_fields(order_id="2")) == (200, b"success")


def test_unwritable_directory_at_start_up_is_a_clear_error(tmp_path):
    with pytest.raises(InboxUnavailable, match="missing-dir does not exist"):
        SQLiteInbox(tmp_path / "missing-dir" / "x.sqlite3")


def test_sqlite_settings(tmp_path):
    full = SQLiteInbox(tmp_path / "a.sqlite3")
    relaxed = open_inbox(f"sqlite:///{tmp_path}/b.sqlite3?synchronous=normal&lease=30")
    assert isinstance(relaxed, SQLiteInbox)
    for inbox, level in [(full, 2), (relaxed, 1)]:
        with inbox._statements("inspect") as connection:  # the pooled connections' settings
            assert connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)
            assert connection.execute("PRAGMA synchronous").fetchone() == (level,)
            assert connection.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    full.record_rejection("probe")  # written relaxed, then the connection is FULL again
    with full._statements("inspect") as connection:
        assert connection.execute("PRAGMA synchronous").fetchone() == (2,)
    assert relaxed.lease == 30


def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "future.sqlite3"
    connection = sqlite3.connect(path)
    connection.execute("PRAGMA user_version = 99")
    connection.close()
    with pytest.raises(InboxUnavailable, match="newer"):
        SQLiteInbox(path)


@pytest.mark.parametrize(
    ("url", "path"),
    [
        ("sqlite:///relative.sqlite3", "relative.sqlite3"),
        ("sqlite:///sub/dir.sqlite3", "sub/dir.sqlite3"),
        ("sqlite:////ABS/gatepay.sqlite3", "/ABS/gatepay.sqlite3"),
    ],
)
def test_sqlite_urls_as_sqlalchemy_writes_them(url, path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sub").mkdir()
    (tmp_path / "ABS").mkdir()
    url = url.replace("////ABS", f"///{tmp_path}/ABS")
    inbox = open_inbox(url)
    assert isinstance(inbox, SQLiteInbox)
    assert inbox.path == path.replace("/ABS", f"{tmp_path}/ABS")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite://", "sqlite:///relative"),
        ("sqlite:///", "sqlite:///relative"),
        ("sqlite://host/x", "sqlite:///relative"),
        ("redis://x", "unsupported scheme"),
        ("memory://?nope=1", "unknown option"),
        ("sqlite:///x.sqlite3?lease=soon", "seconds"),
        ("sqlite:///x.sqlite3?busy_wait=-1", "busy_wait must be 0 seconds or more"),
        ("sqlite:///x.sqlite3?busy_timeout=-0.5", "busy_timeout must be 0 seconds or more"),
        ("sqlite:///x.sqlite3?lease=0", "lease must be more than 0 seconds"),
        ("memory://?lease=nan", "lease must be more than 0 seconds"),
        ("memory://?busy_wait=inf", "busy_wait must be 0 seconds or more"),
        ("postgresql://u@127.0.0.1:1/db?timeout=0", "timeout must be more than 0 seconds"),
        ("sqlite:///x.sqlite3?synchronous=off", "synchronous"),
        # urlsplit reads these like sqlite:///x.sqlite3; the framework settings refused
        # them while a Python argument made ./x.sqlite3 (a spec-only suite found it).
        ("sqlite:/x.sqlite3", "not an inbox URL"),
        ("sqlite:x.sqlite3", "not an inbox URL"),
        ("postgresql:/db", "not an inbox URL"),
    ],
)
def test_bad_inbox_urls(url, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=message):
        open_inbox(url)
    assert list(tmp_path.iterdir()) == []  # nothing created


def test_inbox_must_be_a_url_or_an_inbox():
    with pytest.raises(TypeError, match="URL or an Inbox"):
        open_inbox(42)  # type: ignore[arg-type]


def test_cli_does_not_create_a_missing_file(tmp_path):
    with pytest.raises(InboxUnavailable, match="no inbox"):
        open_inbox(f"sqlite:///{tmp_path}/typo.sqlite3", create=False)


def _open_files_to(path) -> int:
    fds = Path("/proc/self/fd")
    return sum(1 for fd in fds.iterdir() if str(path) in str(fd.resolve(strict=False)))


def test_a_thread_per_request_server_does_not_leak_connections(tmp_path):
    if not Path("/proc/self/fd").exists():
        pytest.skip("needs /proc to count open files")
    db = tmp_path / "pool.sqlite3"
    client = client_for(Recorder(), f"sqlite:///{db}")

    def deliveries(first: int, last: int) -> None:
        for order_id in range(first, last):  # each in a thread of its own, like wsgiref's
            fields = notify_fields(order_id=str(order_id))
            thread = threading.Thread(target=deliver, args=(client, fields))
            thread.start()
            thread.join()

    deliveries(1, 11)
    after_ten = _open_files_to(db)
    deliveries(11, 51)
    assert _open_files_to(db) == after_ten  # no file (connection) per thread
    assert after_ten <= 5  # one pooled connection (db, -wal, -shm), and SQLite's deferred
    # close of the schema check's connection (POSIX locks keep its descriptors a while)


def test_a_slow_handler_keeps_its_claim(make_inbox):
    inbox = make_inbox(lease=0.3, busy_wait=5)
    started, calls = threading.Event(), []

    def slow(notification):
        calls.append(notification.order_id)
        started.set()
        time.sleep(1.0)  # three leases long: renewed all along

    client = client_for(slow, inbox)
    first = threading.Thread(target=deliver, args=(client, notify_fields()))
    first.start()
    assert started.wait(5)
    time.sleep(0.5)  # past the first lease
    assert deliver(client, notify_fields()) == (200, b"success")  # waited, did not take over
    first.join(5)
    assert calls == [100001]


def test_a_genuine_sign_with_fields_re_split_is_refused(make_inbox, caplog):
    handler, inbox = Recorder(), make_inbox()
    client = client_for(handler, inbox)
    genuine = notify_fields(order_id="12", out_order_id="345")
    shifted = {**genuine, "order_id": "123", "out_order_id": "45"}  # same sign input
    assert deliver(client, genuine) == (200, b"success")
    with caplog.at_level(logging.WARNING, logger="gatepay_wsgi"):
        assert deliver(client, shifted) == (403, b"fail")
    assert "reason=reused_sign" in caplog.text
    assert [n.order_id for n in handler.calls] == [12]
    assert inbox.stats().rejections == {"reused_sign": 1}


def test_unsigned_extras_and_sign_case_do_not_make_a_new_delivery(make_inbox):
    handler, inbox = Recorder(), make_inbox()
    client = client_for(handler, inbox)
    fields = notify_fields()
    deliver(client, fields)
    assert deliver(client, {**fields, "junk": "x" * 1000}) == (200, b"success")
    assert deliver(client, {**fields, "sign": fields["sign"].upper()}) == (200, b"success")
    (record,) = inbox.get(100001)
    assert record.deliveries == 1
    assert "junk" not in record.raw
    assert len(handler.calls) == 1


def test_re_sends_kept_are_capped(make_inbox):
    inbox = make_inbox()
    client = client_for(Recorder(), inbox)
    for second in range(40):
        assert deliver(client, notify_fields(paytime=str(1700000000 + second)))[1] == b"success"
    assert inbox.get(100001)[0].deliveries == 21


def test_memory_inbox_forgets_the_oldest_done_records():
    inbox = MemoryInbox(max_records=10)
    client = client_for(Recorder(), inbox)
    for order_id in range(1, 31):
        deliver(client, notify_fields(order_id=str(order_id)))
    assert len(inbox.records(limit=100)) <= 10
    assert inbox.get(30)


def test_many_refusals_are_all_counted(make_inbox):
    inbox = make_inbox()
    client = client_for(Recorder(), inbox)
    for i in range(250):
        deliver(client, notify_fields(secret=f"guess{i}"))
    assert inbox.stats().rejections == {"bad_signature": 250}
    assert len(inbox.rejections(limit=1000)) == 250


def test_a_short_lease_is_renewed_while_a_long_one_is_also_held(tmp_path):
    # SQLite: the lease keeper renews durable inboxes (a memory inbox needs no renewals).
    long_lived = SQLiteInbox(tmp_path / "long.sqlite3", lease=120)
    short = SQLiteInbox(tmp_path / "short.sqlite3", lease=0.6, busy_wait=5)
    held = long_lived.claim(parse_notification(notify_fields(order_id="1"), appkey=APPKEY))
    started, calls = threading.Event(), []

    def slow(notification):
        calls.append(notification.order_id)
        started.set()
        time.sleep(2.0)  # three short leases long

    with long_lived.holding(held):  # the keeper now sleeps toward a 40 s renewal
        client = client_for(slow, short)
        first = threading.Thread(target=deliver, args=(client, notify_fields(order_id="2")))
        first.start()
        assert started.wait(5)
        time.sleep(1.0)  # past the short lease
        assert deliver(client, notify_fields(order_id="2")) == (200, b"success")
        first.join(5)
    assert calls == [2]


def test_the_lease_keeper_survives_a_renewal_that_raises(tmp_path):
    from gatepay_wsgi.inbox.leases import LeaseKeeper

    class Broken(SQLiteInbox):
        def renew(self, claims):
            raise RuntimeError("a bug in a backend")

    broken = Broken(tmp_path / "broken.sqlite3", lease=0.3)
    healthy = SQLiteInbox(tmp_path / "healthy.sqlite3", lease=0.3)
    bad = broken.claim(parse_notification(notify_fields(order_id="1"), appkey=APPKEY))
    good = healthy.claim(parse_notification(notify_fields(order_id="2"), appkey=APPKEY))
    with broken.holding(bad), healthy.holding(good):
        time.sleep(1.0)  # several renewals: the broken one fails each time
        assert LeaseKeeper.for_this_process().thread.is_alive()
        assert healthy.status(APPKEY, 2) == PROCESSING
        assert healthy.reclaim(APPKEY, 2)[0].outcome == "busy"  # still renewed, not stale


# -- a sign with another field set: never a lock-out, never a second winner ------------

GENUINE_IDS = {"order_id": "9876543", "out_order_id": "12345"}
SHIFTED_IDS = {"order_id": "98765431", "out_order_id": "2345"}  # same sign input


class Shop:
    """A handler that checks its own orders, as the README asks: unknown orders decline."""

    def __init__(self, orders=("12345",), extend="张三 13800138000") -> None:
        self.orders, self.extend = set(orders), extend
        self.calls: list = []

    def __call__(self, notification):
        self.calls.append((notification.order_id, notification.out_order_id))
        return notification.out_order_id in self.orders and notification.extend == self.extend


def test_a_forged_re_split_arriving_first_never_locks_out_the_genuine_notify(make_inbox, caplog):
    shop_handler, inbox = Shop(), make_inbox()
    client = client_for(shop_handler, inbox)
    genuine = notify_fields(**GENUINE_IDS)
    shifted = {**genuine, **SHIFTED_IDS}
    assert deliver(client, shifted) == (500, b"fail")  # the shop declines an unknown order
    assert deliver(client, genuine) == (200, b"success")  # ... and the genuine one goes through
    with caplog.at_level(logging.ERROR, logger="gatepay_wsgi"):
        assert deliver(client, shifted) == (403, b"fail")  # once handled, the sign is taken
    assert shop_handler.calls == [(98765431, "2345"), (9876543, "12345")]
    forgery = [r for r in caplog.records if "attempted forgery" in r.getMessage()]
    assert len(forgery) == 1
    assert forgery[0].levelno == logging.ERROR
    assert "98765431" in forgery[0].getMessage()
    assert "9876543 " in forgery[0].getMessage()
    assert inbox.get(9876543)[0].status == DONE
    assert inbox.stats().rejections == {"reused_sign": 1}


def test_a_sign_handled_once_refuses_a_boundary_moved_within_the_same_order(make_inbox):
    shop_handler, inbox = Shop(extend=""), make_inbox()
    client = client_for(shop_handler, inbox)
    genuine = notify_fields(out_order_id="12345", paytime="1700000001", extend="")
    shifted = {**genuine, "paytime": "170000000", "extend": "1"}  # paytime|extend moved
    assert deliver(client, shifted) == (500, b"fail")  # the shop checks extend: declined
    assert deliver(client, genuine) == (200, b"success")
    assert deliver(client, genuine) == (200, b"success")  # a plain duplicate
    assert deliver(client, shifted) == (403, b"fail")
    assert len(shop_handler.calls) == 2
    (record,) = inbox.get(100001)
    assert (record.status, record.attempts) == (DONE, 2)


def test_a_re_split_copy_waits_while_the_genuine_runs_and_is_then_refused(make_inbox):
    inbox = make_inbox(busy_wait=10)
    started, release = threading.Event(), threading.Event()
    calls = []

    def slow(notification):
        calls.append(notification.order_id)
        started.set()
        release.wait(10)

    client = client_for(slow, inbox)
    genuine = notify_fields(**GENUINE_IDS)
    answers = []
    first = threading.Thread(target=lambda: answers.append(deliver(client, genuine)))
    first.start()
    assert started.wait(5)
    shifted = {**genuine, **SHIFTED_IDS}
    second = threading.Thread(target=lambda: answers.append(deliver(client, shifted)))
    second.start()
    time.sleep(0.2)
    assert second.is_alive()  # waiting for the genuine one's outcome, not running beside it
    release.set()
    first.join(10)
    second.join(10)
    assert answers == [(200, b"success"), (403, b"fail")]
    assert calls == [9876543]


# -- an outcome that cannot be written is not lost, and never runs the handler twice ---


def test_an_outcome_that_cannot_be_written_yet_lands_later_and_is_never_run_twice(
    make_inbox, monkeypatch, caplog
):
    inbox = make_inbox(lease=0.5, busy_wait=0.1)
    handler = Recorder()
    client = client_for(handler, inbox)
    real_finish, failures = inbox.finish, []

    def flaky_finish(claim, *, ok, error=None, **more):
        if len(failures) < 4:  # the inbox is locked, full or restarting for a while
            failures.append(claim.order_id)
            raise InboxUnavailable("database is locked")
        return real_finish(claim, ok=ok, error=error, **more)

    monkeypatch.setattr(inbox, "finish", flaky_finish)
    with caplog.at_level(logging.WARNING, logger="gatepay_wsgi"):
        assert deliver(client, notify_fields()) == (200, b"success")  # the handler did succeed
        # A re-send meanwhile: answered from that outcome, never a second run.
        assert deliver(client, notify_fields())[1] in (b"success", b"fail")
        deadline = time.monotonic() + 10
        while inbox.status(APPKEY, 100001) != DONE:
            assert time.monotonic() < deadline, "the outcome never landed"
            time.sleep(0.05)
        time.sleep(0.6)  # past the lease: a manual re-send must not take anything over
        assert deliver(client, notify_fields(paytime="1700000999")) == (200, b"success")
    assert len(handler.calls) == 1
    assert len(failures) == 4
    (record,) = inbox.get(100001)
    assert (record.status, record.attempts) == (DONE, 1)
    assert "late" in (record.note or "")
    assert "database is locked" in (record.note or "")
    failed_writes = [r for r in caplog.records if "could not be recorded" in r.getMessage()]
    assert len(failed_writes) == 1
    assert failed_writes[0].levelno == logging.ERROR


def test_an_inbox_of_schema_1_is_upgraded_and_knows_what_was_handled(tmp_path):
    """A file written by the previous release: its done notifies keep their sign."""
    from gatepay_wsgi.inbox import sqlite as sqlite_inbox
    from gatepay_wsgi.inbox.records import dump_fields

    path = tmp_path / "old.sqlite3"
    genuine = notify_fields(**GENUINE_IDS)
    with sqlite3.connect(path) as db:
        db.executescript(sqlite_inbox.SCHEMA + "PRAGMA user_version = 1;")
        db.execute(
            "INSERT INTO gatepay_notifies (appkey, order_id, out_order_id, status, raw, sign, "
            "received_at, attempts, updated_at) "
            "VALUES (?, 9876543, '12345', 'done', ?, ?, 1, 1, 1)",
            (APPKEY, dump_fields(genuine), genuine["sign"]),
        )
    db.close()
    handler = Recorder()
    inbox = SQLiteInbox(path)
    client = client_for(handler, inbox)
    assert deliver(client, genuine) == (200, b"success")
    assert deliver(client, {**genuine, **SHIFTED_IDS}) == (403, b"fail")
    assert handler.calls == []
    with inbox._statements("inspect") as connection:
        assert connection.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
    inbox.close()


def test_replay_refuses_a_forged_copy_once_the_genuine_notify_was_handled(make_inbox):
    shop_handler, inbox = Shop(), make_inbox()
    client = client_for(shop_handler, inbox)
    genuine = notify_fields(**GENUINE_IDS)
    assert deliver(client, {**genuine, **SHIFTED_IDS}) == (500, b"fail")
    assert deliver(client, genuine) == (200, b"success")
    accept_all = Recorder()
    results = inbox.replay(accept_all)  # every failed notify: the forged copy is one
    assert [(r.order_id, r.outcome) for r in results] == [(98765431, "reused_sign")]
    assert "order_id=9876543 " in (results[0].error or "")
    assert accept_all.calls == []
    assert inbox.get(98765431)[0].status == FAILED


def test_a_memory_claim_held_by_its_handler_never_goes_stale_without_renewals():
    from gatepay_wsgi.inbox.leases import LeaseKeeper

    inbox = MemoryInbox(lease=0.2, busy_wait=0.05)
    claim = inbox.claim(parse_notification(notify_fields(), appkey=APPKEY))
    before = dict(LeaseKeeper.for_this_process().held)
    with inbox.holding(claim):
        assert LeaseKeeper.for_this_process().held == before  # no renewal thread involved
        time.sleep(0.3)  # past the lease
        assert inbox.reclaim(APPKEY, 100001)[0].outcome == "busy"
        assert inbox.stats().stale == 0
    time.sleep(0.05)
    assert inbox.stats().stale == 1  # let go unfinished: a dead worker's claim
    assert inbox.reclaim(APPKEY, 100001)[0].outcome == "run"


def test_the_memory_inbox_forgets_the_oldest_done_records_first():
    inbox = MemoryInbox(max_records=10)
    for order_id in range(1, 11):
        claim = inbox.claim(
            parse_notification(notify_fields(order_id=str(order_id)), appkey=APPKEY)
        )
        inbox.finish(claim, ok=order_id != 3)  # order 3 failed: never forgotten
    inbox.claim(parse_notification(notify_fields(order_id="11"), appkey=APPKEY))
    kept = {record.order_id for record in inbox.records(limit=100)}
    assert kept == {2, 3, 4, 5, 6, 7, 8, 9, 10, 11}  # order 1, done first, went first


def test_every_delivery_is_counted_and_the_handler_runs_once(make_inbox):
    handler, inbox = Recorder(), make_inbox()
    client = client_for(handler, inbox)
    fields = notify_fields()
    for _ in range(3):  # the gateway's console re-sends by hand
        assert deliver(client, fields) == (200, b"success")
    resent = notify_fields(paytime=str(int(fields["paytime"]) - 60))  # signed anew
    assert deliver(client, resent) == (200, b"success")
    (record,) = inbox.get(100001)
    assert (record.received, record.deliveries, record.attempts) == (4, 2, 1)
    assert len(handler.calls) == 1


def test_an_inbox_of_schema_2_is_upgraded_and_counts_what_it_kept(tmp_path):
    """A file written by the previous release: received is counted from its deliveries."""
    from gatepay_wsgi.inbox import sqlite as sqlite_inbox
    from gatepay_wsgi.inbox.records import dump_fields

    path = tmp_path / "old.sqlite3"
    genuine = notify_fields()
    with sqlite3.connect(path) as db:
        db.executescript(
            sqlite_inbox.SCHEMA + sqlite_inbox.UPGRADE_TO_2 + "PRAGMA user_version = 2;"
        )
        db.execute(
            "INSERT INTO gatepay_notifies (appkey, order_id, out_order_id, status, raw, sign, "
            "received_at, attempts, updated_at) VALUES (?, 100001, 'GP1', 'done', ?, ?, 1, 1, 1)",
            (APPKEY, dump_fields(genuine), genuine["sign"]),
        )
        db.executemany(
            "INSERT INTO gatepay_deliveries (appkey, order_id, raw, sign, received_at) "
            "VALUES (?, 100001, ?, ?, 2)",
            [(APPKEY, f'{{"n": {n}}}', genuine["sign"]) for n in range(2)],
        )
    db.close()
    inbox = SQLiteInbox(path)
    (record,) = inbox.get(100001)
    assert (record.received, record.deliveries, record.status) == (3, 3, "done")
    assert record.secret_index == 0  # schema 5: kept before a rotation, by the one secret
    with inbox._statements("inspect") as connection:
        assert connection.execute("PRAGMA user_version").fetchone() == (5,)
    # Schema 4: the console's sign-in failures, kept for every worker.
    assert inbox.update_sign_ins(["user:alice"], lambda kept: (len(kept), {}), 0.0) == 0
    inbox.close()


# -- the step: inbox.deliver, what Notify answers from -----------------------------------


def _notification(**overrides):
    return parse_notification(notify_fields(**overrides), appkey=APPKEY)


def test_deliver_handles_a_new_order_once(make_inbox):
    inbox, handler = make_inbox(), Recorder()
    fields = notify_fields()  # once: its paytime follows the clock
    notification = parse_notification(fields, appkey=APPKEY)
    assert inbox.deliver(notification, handler, remote_addr="10.0.0.1") == Delivered.HANDLED
    (record,) = inbox.get(100001)
    assert (record.status, record.attempts, record.received) == (DONE, 1, 1)
    assert (record.remote_addr, record.lease_until) == ("10.0.0.1", None)
    assert dict(record.raw) == fields
    assert inbox.deliver(notification, handler) == Delivered.DONE_BEFORE
    resent = _notification(paytime="1700000001")  # the gateway's console, signed anew
    assert inbox.deliver(resent, handler) == Delivered.DONE_BEFORE
    assert len(handler.calls) == 1


def test_deliver_keeps_a_failed_handler_failed_and_runs_it_on_the_next_delivery(make_inbox):
    inbox = make_inbox()
    assert inbox.deliver(_notification(), Recorder(answer=False)) == Delivered.FAILED
    assert inbox.deliver(_notification(order_id="7"), Recorder(error=KeyError("x"))) == (
        Delivered.FAILED
    )
    records = inbox.get(100001) + inbox.get(7)
    assert [(r.status, r.last_error) for r in records] == [
        (FAILED, "handler returned False"),
        (FAILED, "KeyError: 'x'"),
    ]
    again = Recorder()
    assert inbox.deliver(_notification(), again) == Delivered.HANDLED  # the gateway's retry
    assert len(again.calls) == 1


def test_deliver_holds_its_claim_while_the_handler_runs(make_inbox):
    inbox = make_inbox(lease=0.3, busy_wait=0.05)
    seen = []

    def slow(notification):
        time.sleep(0.5)  # past the lease, alive: renewed (or, in memory, never stale)
        seen.append(inbox.claim(_notification()).outcome)
        seen.append(inbox.stats().stale)

    assert inbox.deliver(_notification(), slow) == Delivered.HANDLED
    assert seen == ["busy", 0]
    assert inbox.status(APPKEY, 100001) == DONE


def test_deliver_refuses_a_sign_already_handled_with_other_fields(make_inbox):
    inbox, handler = make_inbox(), Recorder()
    genuine = notify_fields(order_id="12", out_order_id="345")
    assert inbox.deliver(parse_notification(genuine, appkey=APPKEY), handler) == "handled"
    moved = {**genuine, "order_id": "123", "out_order_id": "45"}  # same sign input
    assert inbox.deliver(parse_notification(moved, appkey=APPKEY), handler) == "reused_sign"
    assert len(handler.calls) == 1


@pytest.mark.parametrize("step", ["claim", "run_handler", "record_outcome", "finish"])
def test_the_step_goes_through_the_backends_methods(step):
    """A subclass that replaces one (a transaction around the handler, say) is called."""
    called = []

    def replaced(self, *args, **kwargs):
        called.append(step)
        return getattr(MemoryInbox, step)(self, *args, **kwargs)

    inbox = type("Mirrored", (MemoryInbox,), {step: replaced})()
    client = client_for(Recorder(), inbox)
    assert deliver(client, notify_fields()) == (200, b"success")
    assert called == [step]
    assert inbox.status(APPKEY, 100001) == DONE


def test_a_claim_held_by_its_running_handler_is_not_replayable_and_shows_a_live_lease(
    make_inbox,
):
    """Found by a spec-only suite: the memory inbox showed a held claim's lease as run out
    (it needs no renewals), so ``replay()`` answered ``busy`` for it where SQLite skips it."""
    inbox = make_inbox(lease=0.3, busy_wait=0.05)
    seen = {}

    def slow(notification):
        time.sleep(0.5)  # past the lease, alive
        (record,) = inbox.get(notification.order_id)
        seen["lease_ahead"] = (record.lease_until or 0) > time.time()
        seen["replayable"] = inbox.replayable()
        seen["replayed"] = inbox.replay(Recorder())

    client = client_for(slow, inbox)
    assert deliver(client, notify_fields()) == (200, b"success")
    assert seen == {"lease_ahead": True, "replayable": [], "replayed": []}


def test_a_full_memory_inbox_never_forgets_a_failed_record():
    """Failed records wait for a person or a retry: only done ones make room."""
    inbox = MemoryInbox(max_records=10)
    failing = client_for(Recorder(answer=False), inbox)
    for order_id in range(1, 6):
        assert deliver(failing, notify_fields(order_id=str(order_id)))[1] == b"fail"
    accepting = client_for(Recorder(), inbox)
    for order_id in range(100, 130):
        assert deliver(accepting, notify_fields(order_id=str(order_id)))[1] == b"success"
    failed = sorted(r.order_id for r in inbox.records(FAILED, limit=1000))
    assert failed == [1, 2, 3, 4, 5]
    assert len(inbox.records(limit=1000)) == 10
    again = Recorder()
    assert deliver(client_for(again, inbox), notify_fields(order_id="3"))[1] == b"success"
    assert [n.order_id for n in again.calls] == [3]


def test_a_full_memory_inbox_forgets_one_done_record_for_each_new_one():
    """Past its mark it keeps exactly ``max_records``, the oldest done forgotten one at a
    time (in batches, whole arenas of memory went back to the system and came again)."""
    inbox, handler = MemoryInbox(max_records=100), Recorder()
    for order_id in range(1, 146):
        assert inbox.deliver(_notification(order_id=str(order_id)), handler) == "handled"
    kept = sorted(record.order_id for record in inbox.records(limit=1000))
    assert kept == list(range(46, 146))

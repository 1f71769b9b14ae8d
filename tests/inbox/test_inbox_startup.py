"""Start-up: an inbox that cannot be written refuses to start, and says why.

Each case is opened through the public API (``open_inbox``, ``GatePayMiddleware``, the
``gatepay-wsgi`` command) and its message must name the absolute path (or the server),
what is wrong and the user the process runs as. Permission cases run in a worker process
as nobody (root writes through any file mode); the defect as it was seen runs under a
real gunicorn with two workers as nobody.
"""

from __future__ import annotations

import gc
import json
import os
import pwd
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import closing
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import pytest

from gatepay_wsgi import GatePayMiddleware, Notify
from gatepay_wsgi.cli import main as gatepay_wsgi_command
from gatepay_wsgi.errors import InboxNotWritable
from gatepay_wsgi.inbox import InboxUnavailable, SQLiteInbox, open_inbox
from gatepay_wsgi.inbox import sqlite as sqlite_inbox
from gatepay_wsgi.inbox.postgres_startup import explain_postgres_error
from gatepay_wsgi.inbox.sqlite import SCHEMA_VERSION
from gatepay_wsgi.messages import parse_notification

from ..gateway import APPKEY, notify_fields
from ..servers import booted_gunicorn, free_port, post

TESTS = Path(__file__).resolve().parents[1]
WORKER = str(TESTS / "inbox_worker.py")
NOBODY = 65534
ME = f"{pwd.getpwuid(os.geteuid()).pw_name} (uid {os.geteuid()})"
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="runs a worker as nobody: needs root")


def shop(environ, start_response):
    start_response("200 OK", [])
    return [b"shop"]


def middleware(inbox: str) -> GatePayMiddleware:
    return GatePayMiddleware(
        shop, appkey="k", appsecret="s", paths={"/notify": Notify(print)}, inbox=inbox
    )


@pytest.fixture
def shared() -> Path:
    """A folder that nobody may enter and write (pytest's tmp_path is closed to others)."""
    folder = Path(tempfile.mkdtemp(prefix="gatepay-startup-"))
    os.chmod(folder, 0o777)  # noqa: S103
    yield folder
    for path in [folder, *folder.rglob("*")]:
        if path.is_dir():
            os.chmod(path, 0o777)  # noqa: S103  # so that a non-root run can remove it
    shutil.rmtree(folder, ignore_errors=True)


def as_nobody(*args: str) -> dict:
    """Run tests/inbox_worker.py MODE ... as nobody; its JSON report."""
    worker = subprocess.run(
        [sys.executable, WORKER, *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert worker.returncode == 0, worker.stderr[-2000:]
    return json.loads(worker.stdout.strip().splitlines()[-1])


def make_inbox(path: Path, *, order_id: str | None = None) -> Path:
    """An inbox file created by root (as ``gatepay-wsgi inbox migrate`` run by root)."""
    inbox = SQLiteInbox(path)
    if order_id is not None:
        fields = notify_fields(order_id=order_id)
        inbox.finish(inbox.claim(parse_notification(fields, appkey=APPKEY)), ok=True)
    inbox.close()
    os.chmod(path, 0o644)  # as a umask of 022 leaves it
    return path


# -- SQLite, in the order they are checked ----------------------------------------------


def test_missing_directory_names_the_path_and_the_user(tmp_path):
    path = tmp_path / "no" / "such" / "gatepay.sqlite3"
    with pytest.raises(InboxUnavailable) as error:
        middleware(f"sqlite:///{path}")
    message = str(error.value)
    assert f"inbox {path}:" in message
    assert f"the directory {path.parent} does not exist" in message
    assert ME in message
    assert "sqlite:////" not in message  # the URL was absolute: no hint


def test_three_slash_url_to_a_missing_directory_hints_at_four_slashes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InboxUnavailable) as error:
        open_inbox("sqlite:///var/lib/shop/gatepay.sqlite3")
    message = str(error.value)
    assert f"inbox {tmp_path}/var/lib/shop/gatepay.sqlite3:" in message
    assert f"the directory {tmp_path}/var/lib/shop does not exist" in message
    assert (
        f"sqlite:///var/lib/shop/gatepay.sqlite3 is relative to the working directory "
        f"{tmp_path}; for /var/lib/shop/gatepay.sqlite3 write "
        "sqlite:////var/lib/shop/gatepay.sqlite3"
    ) in message


@as_root
def test_directory_not_writable_is_refused_although_the_file_is(shared):
    db = make_inbox(shared / "gatepay.sqlite3")
    os.chown(db, NOBODY, NOBODY)  # the file is nobody's, the folder stays root's
    os.chmod(shared, 0o755)  # noqa: S103
    result = as_nobody("start", f"sqlite:///{db}")
    assert result["user"] == "nobody (uid 65534)"
    assert result["error"] == "InboxNotWritable", result
    message = result["message"]
    assert f"inbox {db}:" in message
    assert f"the directory {shared} is not writable for user nobody (uid 65534)" in message
    assert "gatepay.sqlite3-wal" in message
    assert "root (uid 0), mode 0755" in message


@as_root
def test_read_only_file_refuses_to_start(shared):
    """The defect as a new user met it: migrate run as root, the app as another user."""
    db = make_inbox(shared / "gatepay.sqlite3")
    result = as_nobody("start", f"sqlite:///{db}")
    assert "answer" not in result, f"it started and answered {result.get('answer')}"
    assert result["error"] == "InboxNotWritable"
    message = result["message"]
    assert f"inbox {db}: the file is read-only for user nobody (uid 65534)" in message
    assert "it belongs to root (uid 0), mode 0644" in message
    assert '"gatepay-wsgi inbox migrate" as nobody' in message


@as_root
@pytest.mark.parametrize("suffix", ["-wal", "-shm"])
def test_a_wal_or_shm_file_another_user_left_refuses_to_start(shared, suffix):
    """The database is nobody's, but root's process left its -wal or -shm beside it
    (root holds a connection open): nobody could not write it, so it must not start."""
    db = make_inbox(shared / "gatepay.sqlite3")
    os.chown(db, NOBODY, NOBODY)
    roots = sqlite3.connect(db)
    roots.execute("PRAGMA journal_mode = WAL")
    roots.execute("SELECT * FROM gatepay_notifies").fetchall()  # makes -wal and -shm
    try:
        left = Path(str(db) + suffix)
        assert left.exists()
        # SQLite run by root gives them the database's owner; another user's would not.
        os.chown(left, 0, 0)
        os.chmod(left, 0o644)
        result = as_nobody("start", f"sqlite:///{db}")
    finally:
        roots.close()
    assert "answer" not in result, f"it started and answered {result.get('answer')}"
    assert result["error"] == "InboxNotWritable", result
    message = result["message"]
    assert f"the file {left} is read-only for user nobody (uid 65534)" in message
    assert f"another user's process left it: chown nobody {left}" in message


def test_a_file_that_is_not_a_database(tmp_path):
    db = tmp_path / "gatepay.sqlite3"
    db.write_text("shop settings, not a database\n" * 100)
    with pytest.raises(InboxUnavailable) as error:
        open_inbox(f"sqlite:///{db}")
    message = str(error.value)
    assert f"inbox {db}: the file is not a SQLite database" in message
    assert ME in message


LOCKER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("ROLLBACK")
"""


def test_locked_past_the_start_up_wait(tmp_path, monkeypatch):
    """A lock that outlasts the start-up wait (10 s, or busy_timeout if longer) refuses."""
    monkeypatch.setattr(sqlite_inbox, "STARTUP_LOCK_WAIT", 1.0)
    db = make_inbox(tmp_path / "gatepay.sqlite3")
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(db), "30"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert locker.stdout.readline().strip() == "locked"
        started = time.monotonic()
        with pytest.raises(InboxUnavailable) as error:
            open_inbox(f"sqlite:///{db}?busy_timeout=0.3")
        assert 0.9 < time.monotonic() - started < 3  # the start-up wait, not the lock's length
    finally:
        locker.kill()
        locker.communicate(timeout=30)
    message = str(error.value)
    assert f"inbox {db}: the database stayed locked longer than 1 s" in message
    assert ME in message


def test_a_lock_shorter_than_the_start_up_wait_only_delays_the_start(tmp_path):
    """A worker booting while another process briefly holds the lock must still boot."""
    db = make_inbox(tmp_path / "gatepay.sqlite3")
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(db), "1.5"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert locker.stdout.readline().strip() == "locked"
        open_inbox(f"sqlite:///{db}?busy_timeout=0.2").close()
    finally:
        locker.communicate(timeout=30)
    open_inbox(f"sqlite:///{db}?busy_timeout=0.3").close()  # free again: it starts


BOOT_TOGETHER = """
import multiprocessing, os, sys, tempfile
from gatepay_wsgi.inbox import SQLiteInbox

def boot(path, barrier, answers):
    barrier.wait()  # every worker opens the brand-new file at the same instant
    try:
        SQLiteInbox(path).close()
        answers.put("")
    except Exception as error:
        answers.put(f"{type(error).__name__}: {error}")

if __name__ == "__main__":
    fork = multiprocessing.get_context("fork")
    for trial in range(int(sys.argv[1])):
        path = os.path.join(tempfile.mkdtemp(dir=sys.argv[2]), "gatepay.sqlite3")
        barrier, answers = fork.Barrier(8), fork.Queue()
        workers = [fork.Process(target=boot, args=(path, barrier, answers)) for _ in range(8)]
        for worker in workers:
            worker.start()
        failures = [answer for answer in (answers.get(timeout=60) for _ in workers) if answer]
        for worker in workers:
            worker.join()
        print(f"trial {trial}: {failures[0] if failures else 'all 8 started'}", flush=True)
"""


def test_eight_workers_booting_together_on_a_brand_new_file_all_start(tmp_path):
    """Before the fix one of 8 failed at once in about one trial of four (SQLite answers a
    journal-mode switch "locked" without waiting): 16 trials, every worker must start."""
    done = subprocess.run(
        [sys.executable, "-c", BOOT_TOGETHER, "16", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    trials = done.stdout.splitlines()
    assert len(trials) == 16
    assert [t for t in trials if not t.endswith("all 8 started")] == []


def test_a_lock_sqlite_gives_up_on_at_once_is_not_called_a_long_one(tmp_path, monkeypatch):
    def locked_at_once(connection, busy_timeout):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(sqlite_inbox, "_use_wal", locked_at_once)
    with pytest.raises(InboxNotWritable) as error:
        open_inbox(f"sqlite:///{tmp_path / 'gatepay.sqlite3'}")
    message = str(error.value)
    assert "stayed locked longer than" not in message
    assert "SQLite answered 'database is locked' after 0.0" in message
    assert "without waiting the 10 s it may wait for a lock" in message
    assert ME in message


@pytest.fixture
def read_only_mount(tmpfs) -> Path:
    make_inbox(tmpfs / "gatepay.sqlite3")
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    return tmpfs


def test_read_only_file_system(read_only_mount):
    db = read_only_mount / "gatepay.sqlite3"
    with pytest.raises(InboxUnavailable) as error:
        open_inbox(f"sqlite:///{db}")
    message = str(error.value)
    assert f"inbox {db}: the directory {read_only_mount} is on a read-only file system" in message
    assert ME in message


def test_a_writable_inbox_starts_and_the_proof_leaves_no_trace(tmp_path):
    db = make_inbox(tmp_path / "gatepay.sqlite3", order_id="7")
    for _ in range(3):
        open_inbox(f"sqlite:///{db}").close()
    with closing(sqlite3.connect(db)) as connection:
        assert connection.execute("PRAGMA user_version").fetchone() == (SCHEMA_VERSION,)
        assert connection.execute("SELECT * FROM gatepay_rejection_counts").fetchall() == []
        assert connection.execute("SELECT order_id FROM gatepay_notifies").fetchall() == [(7,)]


@as_root
def test_cli_reads_a_read_only_inbox_but_does_not_write_it(shared):
    """An operator reads a root-owned inbox: list, show and stats work; migrate and replay
    (they write) say why they cannot."""
    db = make_inbox(shared / "gatepay.sqlite3", order_id="100001")
    url = f"sqlite:///{db}"
    for args in (["list"], ["show", "100001"], ["stats"]):
        result = as_nobody("cli", "inbox", *args, "--inbox", url)
        assert result["code"] == 0, result
        assert "100001" in result["out"] or "done" in result["out"], result
    for args in (["migrate"], ["replay", "--handler", "json:dumps", "--failed"]):
        result = as_nobody("cli", "inbox", *args, "--inbox", url)
        assert result["code"] == 2, result
        assert f"inbox {db}: the file is read-only for user nobody (uid 65534)" in result["err"]


def test_cli_read_commands_do_not_create_a_missing_file(tmp_path):
    assert gatepay_wsgi_command(["inbox", "stats", "--inbox", f"sqlite:///{tmp_path}/x"]) == 2
    assert not (tmp_path / "x").exists()


# -- the defect where it was seen: gunicorn, several workers, as another user ------------


def gunicorn_as_nobody(inbox: str, calls: Path) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    server = booted_gunicorn(
        "load_app:app",
        port,
        {"GATEPAY_TEST_INBOX": inbox, "GATEPAY_TEST_CALLS": str(calls)},
        workers=2,
        extra=["--user", "nobody", "--group", "nogroup", "-c", str(TESTS / "gunicorn_warm.py")],
    )
    return server, port


@as_root
def test_gunicorn_workers_as_nobody_refuse_a_root_owned_inbox(shared):
    pytest.importorskip("gunicorn")
    db = make_inbox(shared / "gatepay.sqlite3")
    server, port = gunicorn_as_nobody(f"sqlite:///{db}", shared / "calls.txt")
    try:
        if server.poll() is None:
            answer = post(port, urlencode(notify_fields()).encode())
            pytest.fail(f"gunicorn started over a read-only inbox and answered {answer}")
        _, log = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate(timeout=30)
    assert server.returncode != 0
    assert f"inbox {db}: the file is read-only for user nobody (uid 65534)" in log, log[-3000:]
    assert not (shared / "calls.txt").exists()


@as_root
def test_gunicorn_workers_as_nobody_start_over_their_own_inbox(shared):
    """The control: the same server over an inbox nobody owns starts and answers."""
    pytest.importorskip("gunicorn")
    db = make_inbox(shared / "gatepay.sqlite3")
    os.chown(db, NOBODY, NOBODY)
    server, port = gunicorn_as_nobody(f"sqlite:///{db}", shared / "calls.txt")
    try:
        assert server.poll() is None, server.communicate(timeout=30)[1][-3000:]
        assert post(port, urlencode(notify_fields()).encode()) == (200, b"success")
    finally:
        server.terminate()
        server.communicate(timeout=30)
    assert (shared / "calls.txt").read_text() == "100001\n"


# -- PostgreSQL ---------------------------------------------------------------------------

PASSWORD = "s3cret-never-shown"
READS = "GRANT SELECT ON ALL TABLES IN SCHEMA public TO {role}"
WRITES = "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}"


def _with_user(url: str, user: str, password: str = PASSWORD) -> str:
    return url.replace("postgresql://postgres@", f"postgresql://{user}:{password}@")


def _admin(url: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement)


def _role(url: str, *grants: str) -> tuple[str, str]:
    """A new login role with these grants in the database of ``url``: (name, its URL)."""
    name = f"gp_{uuid.uuid4().hex[:10]}"
    _admin(url, f"CREATE ROLE {name} LOGIN", *(g.format(role=name) for g in grants))
    return name, _with_user(url, name)


def _pg_refusal(url: str) -> str:
    # The README's promise: InboxNotWritable (an InboxUnavailable), for PostgreSQL too.
    with pytest.raises(InboxNotWritable) as error:
        open_inbox(url)
    message = str(error.value)
    assert PASSWORD not in message
    return message


def _where(url: str, user: str) -> str:
    parts = urlsplit(url)
    return (
        f"postgres inbox (host {parts.hostname}, port {parts.port}, "
        f"database {parts.path[1:]}, user {user})"
    )


def test_postgres_nobody_listening():
    pytest.importorskip("psycopg", reason="the postgres extra is not installed")
    url = f"postgresql://shop:{PASSWORD}@127.0.0.1:{free_port()}/shop"
    message = _pg_refusal(url)
    assert message.startswith(f"{_where(url, 'shop')}: cannot connect: ")
    assert "Connection refused" in message


class _LibpqError(Exception):
    """What psycopg raises for a failed connection, as far as explain_postgres_error looks."""

    sqlstate = None


@pytest.mark.parametrize(
    "conninfo",
    [
        "host=db.example port=5433 dbname=shop user=app password=hunter22",
        "postgresql://app:hunter22@db.example:5433/shop?sslmode=require",
    ],
)
def test_postgres_messages_name_the_server_never_the_password(conninfo):
    error = _LibpqError(
        'connection failed: connection to server at "db.example" (10.0.0.5), port 5433 '
        'failed: FATAL:  password authentication failed for user "app"'
    )
    message = explain_postgres_error(error, conninfo)
    assert message == (
        "postgres inbox (host db.example, port 5433, database shop, user app): "
        'authentication failed: password authentication failed for user "app": check '
        "the user and password in the inbox URL (and the server's pg_hba.conf)"
    )
    assert "hunter22" not in explain_postgres_error(_LibpqError("echo hunter22"), conninfo)


@pytest.fixture(scope="module")
def password_role(postgres_server) -> str:
    """A role that must give its password (the test server trusts every other role)."""
    name = f"gp_pw_{uuid.uuid4().hex[:8]}"
    hba = postgres_server.data / "pg_hba.conf"
    hba.write_text(f"host all {name} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
    _admin(
        postgres_server.url,
        f"CREATE ROLE {name} LOGIN PASSWORD 'right-{PASSWORD}'",
        "SELECT pg_reload_conf()",
    )
    return name


def test_postgres_wrong_password(postgres_url, password_role):
    url = _with_user(postgres_url, password_role)
    message = _pg_refusal(url)
    assert message.startswith(f"{_where(url, password_role)}: authentication failed: ")
    assert f'password authentication failed for user "{password_role}"' in message
    assert "check the user and password" in message


def test_postgres_unknown_role(postgres_url):
    url = _with_user(postgres_url, "no_such_role")
    message = _pg_refusal(url)
    assert message.startswith(f"{_where(url, 'no_such_role')}: authentication failed: ")
    assert 'role "no_such_role" does not exist' in message


def test_postgres_missing_database(postgres_url):
    url = _with_user(postgres_url.rsplit("/", 1)[0] + "/no_such_db", "postgres")
    message = _pg_refusal(url)
    assert message.startswith(f"{_where(url, 'postgres')}: ")
    assert 'database "no_such_db" does not exist' in message


def test_postgres_role_that_may_not_create_the_tables(postgres_url):
    _admin(postgres_url, "REVOKE CREATE ON SCHEMA public FROM PUBLIC")  # PostgreSQL 15's default
    name, url = _role(postgres_url)
    message = _pg_refusal(url)
    assert message.startswith(f"{_where(url, name)}: user {name} may not create the inbox's ")
    assert "permission denied for schema public" in message
    assert '"gatepay-wsgi inbox migrate --inbox URL"' in message
    assert f"GRANT CREATE ON SCHEMA public TO {name}" in message


def test_postgres_select_only_role_refuses_to_start(postgres_url):
    open_inbox(postgres_url).close()  # the tables, created by their owner
    name, url = _role(postgres_url, READS)
    message = _pg_refusal(url)
    assert message.startswith(
        f"{_where(url, name)}: user {name} has no INSERT privilege on table gatepay_notifies"
    )
    assert "GRANT SELECT, INSERT, UPDATE, DELETE ON gatepay_notifies, " in message


def test_postgres_role_without_grants_and_the_advice_is_enough(postgres_url):
    open_inbox(postgres_url).close()
    name, url = _role(postgres_url)  # nothing granted on the inbox's tables
    message = _pg_refusal(url)
    assert message.startswith(f"{_where(url, name)}: user {name} may not read the inbox's ")
    grants = [g.strip() for g in message.split("; ") if g.strip().startswith("GRANT ")]
    assert len(grants) == 3, message
    _admin(postgres_url, *grants)  # what the message says to do is all it takes
    inbox = open_inbox(url)
    claim = inbox.claim(parse_notification(notify_fields(), appkey=APPKEY))
    assert inbox.finish(claim, ok=True)
    inbox.record_rejection("bad_sign")
    assert inbox.stats().rejections == {"bad_sign": 1}
    inbox.close()


def test_postgres_role_without_the_sequences(postgres_url):
    open_inbox(postgres_url).close()
    name, url = _role(
        postgres_url,
        WRITES,
    )
    message = _pg_refusal(url)
    assert f"user {name} has no USAGE privilege on sequence" in message
    assert "gatepay_deliveries_id_seq" in message


def test_postgres_read_only_session(postgres_url):
    open_inbox(postgres_url).close()
    name, url = _role(
        postgres_url,
        WRITES,
        "GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role}",
        "ALTER ROLE {role} SET default_transaction_read_only = on",  # as on a hot standby
    )
    message = _pg_refusal(url)
    assert message.startswith(f"{_where(url, name)}: the database is read-only")
    assert "cannot execute INSERT in a read-only transaction" in message


def test_cli_reads_postgres_with_a_select_only_role(postgres_url, capsys):
    inbox = open_inbox(postgres_url)
    inbox.finish(inbox.claim(parse_notification(notify_fields(), appkey=APPKEY)), ok=True)
    inbox.close()
    name, url = _role(postgres_url, READS)
    assert gatepay_wsgi_command(["inbox", "stats", "--inbox", url]) == 0
    assert gatepay_wsgi_command(["inbox", "show", "100001", "--inbox", url]) == 0
    assert gatepay_wsgi_command(["inbox", "migrate", "--inbox", url]) == 2
    captured = capsys.readouterr()
    assert "SHOP-1" in captured.out
    assert f"user {name} has no INSERT privilege on table gatepay_notifies" in captured.err


def test_gunicorn_refuses_a_select_only_postgres_role(postgres_url, tmp_path):
    pytest.importorskip("gunicorn")
    open_inbox(postgres_url).close()
    name, url = _role(postgres_url, READS)
    env = {"GATEPAY_TEST_INBOX": url, "GATEPAY_TEST_CALLS": str(tmp_path / "calls.txt")}
    port = free_port()
    server = booted_gunicorn("load_app:app", port, env, workers=2)
    try:
        if server.poll() is None:
            answer = post(port, urlencode(notify_fields()).encode())
            pytest.fail(f"gunicorn started with a SELECT-only role and answered {answer}")
        _, log = server.communicate(timeout=30)
    finally:
        if server.poll() is None:
            server.kill()
            server.communicate(timeout=30)
    assert server.returncode != 0
    assert f"user {name} has no INSERT privilege on table gatepay_notifies" in log, log[-3000:]
    assert PASSWORD not in log


def test_a_refused_open_leaves_no_connection_behind(tmp_path):
    """Python 3.13 warns about a connection left open; the suite turns that into a failure."""
    garbage = tmp_path / "garbage.sqlite3"
    garbage.write_bytes(b"this is not a database\n" * 200)
    for _ in range(3):
        with pytest.raises(InboxUnavailable):
            open_inbox(f"sqlite:///{garbage}")
    gc.collect()  # an unclosed connection would warn here, inside this test


def test_a_wal_file_removed_while_it_is_checked_is_no_refusal(tmp_path, monkeypatch):
    """Workers booting together: one's last connection closes and SQLite removes the
    -wal and -shm files between another's stat and its access check (seen in CI: a
    4-process test refused to start 'read-only for user root' over a file just gone)."""
    from gatepay_wsgi.inbox import startup

    path = tmp_path / "inbox.sqlite3"
    SQLiteInbox(path).close()
    wal = tmp_path / "inbox.sqlite3-wal"
    wal.write_bytes(b"")
    real = startup._writable

    def vanishing(file):
        if file.endswith("-wal"):
            wal.unlink()  # removed by the other process, right now
            return False
        return real(file)

    monkeypatch.setattr(startup, "_writable", vanishing)
    startup.check_sqlite(str(path))  # no InboxNotWritable

"""Start-up: an inbox that cannot be written refuses to start, and says why.

Each case is opened through the public API (``open_inbox``, ``GatePayMiddleware``, the
``gatepay-wsgi`` command) and its message must name the absolute path (or the server),
what is wrong and the user the process runs as. Permission cases run in a worker process
as nobody (root writes through any file mode); the defect as it was seen runs under a
real gunicorn with two workers as nobody.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

from gatepay_wsgi import GatePayMiddleware, Notify
from gatepay_wsgi.cli import main as gatepay_wsgi_command
from gatepay_wsgi.inbox import InboxUnavailable, SQLiteInbox, open_inbox
from gatepay_wsgi.messages import parse_notification

from .gateway import APPKEY, notify_fields
from .servers import booted_gunicorn, free_port, post

TESTS = Path(__file__).resolve().parent
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


def test_locked_past_busy_timeout(tmp_path):
    db = make_inbox(tmp_path / "gatepay.sqlite3")
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(db), "30"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert locker.stdout.readline().strip() == "locked"
        started = time.monotonic()
        with pytest.raises(InboxUnavailable) as error:
            open_inbox(f"sqlite:///{db}?busy_timeout=0.3")
        assert time.monotonic() - started < 2.5  # bounded by busy_timeout, not by the lock
    finally:
        locker.kill()
        locker.communicate(timeout=30)
    message = str(error.value)
    assert f"inbox {db}: the database stayed locked" in message
    assert "busy_timeout (0.3 s)" in message
    assert ME in message
    open_inbox(f"sqlite:///{db}?busy_timeout=0.3").close()  # free again: it starts


@pytest.fixture
def read_only_mount() -> Path:
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    folder = Path(tempfile.mkdtemp(prefix="gatepay-rofs-"))
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(folder)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        folder.rmdir()
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        make_inbox(folder / "gatepay.sqlite3")
        subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
        folder.rmdir()


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
    with sqlite3.connect(db) as connection:
        assert connection.execute("PRAGMA user_version").fetchone() == (1,)
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

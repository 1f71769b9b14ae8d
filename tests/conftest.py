"""Fixtures shared by the test modules."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from .gateway import Recorder


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
def demo(tmp_path) -> Iterator:
    """The demo (shop and sandbox) on free ports, retrying notifies every 0.2 s."""
    from gatepay_wsgi.demo import Demo

    with Demo(tmp_path, port=0, retry_interval=0.2) as running:
        yield running


@pytest.fixture
def tmpfs() -> Iterator[Path]:
    """A fresh 4 MiB tmpfs mounted on a temporary folder (a disk that fills, or that
    can be remounted read-only); skipped where mounting is not allowed."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    folder = Path(tempfile.mkdtemp(prefix="gatepay-tmpfs-"))
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
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
        folder.rmdir()  # not empty: something wrote under the mount after it was gone


@pytest.fixture(scope="session")
def postgres_server():
    """A PostgreSQL server for the whole run, or a skip that says why there is none."""
    pytest.importorskip("psycopg", reason="the postgres extra is not installed")
    from .pg import PostgresServer, binaries

    bin_dir = binaries()
    if bin_dir is None:
        pytest.skip("no PostgreSQL server binaries (apt-get install postgresql)")
    # Not under pytest's tmp dir: its parents are closed to the postgres user.
    folder = Path(tempfile.mkdtemp(prefix="gatepay-pg-"))
    server = PostgresServer(folder, bin_dir).start()
    yield server
    server.stop()
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def postgres_url(postgres_server) -> str:
    """A fresh database on the test server."""
    return postgres_server.new_database()


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def make_inbox(request, tmp_path):
    """``make_inbox(**options)``: an inbox of each kind in turn (memory, SQLite,
    PostgreSQL), the one fixture every backend contract runs over. SQLite and PostgreSQL
    ones share one store per test (several "workers" over one file or database)."""
    path = tmp_path / "gatepay.sqlite3"
    database = request.getfixturevalue("postgres_url") if request.param == "postgres" else ""
    built = []

    def make(**options):
        from gatepay_wsgi.inbox import MemoryInbox, SQLiteInbox

        if request.param == "memory":
            inbox = MemoryInbox(**options)
        elif request.param == "sqlite":
            inbox = SQLiteInbox(path, **options)
        else:
            from gatepay_wsgi.inbox.postgres import PostgresInbox

            inbox = PostgresInbox(database, **options)
        built.append(inbox)
        return inbox

    make.kind = request.param
    yield make
    for inbox in built:
        inbox.close()

"""``inbox="sqlite:////var/lib/shop/gatepay.sqlite3"``: the embedded default, one host.

Safe for many worker processes and threads on one machine: WAL journal, a busy
timeout, claims inside ``BEGIN IMMEDIATE`` transactions, ``synchronous=FULL`` unless
relaxed (a payment record must survive power loss). A small pool of connections per
process, never carried across a fork. The schema is created on first use and
versioned with ``PRAGMA user_version``. Every SQLite error surfaces as
``InboxUnavailable``, which the endpoint answers with ``fail``. The algorithm is
``sql.py``'s; this module keeps SQLite's connections, transactions and migrations.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from ..errors import ConfigError, InboxUnavailable
from .refusals import RefusalBuffer
from .sql import SQLInbox
from .sql_rows import (
    ADD_RECEIVED,
    ADD_SECRET_INDEX,
    BACKFILL_RECEIVED,
    SCHEMA_VERSION,
    Database,
    backfill_handled,
)
from .startup import check_sqlite, is_locked, prove_sqlite, sqlite_error
from .states import (
    DEFAULT_BUSY_WAIT,
    DEFAULT_KEEP_REJECTIONS,
    DEFAULT_LEASE,
    DONE,
    FAILED,
    PROCESSING,
    RECEIVED,
)

__all__ = ["SCHEMA", "SCHEMA_VERSION", "SQLiteInbox"]

SCHEMA = f"""
CREATE TABLE gatepay_notifies (
    appkey        TEXT    NOT NULL,
    order_id      INTEGER NOT NULL,
    out_order_id  TEXT    NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN
                      ('{RECEIVED}', '{PROCESSING}', '{DONE}', '{FAILED}')),
    raw           TEXT    NOT NULL,
    sign          TEXT    NOT NULL,
    received_at   REAL    NOT NULL,
    remote_addr   TEXT,
    attempts      INTEGER NOT NULL DEFAULT 0,
    claim_token   TEXT,
    lease_until   REAL,
    last_error    TEXT,
    updated_at    REAL    NOT NULL,
    PRIMARY KEY (appkey, order_id)
);
CREATE INDEX gatepay_notifies_by_status ON gatepay_notifies (status, updated_at);
CREATE INDEX gatepay_notifies_by_sign ON gatepay_notifies (sign);
CREATE TABLE gatepay_deliveries (
    id           INTEGER PRIMARY KEY,
    appkey       TEXT    NOT NULL,
    order_id     INTEGER NOT NULL,
    raw          TEXT    NOT NULL,
    sign         TEXT    NOT NULL,
    received_at  REAL    NOT NULL,
    remote_addr  TEXT
);
CREATE INDEX gatepay_deliveries_by_order ON gatepay_deliveries (appkey, order_id);
CREATE INDEX gatepay_deliveries_by_sign ON gatepay_deliveries (sign);
CREATE TABLE gatepay_rejections (
    id            INTEGER PRIMARY KEY,
    at            REAL NOT NULL,
    reason        TEXT NOT NULL,
    field         TEXT,
    remote_addr   TEXT,
    order_id      TEXT,
    out_order_id  TEXT
);
CREATE TABLE gatepay_rejection_counts (
    reason  TEXT PRIMARY KEY,
    count   INTEGER NOT NULL
);
"""
#: Schema 2: the sign and signed fields of each record's latest claim (the sign rule: once
#: one field set under a sign was handled, every other one is refused) and a note.
UPGRADE_TO_2 = """
ALTER TABLE gatepay_notifies ADD COLUMN run_sign TEXT;
ALTER TABLE gatepay_notifies ADD COLUMN run_fields TEXT;
ALTER TABLE gatepay_notifies ADD COLUMN note TEXT;
CREATE INDEX gatepay_notifies_by_run_sign ON gatepay_notifies (run_sign);
"""
#: Schema 4: the console's failed sign-ins, counted by every worker together.
ADD_SIGN_INS = """
CREATE TABLE gatepay_sign_in_failures (
    sign_in_key    TEXT PRIMARY KEY,
    failures       INTEGER NOT NULL,
    blocked_until  REAL    NOT NULL,
    forget_at      REAL    NOT NULL
)
"""
SYNCHRONOUS = ("full", "normal", "extra")
#: Seconds opening an inbox waits for another process's write lock (at least).
STARTUP_LOCK_WAIT = 10.0
_MAX_IDLE = 16  # connections kept open per process for reuse


def _use_wal(connection: sqlite3.Connection, busy_timeout: float) -> None:
    """Switch the file to WAL (a no-op once it is), waiting up to ``busy_timeout`` for a
    lock as any write does.

    SQLite answers "database is locked" to a journal-mode switch at once, without its busy
    handler, while another process is switching the same new file: workers booting
    together on a fresh inbox would fail within milliseconds. So the wait is ours here.
    """
    deadline = time.monotonic() + busy_timeout
    pause = 0.001
    while True:
        try:
            connection.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if not is_locked(error) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


#: (process, file) -> the lock the process's writers queue on (``_begin_immediate``).
_write_gates: dict[tuple[int, str], threading.Lock] = {}


class SQLiteInbox(SQLInbox):
    """``SQLiteInbox("/var/lib/shop/gatepay.sqlite3")``: durable, many processes, one host.

    ``synchronous="normal"`` trades the last commits before a power cut for speed (WAL
    keeps the file consistent either way). ``busy_timeout`` is how long a write waits for
    the lock before the notify is answered ``fail``.

    :param path: the database file (created, with its tables, unless ``create=False``).
    :param synchronous: ``"full"`` (the default: every outcome survives a power cut),
        ``"normal"`` or ``"extra"``.
    :param busy_timeout: seconds a write waits for another process's lock.
    :param lease: seconds a claim stays live without renewal (a killed worker's).
    :param busy_wait: seconds a delivery waits for another worker's outcome.
    :param keep_rejections: refused requests kept (the newest).
    :param writable: prove at once that this process can write the file and its folder.
    """

    NOW = "gatepay_now()"  # time.time(), registered on each connection

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        synchronous: str = "full",
        busy_timeout: float = 5.0,
        lease: float = DEFAULT_LEASE,
        busy_wait: float = DEFAULT_BUSY_WAIT,
        keep_rejections: int = DEFAULT_KEEP_REJECTIONS,
        create: bool = True,
        writable: bool = True,
    ) -> None:
        self.path = os.fspath(path)
        if synchronous.lower() not in SYNCHRONOUS:
            raise ConfigError(f"synchronous must be one of {SYNCHRONOUS}, got {synchronous!r}")
        self.synchronous = synchronous.upper()
        self.busy_timeout = busy_timeout
        self.lease = lease
        self.busy_wait = busy_wait
        self.keep_rejections = keep_rejections
        self._idle: list[sqlite3.Connection] = []
        self._inherited: list[sqlite3.Connection] = []
        self._pool_lock = threading.Lock()
        self._pid = os.getpid()
        if not create and not os.path.exists(self.path):
            raise InboxUnavailable(f"no inbox at {self.path}")
        if writable:  # proved at start-up, not found out by the first notify
            check_sqlite(self.path)
        self._refusals = RefusalBuffer(self._write_refusals)
        # At start-up a lock is waited for longer than a notify would: a worker booting
        # while another process briefly holds the write lock must not halt the server.
        wait = max(busy_timeout, STARTUP_LOCK_WAIT)
        started = time.monotonic()
        try:
            self._migrate(wait)
            if writable:
                prove_sqlite(self._open(wait))
        except sqlite3.Error as error:
            raise sqlite_error(error, self.path, wait, time.monotonic() - started) from error

    def __repr__(self) -> str:
        return f"SQLiteInbox({self.path!r}, synchronous={self.synchronous.lower()!r})"

    # -- connections and transactions -------------------------------------------------
    # A small pool rather than one connection per thread: servers that start a thread per
    # request would otherwise open (and leak) a connection per request.

    def _open(self, busy_timeout: float | None = None) -> sqlite3.Connection:
        # connect's timeout is SQLite's busy timeout: how long a write waits for the lock
        connection = sqlite3.connect(
            self.path,
            timeout=self.busy_timeout if busy_timeout is None else busy_timeout,
            isolation_level=None,
            check_same_thread=False,
        )
        try:
            connection.create_function("gatepay_now", 0, time.time)
            _use_wal(connection, self.busy_timeout if busy_timeout is None else busy_timeout)
            connection.execute(f"PRAGMA synchronous = {self.synchronous}")
        except BaseException:  # not a database, locked, read-only: never leak the handle
            connection.close()
            raise
        return connection

    def _checkout(self) -> sqlite3.Connection:
        with self._pool_lock:
            if self._pid != os.getpid():
                # A forked child: the parent's connections must never be used here, nor
                # closed (kept referenced so that garbage collection does not close them).
                self._inherited += self._idle
                self._idle, self._pid = [], os.getpid()
            if self._idle:
                return self._idle.pop()
        return self._open()

    def _checkin(self, connection: sqlite3.Connection) -> None:
        with self._pool_lock:
            if self._pid == os.getpid() and len(self._idle) < _MAX_IDLE:
                self._idle.append(connection)
                return
        connection.close()

    @contextmanager
    def _statements(self, action: str) -> Iterator[Database]:
        """A pooled connection; any SQLite error becomes ``InboxUnavailable``.

        A connection that saw an error is closed, never pooled: whatever state it was
        left in (an open transaction, a relaxed ``synchronous``) goes with it.
        """
        try:
            connection = self._checkout()
            try:
                yield connection
            except BaseException:
                connection.close()  # rolls back anything still open
                raise
            self._checkin(connection)
        except sqlite3.Error as error:
            raise InboxUnavailable(f"inbox {self.path}: cannot {action}: {error}") from error

    @contextmanager
    def _transaction(self, action: str, *, relaxed: bool = False) -> Iterator[Database]:
        """A ``BEGIN IMMEDIATE`` transaction: the write lock is taken before any read.

        ``relaxed`` commits without an fsync (``synchronous=NORMAL``), for records that
        are worth less than a payment (refusals).
        """
        with self._statements(action) as connection:
            if relaxed:
                connection.execute("PRAGMA synchronous = NORMAL")
            self._begin_immediate(connection)
            yield connection
            connection.execute("COMMIT")
            if relaxed:
                connection.execute(f"PRAGMA synchronous = {self.synchronous}")

    def _begin_immediate(self, connection: Database) -> None:
        """``BEGIN IMMEDIATE``, one thread of this process at a time asking for the lock.

        Threads that all wait in SQLite's busy handler sleep in growing steps (up to
        100 ms each): a late one often takes the lock before one that has waited long,
        whose answer then comes hundreds of milliseconds late. Here the others queue on
        a lock of the process, and only the thread at its head sleeps in SQLite's
        handler, its steps starting short. The gate is let go as soon as the write lock
        is held: the transaction itself runs beside the next thread's wait.
        """
        # The connection was checked out first: a forked child's ``_pid`` is its own by
        # now, so it queues on a gate of its own (one held at the fork stays held).
        key = (self._pid, self.path)
        gate = _write_gates.get(key)
        if gate is None:
            gate = _write_gates.setdefault(key, threading.Lock())
        if not gate.acquire(timeout=self.busy_timeout):
            raise sqlite3.OperationalError(
                "database is locked (this process's other writers waited longer than busy_timeout)"
            )
        try:
            connection.execute("BEGIN IMMEDIATE")
        finally:
            gate.release()

    def _migrate(self, busy_timeout: float) -> None:
        # On a connection of its own, closed at once: a server that forks after
        # building the app (gunicorn --preload, uWSGI) must not inherit a pooled one.
        connection = self._open(busy_timeout)
        try:
            (version,) = connection.execute("PRAGMA user_version").fetchone()
            if version == SCHEMA_VERSION:
                return
            connection.execute("BEGIN IMMEDIATE")
            (version,) = connection.execute("PRAGMA user_version").fetchone()
            if version > SCHEMA_VERSION:
                raise InboxUnavailable(
                    f"inbox {self.path} has schema {version}, newer than this "
                    f"gatepay_wsgi's {SCHEMA_VERSION}: upgrade gatepay_wsgi"
                )
            steps = [SCHEMA] if version == 0 else []
            steps += [UPGRADE_TO_2] if version < 2 else []
            steps += [ADD_RECEIVED, BACKFILL_RECEIVED] if version < 3 else []
            steps += [ADD_SIGN_INS] if version < 4 else []
            steps += [ADD_SECRET_INDEX] if version < 5 else []
            for script in steps:
                for statement in script.split(";"):
                    if statement.strip():
                        connection.execute(statement)
            if version == 1:
                backfill_handled(connection)
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            connection.execute("COMMIT")
        finally:
            connection.close()

    def close(self) -> None:
        """Write buffered refusals and close the idle connections of this process."""
        if self._pid != os.getpid():
            return  # a forked child: the parent's connections are not ours to close
        super().close()
        with self._pool_lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def __del__(self) -> None:
        with suppress(Exception):
            self.close()

    def _lock_sign(self, db: Database, sign: str) -> float:
        # BEGIN IMMEDIATE took the database's write lock: every claim is serialised.
        return time.time()

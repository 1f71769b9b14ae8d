"""``inbox="sqlite:////var/lib/shop/gatepay.sqlite3"``: the embedded default, one host.

Safe for many worker processes and threads on one machine: WAL journal, a busy
timeout, claims inside ``BEGIN IMMEDIATE`` transactions, ``synchronous=FULL`` unless
relaxed (a payment record must survive power loss). A small pool of connections per
process, never carried across a fork. The schema is created on first use and
versioned with ``PRAGMA user_version``. Every SQLite error surfaces as
``InboxUnavailable``, which the endpoint answers with ``fail``. Refused requests are
counted in memory and written in batches, so a flood of forgeries does not compete
with payments for the write lock.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from typing import Any

from ..messages import Notification
from .base import (
    ALREADY_DONE,
    DEFAULT_BUSY_WAIT,
    DEFAULT_KEEP_REJECTIONS,
    DEFAULT_LEASE,
    DONE,
    FAILED,
    MAX_DELIVERIES,
    PROCESSING,
    RECEIVED,
    RECORD_COLUMNS,
    RUN,
    Claim,
    Inbox,
    InboxRecord,
    InboxStats,
    InboxUnavailable,
    RefusalBuffer,
    Rejection,
    backfill_handled,
    dump_fields,
    dump_signed,
    record_from_row,
    settle,
    sign_conflict,
)
from .startup import check_sqlite, prove_sqlite, sqlite_error

SCHEMA_VERSION = 2
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
SYNCHRONOUS = ("full", "normal", "extra")
#: Seconds opening an inbox waits for another process's write lock (at least).
STARTUP_LOCK_WAIT = 10.0
_KEY = "appkey = ? AND order_id = ?"
_MAX_IDLE = 16  # connections kept open per process for reuse
_SIGN_HOLDERS = (
    "SELECT appkey, order_id, out_order_id, status, lease_until, run_fields "
    "FROM gatepay_notifies WHERE run_sign = ?"
)


class SQLiteInbox(Inbox):
    """``SQLiteInbox("/var/lib/shop/gatepay.sqlite3")``: durable, many processes, one host.

    ``synchronous="normal"`` trades the last commits before a power cut for speed (WAL
    keeps the file consistent either way). ``busy_timeout`` is how long a write waits for
    the lock before the notify is answered ``fail``.
    """

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
            raise ValueError(f"synchronous must be one of {SYNCHRONOUS}, got {synchronous!r}")
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
        try:
            self._migrate(wait)
            if writable:
                prove_sqlite(self._open(wait))
        except sqlite3.Error as error:
            raise sqlite_error(error, self.path, wait) from error

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
            connection.execute("PRAGMA journal_mode = WAL")
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
    def _use(self, action: str) -> Iterator[sqlite3.Connection]:
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
    def _write(self, action: str, *, relaxed: bool = False) -> Iterator[sqlite3.Connection]:
        """A ``BEGIN IMMEDIATE`` transaction: the write lock is taken before any read.

        ``relaxed`` commits without an fsync (``synchronous=NORMAL``), for records that
        are worth less than a payment (refusals).
        """
        with self._use(action) as connection:
            if relaxed:
                connection.execute("PRAGMA synchronous = NORMAL")
            connection.execute("BEGIN IMMEDIATE")
            yield connection
            connection.execute("COMMIT")
            if relaxed:
                connection.execute(f"PRAGMA synchronous = {self.synchronous}")

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
            steps = ([SCHEMA] if version == 0 else []) + ([UPGRADE_TO_2] if version < 2 else [])
            for script in steps:
                for statement in script.split(";"):
                    if statement.strip():
                        connection.execute(statement)
            if version == 1:
                done = connection.execute(
                    f"SELECT appkey, order_id, raw FROM gatepay_notifies WHERE status = '{DONE}'"
                )
                connection.executemany(
                    "UPDATE gatepay_notifies SET run_sign = ?, run_fields = ? WHERE " + _KEY,
                    backfill_handled(done.fetchall()),
                )
            connection.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            connection.execute("COMMIT")
        finally:
            connection.close()

    def close(self) -> None:
        """Write buffered refusals and close the idle connections of this process."""
        if self._pid != os.getpid():
            return  # a forked child: the parent's connections are not ours to close
        with suppress(InboxUnavailable):
            self._refusals.flush()
        with self._pool_lock:
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def __del__(self) -> None:
        with suppress(Exception):
            self.close()

    # -- claims -----------------------------------------------------------------------

    def _take(
        self,
        connection: sqlite3.Connection,
        key: tuple[str, int],
        now: float,
        took_over: bool,
        run: tuple[str, str],
    ) -> Claim:
        token = uuid.uuid4().hex
        connection.execute(
            "UPDATE gatepay_notifies SET status = ?, claim_token = ?, lease_until = ?, "
            f"attempts = attempts + 1, updated_at = ?, run_sign = ?, run_fields = ? WHERE {_KEY}",
            (PROCESSING, token, now + self.lease, now, *run, *key),
        )
        return Claim(RUN, key[0], key[1], token, took_over=took_over)

    def _decide(
        self,
        connection: sqlite3.Connection,
        key: tuple[str, int],
        row: tuple[str, float | None],
        now: float,
        run: tuple[str, str],
    ) -> Claim:
        status, lease_until = row
        outcome = settle(status, lease_until, now)
        if outcome is not None:
            return Claim(outcome, *key)
        return self._take(connection, key, now, status == PROCESSING, run)

    @staticmethod
    def _sign_held(
        connection: sqlite3.Connection, key: tuple[str, int], run: tuple[str, str], now: float
    ) -> Claim | None:
        """``REUSED_SIGN`` or ``BUSY`` if another field set holds this sign, else ``None``."""
        for appkey, order_id, out_order_id, status, lease_until, fields in connection.execute(
            _SIGN_HOLDERS, (run[0],)
        ):
            outcome = None if fields == run[1] else sign_conflict(status, lease_until, now)
            if outcome is not None:
                return Claim(outcome, *key, other=(appkey, order_id, out_order_id))
        return None

    def claim(self, notification: Notification, *, remote_addr: str | None = None) -> Claim:
        key = (notification.appkey, notification.order_id)
        raw = dump_fields(notification.raw)
        sign = notification.raw["sign"].lower()
        run = (sign, dump_signed(notification.raw))
        with self._use("read") as connection:
            # A repeat of the notify that was handled: no write needed.
            row = connection.execute(
                f"SELECT status, run_sign, run_fields FROM gatepay_notifies WHERE {_KEY}", key
            ).fetchone()
        if row == (DONE, *run):
            return Claim(ALREADY_DONE, *key)
        self._refusals.flush_stale()
        with self._write("record the notify") as connection:
            now = time.time()
            held = self._sign_held(connection, key, run, now)
            if held is not None:
                return held
            row = connection.execute(
                f"SELECT status, lease_until, raw FROM gatepay_notifies WHERE {_KEY}", key
            ).fetchone()
            if row is None:
                connection.execute(
                    "INSERT INTO gatepay_notifies (appkey, order_id, out_order_id, status, raw, "
                    "sign, received_at, remote_addr, updated_at) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (*key, notification.out_order_id, RECEIVED, raw, sign, now, remote_addr, now),
                )
                return self._take(connection, key, now, False, run)
            new_delivery = row[2] != raw
            if new_delivery:
                (kept, seen) = connection.execute(
                    "SELECT COUNT(*), COUNT(CASE WHEN raw = ? THEN 1 END) "
                    f"FROM gatepay_deliveries WHERE {_KEY}",
                    (raw, *key),
                ).fetchone()
                if kept < MAX_DELIVERIES and not seen:
                    connection.execute(
                        "INSERT INTO gatepay_deliveries (appkey, order_id, raw, sign, "
                        "received_at, remote_addr) VALUES (?, ?, ?, ?, ?, ?)",
                        (*key, raw, sign, now, remote_addr),
                    )
            claim = self._decide(connection, key, row[:2], now, run)
        return replace(claim, new_delivery=new_delivery)

    def reclaim(self, appkey: str, order_id: int) -> tuple[Claim, InboxRecord] | None:
        key = (appkey, order_id)
        with self._write("claim the notify") as connection:
            row = connection.execute(
                f"SELECT {RECORD_COLUMNS} FROM gatepay_notifies WHERE {_KEY}", key
            ).fetchone()
            if row is None:
                return None
            record, now = self._record(connection, row), time.time()
            run = (record.raw["sign"], dump_signed(record.raw))
            held = None if record.status == DONE else self._sign_held(connection, key, run, now)
            state = (record.status, record.lease_until)
            return held or self._decide(connection, key, state, now, run), record

    def finish(
        self, claim: Claim, *, ok: bool, error: str | None = None, note: str | None = None
    ) -> bool:
        with self._use("record the outcome") as connection:
            cursor = connection.execute(
                "UPDATE gatepay_notifies SET status = ?, last_error = ?, claim_token = NULL, "
                "lease_until = NULL, updated_at = ?, note = coalesce(?, note) "
                f"WHERE {_KEY} AND claim_token = ?",
                (
                    DONE if ok else FAILED,
                    error,
                    time.time(),
                    note,
                    claim.appkey,
                    claim.order_id,
                    claim.token,
                ),
            )
        return cursor.rowcount == 1

    def renew(self, claims: list[Claim]) -> None:
        until = time.time() + self.lease
        with self._write("renew claims") as connection:
            connection.executemany(
                f"UPDATE gatepay_notifies SET lease_until = ? WHERE {_KEY} AND claim_token = ?",
                [(until, c.appkey, c.order_id, c.token) for c in claims],
            )

    def status(self, appkey: str, order_id: int) -> str | None:
        with self._use("read") as connection:
            row = connection.execute(
                f"SELECT status FROM gatepay_notifies WHERE {_KEY}", (appkey, order_id)
            ).fetchone()
        return None if row is None else str(row[0])

    # -- reading ----------------------------------------------------------------------

    def _record(
        self, connection: sqlite3.Connection, row: tuple[Any, ...], with_deliveries: bool = False
    ) -> InboxRecord:
        deliveries: list[tuple[Any, ...]] = []
        if with_deliveries:
            deliveries = connection.execute(
                "SELECT raw, received_at, remote_addr FROM gatepay_deliveries "
                f"WHERE {_KEY} ORDER BY id",
                row[:2],
            ).fetchall()
        return record_from_row(row, deliveries)

    def get(self, order_id: int, appkey: str | None = None) -> list[InboxRecord]:
        with self._use("read") as connection:
            rows = connection.execute(
                f"SELECT {RECORD_COLUMNS} FROM gatepay_notifies WHERE order_id = ? "
                "AND (? IS NULL OR appkey = ?) ORDER BY appkey",
                (order_id, appkey, appkey),
            ).fetchall()
            return [self._record(connection, row, with_deliveries=True) for row in rows]

    def records(self, status: str | None = None, limit: int = 100) -> list[InboxRecord]:
        with self._use("read") as connection:
            rows = connection.execute(
                f"SELECT {RECORD_COLUMNS} FROM gatepay_notifies WHERE (? IS NULL OR status = ?) "
                "ORDER BY updated_at DESC LIMIT ?",
                (status, status, limit),
            ).fetchall()
            return [self._record(connection, row) for row in rows]

    # -- refusals ---------------------------------------------------------------------

    def record_rejection(
        self,
        reason: str,
        *,
        field: str | None = None,
        remote_addr: str | None = None,
        order_id: str | None = None,
        out_order_id: str | None = None,
    ) -> None:
        self._refusals.add((time.time(), reason, field, remote_addr, order_id, out_order_id))

    def _write_refusals(self, batch: list[tuple[Any, ...]]) -> None:
        with self._write("record refusals", relaxed=True) as connection:
            connection.executemany(
                "INSERT INTO gatepay_rejections (at, reason, field, remote_addr, order_id, "
                "out_order_id) VALUES (?, ?, ?, ?, ?, ?)",
                batch,
            )
            connection.execute(
                "DELETE FROM gatepay_rejections WHERE id <= "
                "(SELECT MAX(id) FROM gatepay_rejections) - ?",
                (self.keep_rejections,),
            )
            connection.executemany(
                "INSERT INTO gatepay_rejection_counts (reason, count) VALUES (?, ?) "
                "ON CONFLICT (reason) DO UPDATE SET count = count + excluded.count",
                Counter(row[1] for row in batch).items(),
            )

    def rejections(self, limit: int = 100) -> list[Rejection]:
        self._refusals.flush()
        with self._use("read") as connection:
            rows = connection.execute(
                "SELECT at, reason, field, remote_addr, order_id, out_order_id "
                "FROM gatepay_rejections ORDER BY id DESC LIMIT ?",
                (limit,),
            )
            return [Rejection(*row) for row in rows.fetchall()]

    def stats(self) -> InboxStats:
        self._refusals.flush()
        with self._use("read") as connection:
            by_status = dict(
                connection.execute("SELECT status, COUNT(*) FROM gatepay_notifies GROUP BY status")
            )
            (stale,) = connection.execute(
                "SELECT COUNT(*) FROM gatepay_notifies WHERE status = ? AND lease_until <= ?",
                (PROCESSING, time.time()),
            ).fetchone()
            rejections = dict(
                connection.execute("SELECT reason, count FROM gatepay_rejection_counts")
            )
        return InboxStats(by_status, stale, rejections)

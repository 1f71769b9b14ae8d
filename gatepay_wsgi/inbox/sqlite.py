"""``inbox="sqlite:////var/lib/shop/gatepay.sqlite3"``: the embedded default, one host.

Safe for many worker processes and threads on one machine: WAL journal, a busy
timeout, claims inside ``BEGIN IMMEDIATE`` transactions, ``synchronous=FULL`` unless
relaxed (a payment record must survive power loss). One connection per thread and
process, opened lazily and reopened after a fork. The schema is created on first use
and versioned with ``PRAGMA user_version``. Every SQLite error surfaces as
``InboxUnavailable``, which the endpoint answers with ``fail``.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any

from ..messages import Notification
from .base import (
    ALREADY_DONE,
    BUSY,
    DEFAULT_BUSY_WAIT,
    DEFAULT_KEEP_REJECTIONS,
    DEFAULT_LEASE,
    DONE,
    FAILED,
    PROCESSING,
    RECEIVED,
    RUN,
    Claim,
    Inbox,
    InboxRecord,
    InboxStats,
    InboxUnavailable,
    Rejection,
    dump_fields,
)

SCHEMA_VERSION = 1
SCHEMA = f"""
CREATE TABLE gatepay_notifies (
    appkey        TEXT    NOT NULL,
    order_id      INTEGER NOT NULL,
    out_order_id  TEXT    NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN
                      ('{RECEIVED}', '{PROCESSING}', '{DONE}', '{FAILED}')),
    raw           TEXT    NOT NULL,
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
CREATE TABLE gatepay_deliveries (
    id           INTEGER PRIMARY KEY,
    appkey       TEXT    NOT NULL,
    order_id     INTEGER NOT NULL,
    raw          TEXT    NOT NULL,
    received_at  REAL    NOT NULL,
    remote_addr  TEXT
);
CREATE INDEX gatepay_deliveries_by_order ON gatepay_deliveries (appkey, order_id);
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
SYNCHRONOUS = ("full", "normal", "extra")
_COLUMNS = (
    "appkey, order_id, out_order_id, status, raw, received_at, remote_addr, attempts, "
    "last_error, updated_at, lease_until"
)
_KEY = "appkey = ? AND order_id = ?"


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
    ) -> None:
        self.path = os.fspath(path)
        if synchronous.lower() not in SYNCHRONOUS:
            raise ValueError(f"synchronous must be one of {SYNCHRONOUS}, got {synchronous!r}")
        self.synchronous = synchronous.upper()
        self.busy_timeout = busy_timeout
        self.lease = lease
        self.busy_wait = busy_wait
        self.keep_rejections = keep_rejections
        self._local = threading.local()
        if not create and not os.path.exists(self.path):
            raise InboxUnavailable(f"no inbox at {self.path}")
        with self._guard("open"):
            self._migrate(self._connection())

    def __repr__(self) -> str:
        return f"SQLiteInbox({self.path!r}, synchronous={self.synchronous.lower()!r})"

    # -- connections and transactions -------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        local = self._local
        if getattr(local, "pid", None) == os.getpid():
            connection: sqlite3.Connection = local.connection
            return connection
        # New thread, or a forked child: a connection must never cross a fork.
        connection = sqlite3.connect(
            self.path, timeout=self.busy_timeout, isolation_level=None, check_same_thread=True
        )
        connection.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout * 1000)}")
        connection.execute("PRAGMA journal_mode = WAL")
        connection.execute(f"PRAGMA synchronous = {self.synchronous}")
        local.connection, local.pid = connection, os.getpid()
        return connection

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as error:
            raise InboxUnavailable(f"inbox {self.path}: cannot {action}: {error}") from error

    @contextmanager
    def _write(self, action: str) -> Iterator[sqlite3.Connection]:
        """A ``BEGIN IMMEDIATE`` transaction: the write lock is taken before any read."""
        with self._guard(action):
            connection = self._connection()
            connection.execute("BEGIN IMMEDIATE")
            try:
                yield connection
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise

    def _migrate(self, connection: sqlite3.Connection) -> None:
        (version,) = connection.execute("PRAGMA user_version").fetchone()
        if version == SCHEMA_VERSION:
            return
        with self._write("create the schema") as locked:
            (version,) = locked.execute("PRAGMA user_version").fetchone()
            if version > SCHEMA_VERSION:
                raise InboxUnavailable(
                    f"inbox {self.path} has schema {version}, newer than this "
                    f"gatepay_wsgi's {SCHEMA_VERSION}: upgrade gatepay_wsgi"
                )
            if version == 0:
                for statement in SCHEMA.split(";"):
                    if statement.strip():
                        locked.execute(statement)
                locked.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def close(self) -> None:
        connection = getattr(self._local, "connection", None)
        if connection is not None and self._local.pid == os.getpid():
            connection.close()
        self._local = threading.local()

    # -- claims -----------------------------------------------------------------------

    def _take(
        self, connection: sqlite3.Connection, key: tuple[str, int], now: float, took_over: bool
    ) -> Claim:
        token = uuid.uuid4().hex
        connection.execute(
            "UPDATE gatepay_notifies SET status = ?, claim_token = ?, lease_until = ?, "
            f"attempts = attempts + 1, updated_at = ? WHERE {_KEY}",
            (PROCESSING, token, now + self.lease, now, *key),
        )
        return Claim(RUN, key[0], key[1], token, took_over=took_over)

    def _decide(
        self,
        connection: sqlite3.Connection,
        key: tuple[str, int],
        status: str,
        lease_until: float | None,
        now: float,
    ) -> Claim:
        if status == DONE:
            return Claim(ALREADY_DONE, *key)
        if status == PROCESSING and (lease_until or 0) > now:
            return Claim(BUSY, *key)
        return self._take(connection, key, now, took_over=status == PROCESSING)

    def claim(self, notification: Notification, *, remote_addr: str | None = None) -> Claim:
        key = (notification.appkey, notification.order_id)
        raw = dump_fields(notification.raw)
        with self._guard("read"):
            # A repeat of a notify already done, fields unchanged: no write needed.
            row = (
                self._connection()
                .execute(f"SELECT status, raw FROM gatepay_notifies WHERE {_KEY}", key)
                .fetchone()
            )
        if row == (DONE, raw):
            return Claim(ALREADY_DONE, *key)
        with self._write("record the notify") as connection:
            now = time.time()
            row = connection.execute(
                f"SELECT status, raw, lease_until FROM gatepay_notifies WHERE {_KEY}", key
            ).fetchone()
            if row is None:
                connection.execute(
                    f"INSERT INTO gatepay_notifies ({_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, 0, NULL, ?, NULL)",
                    (*key, notification.out_order_id, RECEIVED, raw, now, remote_addr, now),
                )
                return self._take(connection, key, now, took_over=False)
            status, stored_raw, lease_until = row
            new_delivery = stored_raw != raw
            if new_delivery:
                connection.execute(
                    "INSERT INTO gatepay_deliveries (appkey, order_id, raw, received_at, "
                    "remote_addr) VALUES (?, ?, ?, ?, ?)",
                    (*key, raw, now, remote_addr),
                )
            claim = self._decide(connection, key, status, lease_until, now)
        if new_delivery:
            return Claim(claim.outcome, *key, claim.token, claim.took_over, new_delivery=True)
        return claim

    def reclaim(self, appkey: str, order_id: int) -> tuple[Claim, InboxRecord] | None:
        key = (appkey, order_id)
        with self._write("claim the notify") as connection:
            row = connection.execute(
                f"SELECT {_COLUMNS} FROM gatepay_notifies WHERE {_KEY}", key
            ).fetchone()
            if row is None:
                return None
            record = self._record(row)
            return self._decide(
                connection, key, record.status, record.lease_until, time.time()
            ), record

    def finish(self, claim: Claim, *, ok: bool, error: str | None = None) -> bool:
        with self._guard("record the outcome"):
            cursor = self._connection().execute(
                "UPDATE gatepay_notifies SET status = ?, last_error = ?, claim_token = NULL, "
                f"lease_until = NULL, updated_at = ? WHERE {_KEY} AND claim_token = ?",
                (
                    DONE if ok else FAILED,
                    error,
                    time.time(),
                    claim.appkey,
                    claim.order_id,
                    claim.token,
                ),
            )
        return cursor.rowcount == 1

    def status(self, appkey: str, order_id: int) -> str | None:
        with self._guard("read"):
            row = (
                self._connection()
                .execute(f"SELECT status FROM gatepay_notifies WHERE {_KEY}", (appkey, order_id))
                .fetchone()
            )
        return None if row is None else str(row[0])

    # -- reading ----------------------------------------------------------------------

    def _record(self, row: tuple[Any, ...], with_deliveries: bool = False) -> InboxRecord:
        appkey, order_id, out_order_id, status, raw, received_at, remote_addr = row[:7]
        attempts, last_error, updated_at, lease_until = row[7:]
        others: tuple[dict[str, Any], ...] = ()
        if with_deliveries:
            rows = self._connection().execute(
                "SELECT raw, received_at, remote_addr FROM gatepay_deliveries "
                f"WHERE {_KEY} ORDER BY id",
                (appkey, order_id),
            )
            others = tuple(
                {"raw": json.loads(r), "received_at": at, "remote_addr": addr}
                for r, at, addr in rows
            )
        return InboxRecord(
            appkey=appkey,
            order_id=order_id,
            out_order_id=out_order_id,
            status=status,
            raw=json.loads(raw),
            received_at=received_at,
            remote_addr=remote_addr,
            attempts=attempts,
            last_error=last_error,
            updated_at=updated_at,
            lease_until=lease_until,
            deliveries=1 + len(others),
            other_deliveries=others,
        )

    def get(self, order_id: int, appkey: str | None = None) -> list[InboxRecord]:
        with self._guard("read"):
            rows = self._connection().execute(
                f"SELECT {_COLUMNS} FROM gatepay_notifies WHERE order_id = ? "
                "AND (? IS NULL OR appkey = ?) ORDER BY appkey",
                (order_id, appkey, appkey),
            )
            return [self._record(row, with_deliveries=True) for row in rows.fetchall()]

    def records(self, status: str | None = None, limit: int = 100) -> list[InboxRecord]:
        with self._guard("read"):
            rows = self._connection().execute(
                f"SELECT {_COLUMNS} FROM gatepay_notifies WHERE (? IS NULL OR status = ?) "
                "ORDER BY updated_at DESC LIMIT ?",
                (status, status, limit),
            )
            return [self._record(row) for row in rows.fetchall()]

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
        # Best effort and bounded: a probe must neither fill the disk nor fail a request,
        # nor cost an fsync (a refusal is worth less than a payment record).
        try:
            with self._guard("relax durability"):
                self._connection().execute("PRAGMA synchronous = NORMAL")
            with self._write("record a refusal") as connection:
                cursor = connection.execute(
                    "INSERT INTO gatepay_rejections (at, reason, field, remote_addr, order_id, "
                    "out_order_id) VALUES (?, ?, ?, ?, ?, ?)",
                    (time.time(), reason, field, remote_addr, order_id, out_order_id),
                )
                connection.execute(
                    "DELETE FROM gatepay_rejections WHERE id <= ?",
                    ((cursor.lastrowid or 0) - self.keep_rejections,),
                )
                connection.execute(
                    "INSERT INTO gatepay_rejection_counts (reason, count) VALUES (?, 1) "
                    "ON CONFLICT (reason) DO UPDATE SET count = count + 1",
                    (reason,),
                )
        except InboxUnavailable:
            pass  # the refusal itself is already logged by the endpoint
        finally:
            with suppress(sqlite3.Error):
                self._connection().execute(f"PRAGMA synchronous = {self.synchronous}")

    def rejections(self, limit: int = 100) -> list[Rejection]:
        with self._guard("read"):
            rows = self._connection().execute(
                "SELECT at, reason, field, remote_addr, order_id, out_order_id "
                "FROM gatepay_rejections ORDER BY id DESC LIMIT ?",
                (limit,),
            )
            return [Rejection(*row) for row in rows.fetchall()]

    def stats(self) -> InboxStats:
        with self._guard("read"):
            connection = self._connection()
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

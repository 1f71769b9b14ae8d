"""``inbox="postgresql://user:pass@host/db"``: several hosts, one inbox (the ``postgres`` extra).

The same contract as the SQLite inbox, for web workers on several machines behind a load
balancer: a notify is committed before its handler runs, one handler runs per order
across all hosts (the claim is taken under the row's lock: ``INSERT ... ON CONFLICT DO
NOTHING``, then ``SELECT ... FOR UPDATE``), failed notifies can be replayed from any host,
and a claim whose lease ran out (its worker died) is taken over. Leases are measured on
the database's clock, so the hosts' clocks need not agree. Any database error, a lost
connection or an empty pool surfaces as ``InboxUnavailable``: the endpoint answers
``fail``, never ``success`` for a notify that was not committed.

``PostgresInbox(conninfo)`` opens a psycopg 3 connection pool; ``PostgresInbox(pool=...)``
takes one of yours. The schema is created on first use (or with ``migrate()``), versioned
in ``gatepay_schema``.
"""

from __future__ import annotations

import json
import os
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import replace
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

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
from .startup import explain_postgres_error, prove_postgres

SCHEMA_VERSION = 2
SCHEMA = [
    "CREATE TABLE IF NOT EXISTS gatepay_schema (version integer NOT NULL)",
    f"""CREATE TABLE IF NOT EXISTS gatepay_notifies (
        appkey text NOT NULL,
        order_id bigint NOT NULL,
        out_order_id text NOT NULL,
        status text NOT NULL CHECK (status IN
            ('{RECEIVED}', '{PROCESSING}', '{DONE}', '{FAILED}')),
        raw text NOT NULL,
        sign text NOT NULL,
        received_at double precision NOT NULL,
        remote_addr text,
        attempts integer NOT NULL DEFAULT 0,
        claim_token text,
        lease_until double precision,
        last_error text,
        updated_at double precision NOT NULL,
        PRIMARY KEY (appkey, order_id))""",
    "CREATE INDEX IF NOT EXISTS gatepay_notifies_by_status "
    "ON gatepay_notifies (status, updated_at)",
    "CREATE INDEX IF NOT EXISTS gatepay_notifies_by_sign ON gatepay_notifies (sign)",
    """CREATE TABLE IF NOT EXISTS gatepay_deliveries (
        id bigserial PRIMARY KEY,
        appkey text NOT NULL,
        order_id bigint NOT NULL,
        raw text NOT NULL,
        sign text NOT NULL,
        received_at double precision NOT NULL,
        remote_addr text)""",
    "CREATE INDEX IF NOT EXISTS gatepay_deliveries_by_order "
    "ON gatepay_deliveries (appkey, order_id)",
    "CREATE INDEX IF NOT EXISTS gatepay_deliveries_by_sign ON gatepay_deliveries (sign)",
    """CREATE TABLE IF NOT EXISTS gatepay_rejections (
        id bigserial PRIMARY KEY,
        at double precision NOT NULL,
        reason text NOT NULL,
        field text,
        remote_addr text,
        order_id text,
        out_order_id text)""",
    """CREATE TABLE IF NOT EXISTS gatepay_rejection_counts (
        reason text PRIMARY KEY,
        count bigint NOT NULL)""",
    # Schema 2: the sign and signed fields of each record's latest claim (the sign rule:
    # once one field set under a sign was handled, every other one is refused), a note.
    "ALTER TABLE gatepay_notifies ADD COLUMN IF NOT EXISTS run_sign text",
    "ALTER TABLE gatepay_notifies ADD COLUMN IF NOT EXISTS run_fields text",
    "ALTER TABLE gatepay_notifies ADD COLUMN IF NOT EXISTS note text",
    "CREATE INDEX IF NOT EXISTS gatepay_notifies_by_run_sign ON gatepay_notifies (run_sign)",
]
_KEY = "appkey = %s AND order_id = %s"
_NOW = "SELECT extract(epoch FROM clock_timestamp())::double precision"
#: Seconds opening an inbox waits for another session's lock (at least).
STARTUP_LOCK_WAIT = 10.0
_LOCK_ID = 0x6761_7465  # the advisory lock that serialises schema creation across hosts


class PostgresInbox(Inbox):
    """``PostgresInbox("postgresql://shop@db/shop")``: one inbox for every host."""

    def __init__(
        self,
        conninfo: str | None = None,
        *,
        pool: ConnectionPool | None = None,
        lease: float = DEFAULT_LEASE,
        busy_wait: float = DEFAULT_BUSY_WAIT,
        keep_rejections: int = DEFAULT_KEEP_REJECTIONS,
        timeout: float = 5.0,
        max_size: int = 10,
        writable: bool = True,
    ) -> None:
        if (conninfo is None) == (pool is None):
            raise ValueError("give PostgresInbox a conninfo URL or a pool, not both")
        self.lease, self.busy_wait, self.keep_rejections = lease, busy_wait, keep_rejections
        self.timeout, self.max_size = timeout, max_size
        self.conninfo = conninfo or ""
        self._given_pool = pool
        self._pool: ConnectionPool | None = None
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._refusals = RefusalBuffer(self._write_refusals)
        self.writable = writable  # migrate() proves that this role can write
        self.migrate()

    def __repr__(self) -> str:
        return f"PostgresInbox({'your pool' if self._given_pool else 'own pool'})"

    def _settings(self) -> dict[str, Any]:
        """Connection settings: no wait without end (locks, statements, dead peers)."""
        milliseconds = int(self.timeout * 1000)
        return {
            "connect_timeout": max(1, int(self.timeout)),
            "options": f"-c lock_timeout={milliseconds} -c statement_timeout={2 * milliseconds}",
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
        }

    @property
    def pool(self) -> ConnectionPool:
        """This process's pool, opened on first use: a pool must never cross a fork (its
        sockets would be shared with the parent and its threads would not survive)."""
        if self._given_pool is not None:
            return self._given_pool
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                self._pid = os.getpid()  # the parent's pool, if any, is left alone
                self._pool = ConnectionPool(
                    self.conninfo,
                    min_size=1,
                    max_size=self.max_size,
                    timeout=self.timeout,
                    open=False,
                    # A pooled connection may have died with the server (a restart, a
                    # failover): checked on the way out, so the first request after an
                    # outage succeeds.
                    check=ConnectionPool.check_connection,
                    kwargs={"autocommit": False, **self._settings()},
                )
                self._pool.open(wait=False)
            return self._pool

    @contextmanager
    def _transaction(self, action: str) -> Iterator[psycopg.Cursor[Any]]:
        """One transaction on a pooled connection; errors become ``InboxUnavailable``."""
        try:
            with (
                self.pool.connection(timeout=self.timeout) as connection,
                connection.transaction(),
                connection.cursor() as cursor,
            ):
                yield cursor
        except (psycopg.Error, PoolTimeout) as error:
            raise InboxUnavailable(f"postgres inbox: cannot {action}: {error}") from error

    def migrate(self) -> None:
        """Create or check the schema (``gatepay-wsgi inbox migrate`` calls this).

        On a connection of its own, closed at once (no pool is opened before a server
        forks its workers); DDL only when the schema is missing or older, so an app role
        with only data grants can start over tables created ahead.
        """
        try:
            opener = (
                self._given_pool.connection(timeout=self.timeout)
                if self._given_pool is not None
                else psycopg.connect(self.conninfo, **self._settings())
            )
            with opener as connection, connection.transaction(), connection.cursor() as cursor:
                # A lock is waited for longer at start-up than by a notify: a worker booting
                # while another session briefly locks a table must not halt the server.
                wait = int(max(self.timeout, STARTUP_LOCK_WAIT) * 1000)
                cursor.execute(f"SET LOCAL lock_timeout = {wait}")
                cursor.execute(f"SET LOCAL statement_timeout = {2 * wait}")
                if self._schema_version(cursor) == SCHEMA_VERSION:
                    if self.writable:
                        prove_postgres(cursor)
                    return
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
                version = self._schema_version(cursor)
                if version is not None and version > SCHEMA_VERSION:
                    raise InboxUnavailable(
                        f"postgres inbox has schema {version}, newer than this "
                        f"gatepay_wsgi's {SCHEMA_VERSION}: upgrade gatepay_wsgi"
                    )
                for statement in SCHEMA:
                    cursor.execute(statement)
                if version == 1:
                    cursor.execute(
                        "SELECT appkey, order_id, raw FROM gatepay_notifies WHERE status = %s",
                        (DONE,),
                    )
                    cursor.executemany(
                        "UPDATE gatepay_notifies SET run_sign = %s, run_fields = %s WHERE " + _KEY,
                        backfill_handled(cursor.fetchall()),
                    )
                cursor.execute("DELETE FROM gatepay_schema")
                cursor.execute("INSERT INTO gatepay_schema VALUES (%s)", (SCHEMA_VERSION,))
        except (psycopg.Error, PoolTimeout) as error:
            conninfo = self.conninfo or str(getattr(self._given_pool, "conninfo", ""))
            raise InboxUnavailable(explain_postgres_error(error, conninfo)) from error

    @staticmethod
    def _schema_version(cursor: Any) -> int | None:
        cursor.execute("SELECT to_regclass('gatepay_schema') IS NOT NULL")
        (exists,) = cursor.fetchone() or (False,)
        if not exists:
            return None
        cursor.execute("SELECT max(version) FROM gatepay_schema")
        (version,) = cursor.fetchone() or (None,)
        return None if version is None else int(version)

    def close(self) -> None:
        with suppress(InboxUnavailable):
            self._refusals.flush()
        if self._given_pool is None and self._pool is not None and self._pid == os.getpid():
            self._pool.close()
            self._pool = None

    # -- claims -----------------------------------------------------------------------

    def _take(
        self, cursor: Any, key: tuple[str, int], now: float, took_over: bool, run: tuple[str, str]
    ) -> Claim:
        token = uuid.uuid4().hex
        cursor.execute(
            "UPDATE gatepay_notifies SET status = %s, claim_token = %s, lease_until = %s, "
            f"attempts = attempts + 1, updated_at = %s, run_sign = %s, run_fields = %s "
            f"WHERE {_KEY}",
            (PROCESSING, token, now + self.lease, now, *run, *key),
        )
        return Claim(RUN, key[0], key[1], token, took_over=took_over)

    def _decide(
        self,
        cursor: Any,
        key: tuple[str, int],
        row: tuple[str, float | None],
        now: float,
        run: tuple[str, str],
    ) -> Claim:
        status, lease_until = row
        outcome = settle(status, lease_until, now)
        if outcome is not None:
            return Claim(outcome, *key)
        return self._take(cursor, key, now, status == PROCESSING, run)

    @staticmethod
    def _sign_held(
        cursor: Any, key: tuple[str, int], run: tuple[str, str], now: float
    ) -> Claim | None:
        """``REUSED_SIGN`` or ``BUSY`` if another field set holds this sign, else ``None``.

        Call it under ``_lock_sign``: claims under one sign are taken one at a time across
        hosts, so two field sets under a sign never both pass this check.
        """
        cursor.execute(
            "SELECT appkey, order_id, out_order_id, status, lease_until, run_fields "
            "FROM gatepay_notifies WHERE run_sign = %s",
            (run[0],),
        )
        for appkey, order_id, out_order_id, status, lease_until, fields in cursor.fetchall():
            outcome = None if fields == run[1] else sign_conflict(status, lease_until, now)
            if outcome is not None:
                return Claim(outcome, *key, other=(appkey, order_id, out_order_id))
        return None

    @staticmethod
    def _lock_sign(cursor: Any, sign: str) -> float:
        """Take the sign's advisory lock (always before a row's lock: no deadlock between a
        claim and a replay); the database's clock once it is held."""
        cursor.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (sign,))
        cursor.execute(_NOW)
        (now,) = cursor.fetchone() or (time.time(),)
        return float(now)

    def claim(self, notification: Notification, *, remote_addr: str | None = None) -> Claim:
        key = (notification.appkey, notification.order_id)
        raw = dump_fields(notification.raw)
        sign = notification.raw["sign"].lower()
        run = (sign, dump_signed(notification.raw))
        with self._transaction("read") as cursor:
            # A repeat of the notify that was handled: no write needed.
            cursor.execute(
                f"SELECT status, run_sign, run_fields FROM gatepay_notifies WHERE {_KEY}", key
            )
            if cursor.fetchone() == (DONE, *run):
                return Claim(ALREADY_DONE, *key)
        self._refusals.flush_stale()
        with self._transaction("record the notify") as cursor:
            now = self._lock_sign(cursor, sign)
            held = self._sign_held(cursor, key, run, now)
            if held is not None:
                return held
            cursor.execute(
                "INSERT INTO gatepay_notifies (appkey, order_id, out_order_id, status, raw, "
                "sign, received_at, remote_addr, updated_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (*key, notification.out_order_id, RECEIVED, raw, sign, now, remote_addr, now),
            )
            if cursor.rowcount == 1:
                return self._take(cursor, key, now, False, run)
            cursor.execute(  # another host may hold it: wait for its row lock, then decide
                f"SELECT status, lease_until, raw FROM gatepay_notifies WHERE {_KEY} FOR UPDATE",
                key,
            )
            row = cursor.fetchone()
            if row is None:  # deleted between the insert and the lock: nothing to hold
                raise InboxUnavailable("postgres inbox: the notify's row vanished")
            new_delivery = row[2] != raw
            if new_delivery:
                cursor.execute(
                    "SELECT count(*), count(*) FILTER (WHERE raw = %s) "
                    f"FROM gatepay_deliveries WHERE {_KEY}",
                    (raw, *key),
                )
                (kept, seen) = cursor.fetchone() or (0, 0)
                if kept < MAX_DELIVERIES and not seen:
                    cursor.execute(
                        "INSERT INTO gatepay_deliveries (appkey, order_id, raw, sign, "
                        "received_at, remote_addr) VALUES (%s, %s, %s, %s, %s, %s)",
                        (*key, raw, sign, now, remote_addr),
                    )
            claim = self._decide(cursor, key, row[:2], now, run)
        return replace(claim, new_delivery=new_delivery)

    def reclaim(self, appkey: str, order_id: int) -> tuple[Claim, InboxRecord] | None:
        key = (appkey, order_id)
        with self._transaction("claim the notify") as cursor:
            cursor.execute(f"SELECT raw FROM gatepay_notifies WHERE {_KEY}", key)
            found = cursor.fetchone()
            if found is None:
                return None
            now = self._lock_sign(cursor, json.loads(found[0])["sign"])  # a record's raw is fixed
            cursor.execute(
                f"SELECT {RECORD_COLUMNS} FROM gatepay_notifies WHERE {_KEY} FOR UPDATE",
                key,
            )
            row = cursor.fetchone()
            if row is None:
                return None
            record = self._record(cursor, row)
            run = (record.raw["sign"], dump_signed(record.raw))
            held = None if record.status == DONE else self._sign_held(cursor, key, run, now)
            state = (record.status, record.lease_until)
            return held or self._decide(cursor, key, state, now, run), record

    def renew(self, claims: list[Claim]) -> None:
        with self._transaction("renew claims") as cursor:
            cursor.executemany(
                "UPDATE gatepay_notifies SET lease_until = "
                f"extract(epoch FROM clock_timestamp()) + %s WHERE {_KEY} AND claim_token = %s",
                [(self.lease, c.appkey, c.order_id, c.token) for c in claims],
            )

    def finish(
        self, claim: Claim, *, ok: bool, error: str | None = None, note: str | None = None
    ) -> bool:
        with self._transaction("record the outcome") as cursor:
            cursor.execute(
                "UPDATE gatepay_notifies SET status = %s, last_error = %s, claim_token = NULL, "
                "lease_until = NULL, updated_at = extract(epoch FROM clock_timestamp()), "
                f"note = coalesce(%s, note) WHERE {_KEY} AND claim_token = %s",
                (DONE if ok else FAILED, error, note, claim.appkey, claim.order_id, claim.token),
            )
            return cursor.rowcount == 1

    def status(self, appkey: str, order_id: int) -> str | None:
        with self._transaction("read") as cursor:
            cursor.execute(f"SELECT status FROM gatepay_notifies WHERE {_KEY}", (appkey, order_id))
            row = cursor.fetchone()
        return None if row is None else str(row[0])

    # -- reading ----------------------------------------------------------------------

    def _record(
        self, cursor: Any, row: tuple[Any, ...], with_deliveries: bool = False
    ) -> InboxRecord:
        deliveries: list[tuple[Any, ...]] = []
        if with_deliveries:
            cursor.execute(
                "SELECT raw, received_at, remote_addr FROM gatepay_deliveries "
                f"WHERE {_KEY} ORDER BY id",
                row[:2],
            )
            deliveries = cursor.fetchall()
        return record_from_row(row, deliveries)

    def get(self, order_id: int, appkey: str | None = None) -> list[InboxRecord]:
        with self._transaction("read") as cursor:
            cursor.execute(
                f"SELECT {RECORD_COLUMNS} FROM gatepay_notifies WHERE order_id = %s "
                "AND (%s::text IS NULL OR appkey = %s) ORDER BY appkey",
                (order_id, appkey, appkey),
            )
            rows = cursor.fetchall()
            return [self._record(cursor, row, with_deliveries=True) for row in rows]

    def records(self, status: str | None = None, limit: int = 100) -> list[InboxRecord]:
        with self._transaction("read") as cursor:
            cursor.execute(
                f"SELECT {RECORD_COLUMNS} FROM gatepay_notifies "
                "WHERE (%s::text IS NULL OR status = %s) "
                "ORDER BY updated_at DESC LIMIT %s",
                (status, status, limit),
            )
            return [self._record(cursor, row) for row in cursor.fetchall()]

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
        # PostgreSQL text cannot hold NUL, which a probe may well send.
        row = tuple(
            None if v is None else str(v).replace("\x00", "\\x00")
            for v in (reason, field, remote_addr, order_id, out_order_id)
        )
        self._refusals.add((time.time(), *row))

    def _write_refusals(self, batch: list[tuple[Any, ...]]) -> None:
        with self._transaction("record refusals") as cursor:
            cursor.executemany(
                "INSERT INTO gatepay_rejections (at, reason, field, remote_addr, order_id, "
                "out_order_id) VALUES (%s, %s, %s, %s, %s, %s)",
                batch,
            )
            cursor.execute(
                "DELETE FROM gatepay_rejections WHERE id <= "
                "(SELECT max(id) FROM gatepay_rejections) - %s",
                (self.keep_rejections,),
            )
            cursor.executemany(
                "INSERT INTO gatepay_rejection_counts (reason, count) VALUES (%s, %s) "
                "ON CONFLICT (reason) DO UPDATE "
                "SET count = gatepay_rejection_counts.count + excluded.count",
                list(Counter(row[1] for row in batch).items()),
            )

    def rejections(self, limit: int = 100) -> list[Rejection]:
        self._refusals.flush()
        with self._transaction("read") as cursor:
            cursor.execute(
                "SELECT at, reason, field, remote_addr, order_id, out_order_id "
                "FROM gatepay_rejections ORDER BY id DESC LIMIT %s",
                (limit,),
            )
            return [Rejection(*row) for row in cursor.fetchall()]

    def stats(self) -> InboxStats:
        self._refusals.flush()
        with self._transaction("read") as cursor:
            cursor.execute("SELECT status, count(*) FROM gatepay_notifies GROUP BY status")
            by_status = {status: count for status, count in cursor.fetchall()}
            cursor.execute(
                "SELECT count(*) FROM gatepay_notifies WHERE status = %s AND lease_until <= "
                "extract(epoch FROM clock_timestamp())",
                (PROCESSING,),
            )
            (stale,) = cursor.fetchone() or (0,)
            cursor.execute("SELECT reason, count FROM gatepay_rejection_counts")
            rejections = {reason: count for reason, count in cursor.fetchall()}
        return InboxStats(by_status, stale, rejections)

"""``inbox="postgresql://user:pass@host/db"``: several hosts, one inbox (the ``postgres`` extra).

The same contract as the SQLite inbox, for web workers on several machines behind a load
balancer: a notify is committed before its handler runs, one handler runs per order
across all hosts (the claim is taken under the row's lock: ``INSERT ... ON CONFLICT DO
NOTHING``, then ``SELECT ... FOR UPDATE``), failed notifies can be replayed from any host,
and a claim whose lease ran out (its worker died) is taken over. Leases are measured on
the database's clock, so the hosts' clocks need not agree. Any database error, a lost
connection or an empty pool surfaces as ``InboxUnavailable``: the endpoint answers
``fail``, never ``success`` for a notify that was not committed.

The algorithm is ``sql.py``'s; this module keeps PostgreSQL's pool, transactions,
locks and migrations. ``PostgresInbox(conninfo)`` opens a psycopg 3 connection pool;
``PostgresInbox(pool=...)`` takes one of yours. The schema is created on first use (or
with ``migrate()``), versioned in ``gatepay_schema``.
"""

from __future__ import annotations

import functools
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool, PoolTimeout

from ..errors import ConfigError, InboxNotWritable, InboxUnavailable
from .postgres_startup import explain_postgres_error, prove_postgres
from .refusals import RefusalBuffer
from .sql import SQLInbox
from .sql_rows import (
    BACKFILL_RECEIVED,
    SCHEMA_VERSION,
    Cursor,
    Database,
    backfill_handled,
)
from .states import (
    DEFAULT_BUSY_WAIT,
    DEFAULT_KEEP_REJECTIONS,
    DEFAULT_LEASE,
    DONE,
    FAILED,
    PROCESSING,
    RECEIVED,
)

__all__ = ["SCHEMA", "SCHEMA_VERSION", "PostgresInbox"]

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
    # Schema 3: how many verified deliveries each record had (``inbox show``).
    "ALTER TABLE gatepay_notifies ADD COLUMN IF NOT EXISTS received integer NOT NULL DEFAULT 1",
    # Schema 4: the console's failed sign-ins, counted by every host together.
    """CREATE TABLE IF NOT EXISTS gatepay_sign_in_failures (
        sign_in_key text PRIMARY KEY,
        failures integer NOT NULL,
        blocked_until double precision NOT NULL,
        forget_at double precision NOT NULL)""",
    # Schema 5: which configured appsecret verified a record's delivery (a rotation).
    "ALTER TABLE gatepay_notifies ADD COLUMN IF NOT EXISTS secret_index integer NOT NULL DEFAULT 0",
]
#: Seconds opening an inbox waits for another session's lock (at least).
STARTUP_LOCK_WAIT = 10.0
_LOCK_ID = 0x6761_7465  # the advisory lock that serialises schema creation across hosts


@functools.cache
def _pyformat(sql: str) -> str:
    """``sql.py``'s ``?`` placeholders as psycopg's ``%s`` (no ``?`` or ``%`` otherwise)."""
    return sql.replace("?", "%s")


class _Statements:
    """A psycopg cursor that takes ``sql.py``'s queries: the ``Database`` protocol."""

    __slots__ = ("cursor",)

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self.cursor = cursor

    def execute(self, sql: str, parameters: Sequence[Any] = (), /) -> Cursor:
        return self.cursor.execute(_pyformat(sql), parameters)

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> None:
        self.cursor.executemany(_pyformat(sql), parameters)


class PostgresInbox(SQLInbox):
    """``PostgresInbox("postgresql://shop@db/shop")``: one inbox for every host.

    :param conninfo: a libpq URL or key=value string; or give ``pool``, a psycopg
        ``ConnectionPool`` of yours (not both).
    :param lease: seconds a claim stays live without renewal (a killed worker's).
    :param busy_wait: seconds a delivery waits for another worker's outcome.
    :param keep_rejections: refused requests kept (the newest).
    :param timeout: seconds to connect, to wait for a lock, or for a pooled connection.
    :param max_size: connections in this process's pool.
    :param writable: prove at once that this role can write the tables.
    """

    NOW = "extract(epoch FROM clock_timestamp())"
    LOCK_ROW = " FOR UPDATE"
    ASCII_LOWER_ID = (
        "translate(out_order_id, 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"
    )

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
            raise ConfigError("give PostgresInbox a conninfo URL or a pool, not both")
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
    def _transaction(self, action: str, *, relaxed: bool = False) -> Iterator[Database]:
        """One transaction on a pooled connection; errors become ``InboxUnavailable``."""
        try:
            with (
                self.pool.connection(timeout=self.timeout) as connection,
                connection.transaction(),
                connection.cursor() as cursor,
            ):
                yield _Statements(cursor)
        except (psycopg.Error, PoolTimeout) as error:
            raise InboxUnavailable(f"postgres inbox: cannot {action}: {error}") from error

    # Every statement runs in a transaction here; a read's is as cheap as a bare one.
    _statements = _transaction

    def _lock_sign(self, db: Database, sign: str) -> float:
        """Take the sign's advisory lock (always before a row's lock: no deadlock between a
        claim and a replay); the database's clock once it is held."""
        db.execute("SELECT pg_advisory_xact_lock(hashtextextended(?, 0))", (sign,))
        (now,) = db.execute(f"SELECT {self.NOW}::double precision").fetchone()
        return float(now)

    def _clean(self, value: str | None) -> str | None:
        # PostgreSQL text cannot hold NUL, which a probe may well send.
        return None if value is None else str(value).replace("\x00", "\\x00")

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
                    backfill_handled(_Statements(cursor))
                if version in (1, 2):
                    cursor.execute(BACKFILL_RECEIVED)
                cursor.execute("DELETE FROM gatepay_schema")
                cursor.execute("INSERT INTO gatepay_schema VALUES (%s)", (SCHEMA_VERSION,))
        except (psycopg.Error, PoolTimeout) as error:
            conninfo = self.conninfo or str(getattr(self._given_pool, "conninfo", ""))
            # At start-up (README): InboxNotWritable, an InboxUnavailable, as for SQLite.
            raise InboxNotWritable(explain_postgres_error(error, conninfo)) from error

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
        """Write buffered refusals and close this process's own pool."""
        super().close()
        if self._given_pool is None and self._pool is not None and self._pid == os.getpid():
            self._pool.close()
            self._pool = None

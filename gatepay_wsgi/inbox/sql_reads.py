"""What a SQL inbox reads: ``class SQLInbox(SQLReads)``; the writes are ``sql.py``'s.

Each read is a statement on a pooled connection (``_statements``, the dialect's), atomic
on its own; a record's later deliveries come with it only where one order is asked for.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any

from ..messages import is_order_id
from .records import InboxRecord, InboxStats, Rejection
from .refusals import RefusalBuffer
from .search import SearchFilter
from .sql_rows import KEY, RECORD_COLUMNS, Database, record_from_row
from .states import PROCESSING, Status
from .step import Inbox


class SQLReads(Inbox):
    """The reads every SQL dialect shares: status, records, search, refusals, stats."""

    #: The SQL expression of the clock leases are measured on (seconds since the epoch).
    NOW: str
    #: The shop's order id with only its ASCII letters lower-cased, as ``ascii_lower``
    #: does to the text searched for (SQLite's LOWER; PostgreSQL's lowers "É" too).
    ASCII_LOWER_ID = "LOWER(out_order_id)"
    _refusals: RefusalBuffer

    @abstractmethod
    def _statements(self, action: str) -> AbstractContextManager[Database]:
        """Statements each atomic on its own; errors become ``InboxUnavailable``."""

    def status(self, appkey: str, order_id: int) -> Status | None:
        if not is_order_id(order_id):
            return None
        with self._statements("read") as db:
            row = db.execute(
                f"SELECT status FROM gatepay_notifies WHERE {KEY}", (appkey, order_id)
            ).fetchone()
        return None if row is None else Status(row[0])

    # -- reading ----------------------------------------------------------------------

    @staticmethod
    def _record(db: Database, row: Sequence[Any], with_deliveries: bool = False) -> InboxRecord:
        deliveries: list[Any] = []
        if with_deliveries:
            deliveries = db.execute(
                "SELECT raw, received_at, remote_addr FROM gatepay_deliveries "
                f"WHERE {KEY} ORDER BY id",
                tuple(row[:2]),
            ).fetchall()
        return record_from_row(row, deliveries)

    def get(self, order_id: int, appkey: str | None = None) -> list[InboxRecord]:
        if not is_order_id(order_id):
            return []
        with self._statements("read") as db:
            rows = db.execute(
                f"SELECT {RECORD_COLUMNS} FROM gatepay_notifies WHERE order_id = ? "
                "AND (CAST(? AS TEXT) IS NULL OR appkey = ?) ORDER BY appkey",
                (order_id, appkey, appkey),
            ).fetchall()
            return [self._record(db, row, with_deliveries=True) for row in rows]

    def records(self, status: Status | str | None = None, limit: int = 100) -> list[InboxRecord]:
        wanted = None if status is None else Status(status).value
        with self._statements("read") as db:
            rows = db.execute(
                f"SELECT {RECORD_COLUMNS} FROM gatepay_notifies "
                "WHERE (CAST(? AS TEXT) IS NULL OR status = ?) "
                "ORDER BY updated_at DESC LIMIT ?",
                (wanted, wanted, limit),
            ).fetchall()
            return [self._record(db, row) for row in rows]

    def _search(self, wanted: SearchFilter, limit: int) -> list[InboxRecord]:
        if wanted.order_id is not None and not is_order_id(wanted.order_id):
            return []
        # Only the conditions asked for, each a bound parameter. A part of the shop's id
        # is found by REPLACE, not LIKE: no wildcard to escape, no ``%`` in the SQL.
        lowered = self.ASCII_LOWER_ID
        conditions: list[tuple[str, object]] = [
            (sql, value)
            for sql, value in (
                ("status = ?", None if wanted.status is None else wanted.status.value),
                ("order_id = ?", wanted.order_id),
                (f"REPLACE({lowered}, ?, '') <> {lowered}", wanted.out_order_id),
                ("received_at >= ?", wanted.since),
                ("received_at < ?", wanted.until),
            )
            if value is not None
        ]
        where = " AND ".join(sql for sql, _ in conditions) or "1 = 1"
        with self._statements("read") as db:
            rows = db.execute(
                f"SELECT {RECORD_COLUMNS} FROM gatepay_notifies WHERE {where} "
                "ORDER BY updated_at DESC, order_id DESC LIMIT ?",
                (*(value for _, value in conditions), limit),
            ).fetchall()
            return [self._record(db, row) for row in rows]

    def rejections(self, limit: int = 100) -> list[Rejection]:
        self._refusals.flush()
        with self._statements("read") as db:
            rows = db.execute(
                "SELECT at, reason, field, remote_addr, order_id, out_order_id "
                "FROM gatepay_rejections ORDER BY id DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [Rejection(*row) for row in rows]

    def stats(self) -> InboxStats:
        self._refusals.flush()
        with self._statements("read") as db:
            by_status = {
                status: count
                for status, count in db.execute(
                    "SELECT status, COUNT(*) FROM gatepay_notifies GROUP BY status"
                ).fetchall()
            }
            (stale,) = db.execute(
                "SELECT COUNT(*) FROM gatepay_notifies "
                f"WHERE status = ? AND lease_until <= {self.NOW}",
                (PROCESSING.value,),
            ).fetchone()
            rejections = {
                reason: count
                for reason, count in db.execute(
                    "SELECT reason, count FROM gatepay_rejection_counts"
                ).fetchall()
            }
        return InboxStats(by_status, stale, rejections)

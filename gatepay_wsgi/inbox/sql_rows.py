"""What a SQL inbox's rows are: ``record_from_row(row)``, the columns and the shared
migration steps, for ``sql.py`` and the dialects (``sqlite.py``, ``postgres.py``)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any, Protocol

from .records import InboxRecord, dump_signed
from .states import DONE, Status

#: The version of the tables every backend creates; ``user_version`` or ``gatepay_schema``.
SCHEMA_VERSION = 5
#: The columns a record is read from, in ``record_from_row``'s order.
RECORD_COLUMNS = (
    "appkey, order_id, out_order_id, status, raw, received_at, remote_addr, attempts, "
    "last_error, updated_at, lease_until, note, received, secret_index"
)
KEY = "appkey = ? AND order_id = ?"


class Cursor(Protocol):
    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


class Database(Protocol):
    """What a backend's contexts yield (a ``sqlite3.Connection`` is one as it is)."""

    def execute(self, sql: str, parameters: Sequence[Any] = ..., /) -> Cursor: ...

    def executemany(self, sql: str, parameters: Iterable[Sequence[Any]], /) -> Any: ...


def record_from_row(row: Sequence[Any], deliveries: Iterable[Sequence[Any]] = ()) -> InboxRecord:
    """An ``InboxRecord`` from a row of ``RECORD_COLUMNS`` and its later deliveries'
    ``(raw, received_at, remote_addr)`` rows."""
    appkey, order_id, out_order_id, status, raw, received_at, remote_addr = row[:7]
    attempts, last_error, updated_at, lease_until, note, received, secret_index = row[7:]
    others = tuple(
        {"raw": json.loads(text), "received_at": at, "remote_addr": addr}
        for text, at, addr in deliveries
    )
    return InboxRecord(
        appkey=appkey,
        order_id=order_id,
        out_order_id=out_order_id,
        status=Status(status),
        raw=json.loads(raw),
        received_at=received_at,
        remote_addr=remote_addr,
        attempts=attempts,
        last_error=last_error,
        updated_at=updated_at,
        lease_until=lease_until,
        deliveries=1 + len(others),
        other_deliveries=others,
        note=note,
        received=received,
        secret_index=secret_index,
    )


#: Schema 3: how many verified deliveries each record had (``inbox show``), counted
#: from the deliveries kept so far for the records an older schema wrote.
ADD_RECEIVED = "ALTER TABLE gatepay_notifies ADD COLUMN received INTEGER NOT NULL DEFAULT 1"
BACKFILL_RECEIVED = (
    "UPDATE gatepay_notifies SET received = 1 + (SELECT COUNT(*) FROM gatepay_deliveries d "
    "WHERE d.appkey = gatepay_notifies.appkey AND d.order_id = gatepay_notifies.order_id)"
)


#: Schema 5: which configured appsecret verified a record's delivery (a rotation).
ADD_SECRET_INDEX = "ALTER TABLE gatepay_notifies ADD COLUMN secret_index INTEGER NOT NULL DEFAULT 0"  # noqa: S105


def backfill_handled(db: Database) -> None:
    """The schema 2 upgrade: records done before the inbox kept each claim's sign are
    taken as handled with their first field set (the sign rule then holds for them)."""
    done = db.execute(
        "SELECT appkey, order_id, raw FROM gatepay_notifies WHERE status = ?", (DONE.value,)
    ).fetchall()
    runs = []
    for appkey, order_id, text in done:
        raw = json.loads(text)
        runs.append((raw["sign"], dump_signed(raw), appkey, order_id))
    db.executemany(f"UPDATE gatepay_notifies SET run_sign = ?, run_fields = ? WHERE {KEY}", runs)

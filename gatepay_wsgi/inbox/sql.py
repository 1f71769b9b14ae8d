"""The SQL inbox, written once: ``class SQLiteInbox(SQLInbox)`` fills in the dialect.

Claims, reclaims, outcomes, refusals and sign-in failures are written here (the reads
are ``sql_reads.py``'s, the rows and columns ``sql_rows.py``'s), as SQL every backend
speaks (``?`` placeholders; the PostgreSQL backend translates them). A backend keeps
only what differs between databases:

- ``_statements(action)``: a connection on which each statement is atomic on its own
  (reads, and a single-statement write such as an outcome);
- ``_transaction(action, relaxed=False)``: a write transaction that holds the write
  lock (SQLite: ``BEGIN IMMEDIATE``) or takes row locks as it goes (PostgreSQL);
- ``_lock_sign(db, sign)``: serialise the claims under one sign, and say what time it
  is (SQLite's write lock already serialises everything; PostgreSQL takes an advisory
  lock and reads the database's clock, so the hosts' clocks need not agree);
- ``NOW``: the SQL expression of that clock, ``LOCK_ROW``: ``" FOR UPDATE"`` or ``""``;
- its connections, its schema and migrations.

Each context yields an object with ``execute(sql, params)`` (returning a cursor with
``fetchone``, ``fetchall`` and ``rowcount``) and ``executemany``; any database error
surfaces as ``InboxUnavailable``.
"""

from __future__ import annotations

import json
import logging
import uuid
from abc import abstractmethod
from collections import Counter
from contextlib import AbstractContextManager, suppress
from dataclasses import replace
from typing import Any

from ..callbacks import Notification
from ..errors import InboxUnavailable
from ..messages import is_order_id
from .decide import SignHolder, Stored, record_decision, sign_decision
from .records import (
    Claim,
    InboxRecord,
    SignInChange,
    SignInFailures,
    dump_fields,
    dump_signed,
)
from .sql_reads import SQLReads
from .sql_rows import KEY, RECORD_COLUMNS, Database
from .states import (
    ALREADY_DONE,
    DONE,
    FAILED,
    MAX_DELIVERIES,
    PROCESSING,
    RUN,
)

logger = logging.getLogger("gatepay_wsgi")

#: What ``update_sign_ins`` serialises on with ``_lock_sign`` (never a sign: not hex).
_SIGN_INS_LOCK = "gatepay console sign-ins"
_SIGN_HOLDERS = (
    "SELECT appkey, order_id, out_order_id, status, lease_until, run_fields "
    "FROM gatepay_notifies WHERE run_sign = ?"
)


class SQLInbox(SQLReads):
    """The inbox's algorithm over SQL; a subclass is one database (see the module)."""

    #: What a read of the row being claimed adds to lock it (PostgreSQL: other hosts).
    LOCK_ROW = ""
    keep_rejections: int

    # -- the dialect ------------------------------------------------------------------

    @abstractmethod
    def _transaction(
        self, action: str, *, relaxed: bool = False
    ) -> AbstractContextManager[Database]:
        """One write transaction; ``relaxed``: worth less than a payment (no fsync)."""

    @abstractmethod
    def _lock_sign(self, db: Database, sign: str) -> float:
        """Serialise claims under ``sign`` until the transaction ends; the time now."""

    def _clean(self, value: str | None) -> str | None:
        """A refused request's text as the database can store it."""
        return value

    # -- claims -----------------------------------------------------------------------

    def _take(
        self,
        db: Database,
        key: tuple[str, int],
        now: float,
        took_over: bool,
        run: tuple[str, str],
        secret_index: int | None,
    ) -> Claim:
        """Claim the order's row; ``secret_index``: of the delivery it runs for (``None``,
        a replay: the stored one stays)."""
        token = uuid.uuid4().hex
        db.execute(
            "UPDATE gatepay_notifies SET status = ?, claim_token = ?, lease_until = ?, "
            "attempts = attempts + 1, updated_at = ?, run_sign = ?, run_fields = ?, "
            f"secret_index = coalesce(?, secret_index) WHERE {KEY}",
            (PROCESSING.value, token, now + self.lease, now, *run, secret_index, *key),
        )
        return Claim.run(key[0], key[1], token, took_over)

    def _decide(
        self,
        db: Database,
        key: tuple[str, int],
        row: tuple[str, float | None],
        now: float,
        run: tuple[str, str],
        secret_index: int | None = None,
    ) -> Claim:
        """``decide.record_decision`` over the order's row; its claim taken when it says run."""
        decision = record_decision(Stored(*row), now)
        if decision.outcome is RUN:
            return self._take(db, key, now, decision.took_over, run, secret_index)
        return Claim(decision.outcome, *key)

    @staticmethod
    def _sign_held(
        db: Database, key: tuple[str, int], run: tuple[str, str], now: float
    ) -> Claim | None:
        """``decide.sign_decision`` over every record that claimed under this sign.

        Call it under ``_lock_sign``: claims under one sign are taken one at a time, so
        two field sets under a sign never both pass this check.
        """
        holders = (
            SignHolder((appkey, order_id, out_order_id), status, lease_until, fields == run[1])
            for appkey, order_id, out_order_id, status, lease_until, fields in db.execute(
                _SIGN_HOLDERS, (run[0],)
            ).fetchall()
        )
        decision = sign_decision(holders, now)
        return None if decision is None else Claim(decision.outcome, *key, other=decision.other)

    def claim(self, notification: Notification, *, remote_addr: str | None = None) -> Claim:
        key = (notification.appkey, notification.order_id)
        raw = dump_fields(notification.raw)
        sign = notification.raw["sign"].lower()
        run = (sign, dump_signed(notification.raw))
        with self._statements("read") as db:
            # A repeat of the notify that was handled: no write needed.
            row = db.execute(
                f"SELECT status, run_sign, run_fields FROM gatepay_notifies WHERE {KEY}", key
            ).fetchone()
        if row is not None and tuple(row) == (DONE, *run):
            self._count_delivery(key)
            return Claim(ALREADY_DONE, *key)
        self._refusals.flush_stale()
        with self._transaction("record the notify") as db:
            now = self._lock_sign(db, sign)
            # The usual case, a new order under a sign no record holds, costs one statement
            # under the write lock (Python runs between statements while it is held).
            token = uuid.uuid4().hex
            values = (*key, notification.out_order_id, PROCESSING.value, raw, sign, now,
                      remote_addr, now, token, now + self.lease, notification.secret_index,
                      *run)  # fmt: skip
            if self._insert_claimed(db, values, unless_held=sign):
                return Claim.run(key[0], key[1], token, False)
            held = self._sign_held(db, key, run, now)
            if held is not None:
                return held
            if self._insert_claimed(db, values):
                return Claim.run(key[0], key[1], token, False)
            # Another worker's: wait for its row lock (PostgreSQL), then decide.
            row = db.execute(
                f"SELECT status, lease_until, raw FROM gatepay_notifies WHERE {KEY}"
                + self.LOCK_ROW,
                key,
            ).fetchone()
            if row is None:  # deleted between the insert and the lock: nothing to hold
                raise InboxUnavailable(f"inbox {self!r}: the notify's row vanished")
            db.execute(f"UPDATE gatepay_notifies SET received = received + 1 WHERE {KEY}", key)
            new_delivery = row[2] != raw
            if new_delivery:
                self._keep_delivery(db, key, raw, sign, now, remote_addr)
            claim = self._decide(db, key, row[:2], now, run, notification.secret_index)
        return replace(claim, new_delivery=new_delivery)

    @staticmethod
    def _insert_claimed(
        db: Database, values: tuple[Any, ...], *, unless_held: str | None = None
    ) -> bool:
        """Keep a new notify already claimed (not an insert and then the claim's update);
        ``unless_held``: only if no record has claimed under this sign either."""
        # (SQLite needs a WHERE on an upsert's SELECT to parse it.)
        guard = "NOT EXISTS (SELECT 1 FROM gatepay_notifies WHERE run_sign = ?)"
        inserted = db.execute(
            "INSERT INTO gatepay_notifies (appkey, order_id, out_order_id, status, raw, "
            "sign, received_at, remote_addr, updated_at, claim_token, lease_until, "
            "secret_index, attempts, run_sign, run_fields) "
            "SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 1, ?, ? WHERE "
            + ("1 = 1" if unless_held is None else guard)
            + " ON CONFLICT DO NOTHING",
            values if unless_held is None else (*values, unless_held),
        )
        return bool(inserted.rowcount == 1)

    def _count_delivery(self, key: tuple[str, int]) -> None:
        """One more delivery of a handled notify: a count for ``inbox show``, worth no
        fsync, and never worth failing the answer ``success`` for."""
        try:
            with self._transaction("count the delivery", relaxed=True) as db:
                db.execute(f"UPDATE gatepay_notifies SET received = received + 1 WHERE {KEY}", key)
        except InboxUnavailable as error:
            logger.warning("a repeat of order_id=%s was not counted: %s", key[1], error)

    @staticmethod
    def _keep_delivery(
        db: Database,
        key: tuple[str, int],
        raw: str,
        sign: str,
        now: float,
        remote_addr: str | None,
    ) -> None:
        """Keep a later delivery whose fields differ (a manual re-send), up to a limit."""
        (kept, seen) = db.execute(
            f"SELECT COUNT(*), COUNT(CASE WHEN raw = ? THEN 1 END) FROM gatepay_deliveries "
            f"WHERE {KEY}",
            (raw, *key),
        ).fetchone()
        if kept < MAX_DELIVERIES and not seen:
            db.execute(
                "INSERT INTO gatepay_deliveries (appkey, order_id, raw, sign, received_at, "
                "remote_addr) VALUES (?, ?, ?, ?, ?, ?)",
                (*key, raw, sign, now, remote_addr),
            )

    def reclaim(self, appkey: str, order_id: int) -> tuple[Claim, InboxRecord] | None:
        if not is_order_id(order_id):  # a person's typo; the driver cannot even bind it
            return None
        key = (appkey, order_id)
        with self._transaction("claim the notify") as db:
            found = db.execute(f"SELECT raw FROM gatepay_notifies WHERE {KEY}", key).fetchone()
            if found is None:
                return None
            # The sign's lock before the row's, as a claim takes them: no deadlock.
            now = self._lock_sign(db, json.loads(found[0])["sign"])  # a record's raw is fixed
            row = db.execute(
                f"SELECT {RECORD_COLUMNS} FROM gatepay_notifies WHERE {KEY}" + self.LOCK_ROW, key
            ).fetchone()
            if row is None:
                return None
            record = self._record(db, row)
            run = (record.raw["sign"], dump_signed(record.raw))
            held = None if record.status == DONE else self._sign_held(db, key, run, now)
            state = (record.status, record.lease_until)
            return held or self._decide(db, key, state, now, run), record

    def finish(
        self, claim: Claim, *, ok: bool, error: str | None = None, note: str | None = None
    ) -> bool:
        with self._statements("record the outcome") as db:
            cursor = db.execute(
                "UPDATE gatepay_notifies SET status = ?, last_error = ?, claim_token = NULL, "
                f"lease_until = NULL, updated_at = {self.NOW}, note = coalesce(?, note) "
                f"WHERE {KEY} AND claim_token = ?",
                (
                    (DONE if ok else FAILED).value,
                    error,
                    note,
                    claim.appkey,
                    claim.order_id,
                    claim.token,
                ),
            )
            return cursor.rowcount == 1

    def renew(self, claims: list[Claim]) -> None:
        with self._transaction("renew claims") as db:
            db.executemany(
                f"UPDATE gatepay_notifies SET lease_until = {self.NOW} + ? "
                f"WHERE {KEY} AND claim_token = ?",
                [(self.lease, c.appkey, c.order_id, c.token) for c in claims],
            )

    # -- refusals ---------------------------------------------------------------------
    # Counted in memory and written in batches, so that a flood of forgeries does not
    # compete with payments for the write lock.

    def _keep_rejection(self, row: tuple[Any, ...]) -> None:
        self._refusals.add((row[0], *(self._clean(value) for value in row[1:])))

    def _write_refusals(self, batch: list[tuple[Any, ...]]) -> None:
        with self._transaction("record refusals", relaxed=True) as db:
            db.executemany(
                "INSERT INTO gatepay_rejections (at, reason, field, remote_addr, order_id, "
                "out_order_id) VALUES (?, ?, ?, ?, ?, ?)",
                batch,
            )
            db.execute(
                "DELETE FROM gatepay_rejections WHERE id <= "
                "(SELECT MAX(id) FROM gatepay_rejections) - ?",
                (self.keep_rejections,),
            )
            db.executemany(
                "INSERT INTO gatepay_rejection_counts (reason, count) VALUES (?, ?) "
                "ON CONFLICT (reason) DO UPDATE "
                "SET count = gatepay_rejection_counts.count + excluded.count",
                list(Counter(row[1] for row in batch).items()),
            )

    # -- the console's sign-in failures ----------------------------------------------

    def update_sign_ins(self, keys: list[str], change: SignInChange, now: float) -> float:
        with self._transaction("count sign-in failures") as db:
            # One sign-in at a time across every host: a burst is counted in turn.
            self._lock_sign(db, _SIGN_INS_LOCK)
            db.execute(
                "DELETE FROM gatepay_sign_in_failures WHERE forget_at < ? AND blocked_until < ?",
                (now, now),
            )
            marks = ", ".join("?" * len(keys))
            rows = db.execute(
                "SELECT sign_in_key, failures, blocked_until, forget_at "
                f"FROM gatepay_sign_in_failures WHERE sign_in_key IN ({marks})",
                keys,
            ).fetchall()
            answer, changed = change({row[0]: SignInFailures(*row[1:]) for row in rows})
            for key, failures in changed.items():
                if failures is None:
                    db.execute("DELETE FROM gatepay_sign_in_failures WHERE sign_in_key = ?", (key,))
                    continue
                db.execute(
                    "INSERT INTO gatepay_sign_in_failures "
                    "(sign_in_key, failures, blocked_until, forget_at) VALUES (?, ?, ?, ?) "
                    "ON CONFLICT (sign_in_key) DO UPDATE SET failures = excluded.failures, "
                    "blocked_until = excluded.blocked_until, forget_at = excluded.forget_at",
                    (key, failures.count, failures.blocked_until, failures.forget_at),
                )
        return answer

    def close(self) -> None:
        """Write buffered refusals and settle what the process keeps for this inbox; the
        backend then closes its connections."""
        super().close()
        with suppress(InboxUnavailable):
            self._refusals.flush()

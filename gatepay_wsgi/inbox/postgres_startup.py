"""PostgreSQL's start-up checks: ``explain_postgres_error`` and ``prove_postgres``.

An inbox opened to serve proves that this role may make every kind of write the inbox
makes (tried on zero rows, in the caller's transaction), and a connection or schema error
is explained naming the server and the user, never the password (``startup.py`` does the
same for SQLite).
"""

from __future__ import annotations

import getpass
import os
import re
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ..errors import InboxNotWritable

#: What the inbox does to each of its tables beyond reading: the write proof tries each.
POSTGRES_WRITES = {
    "gatepay_notifies": ("INSERT", "UPDATE"),
    "gatepay_deliveries": ("INSERT",),
    "gatepay_rejections": ("INSERT", "DELETE"),
    "gatepay_rejection_counts": ("INSERT", "UPDATE"),
    "gatepay_sign_in_failures": ("INSERT", "UPDATE", "DELETE"),
}
_PROBES = {
    "SELECT": "SELECT 1 FROM {table} WHERE false",
    "INSERT": "INSERT INTO {table} SELECT * FROM {table} WHERE false",
    "UPDATE": "UPDATE {table} SET {column} = {column} WHERE false",
    "DELETE": "DELETE FROM {table} WHERE false",
}
_A_COLUMN = {
    "gatepay_notifies": "status",
    "gatepay_deliveries": "raw",
    "gatepay_rejections": "reason",
    "gatepay_rejection_counts": "count",
    "gatepay_sign_in_failures": "failures",
}
_SEQUENCES = ("gatepay_deliveries", "gatepay_rejections")  # their bigserial ids
_INSUFFICIENT_PRIVILEGE = "42501"
_READ_ONLY = "25006"


def _role(user: str) -> str:
    return user if re.fullmatch(r"[a-z_][a-z0-9_$]*", user) else '"' + user.replace('"', '""') + '"'


def _server(host: str, port: str, database: str, user: str) -> str:
    return f"postgres inbox (host {host}, port {port}, database {database}, user {user})"


def _grants(user: str, sequences: list[str]) -> str:
    role = _role(user)
    sequences = sequences or [f"{table}_id_seq" for table in _SEQUENCES]
    return (
        f"GRANT SELECT ON gatepay_schema TO {role}; "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON {', '.join(POSTGRES_WRITES)} TO {role}; "
        f"GRANT USAGE ON SEQUENCE {', '.join(sequences)} TO {role}"
    )


def prove_postgres(cursor: Any) -> None:
    """Every kind of write the inbox makes, on zero rows, in the caller's transaction (to
    be rolled back or committed: nothing changes). A role with only ``SELECT``, one that
    lacks the sequences, or a read-only session (a hot standby) is found here, at
    start-up, rather than by the first notify. A missing privilege raises
    ``InboxNotWritable`` naming the table; other errors (read-only) are the caller's."""
    info = cursor.connection.info
    where = _server(info.host, str(info.port), info.dbname, info.user)
    sequences = []
    for table in _SEQUENCES:
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", (table,))
        sequences.append(str(cursor.fetchone()[0]))
    for table, writes in POSTGRES_WRITES.items():
        for privilege in ("SELECT", *writes):
            try:
                cursor.execute(_PROBES[privilege].format(table=table, column=_A_COLUMN[table]))
            except Exception as error:
                if getattr(error, "sqlstate", None) != _INSUFFICIENT_PRIVILEGE:
                    raise
                raise InboxNotWritable(
                    f"{where}: user {info.user} has no {privilege} privilege on table "
                    f"{table} (the inbox writes there); the tables' owner can grant what "
                    f"the inbox needs; {_grants(info.user, sequences)}"
                ) from error
    for sequence in sequences:
        cursor.execute("SELECT has_sequence_privilege(%s, 'USAGE, UPDATE')", (sequence,))
        if not cursor.fetchone()[0]:
            raise InboxNotWritable(
                f"{where}: user {info.user} has no USAGE privilege on sequence {sequence} "
                f"(new rows take their ids from it); the tables' owner can grant what the "
                f"inbox needs; {_grants(info.user, sequences)}"
            )


def _conninfo(conninfo: str) -> dict[str, str]:
    """host, port, dbname, user and password of a libpq URL or ``key=value`` string, with
    libpq's defaults; best effort (it only names the server in a message)."""
    found: dict[str, str] = {}
    if re.match(r"postgres(ql)?://", conninfo):
        parts = urlsplit(conninfo)
        userinfo, _, hosts = parts.netloc.rpartition("@")
        user, _, password = userinfo.partition(":")
        host, port = hosts, ""
        if "," not in hosts and re.search(r":\d+$", hosts):
            host, _, port = hosts.rpartition(":")
        found = {
            "host": unquote(host.strip("[]")),
            "port": port,
            "dbname": unquote(parts.path[1:]),
            "user": unquote(user),
            "password": unquote(password),
        }
        found.update(parse_qsl(parts.query))
    else:
        for key, value in re.findall(r"(\w+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", conninfo):
            found[key] = value[1:-1].replace("\\'", "'") if value.startswith("'") else value
    user = found.get("user") or os.environ.get("PGUSER") or getpass.getuser()
    return {
        "host": found.get("host") or os.environ.get("PGHOST") or "the local socket",
        "port": found.get("port") or os.environ.get("PGPORT") or "5432",
        "dbname": found.get("dbname") or os.environ.get("PGDATABASE") or user,
        "user": user,
        "password": found.get("password") or "",
    }


def _text(value: Any) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value or "")


_CANNOT_CONNECT = (
    "connection refused",
    "timeout expired",
    "could not translate host name",
    "failed to resolve host",
    "name or service not known",
    "no route to host",
    "network is unreachable",
    "no such file or directory",
    "server closed the connection",
    "could not connect",
)
_AUTHENTICATION = (
    "authentication failed",
    "no password supplied",
    "no pg_hba.conf entry",
)


def explain_postgres_error(error: BaseException, conninfo: str) -> str:
    """A message for ``error`` (a psycopg error, a pool timeout) met while opening the
    inbox at ``conninfo``: the server (host, port, database, user, never the password),
    what went wrong and what to do."""
    try:
        info = _conninfo(conninfo)
    except ValueError:
        info = {"host": "?", "port": "?", "dbname": "?", "user": "?", "password": ""}
    pgconn = getattr(error, "pgconn", None)
    if pgconn is not None:  # a failed connection attempt knows what libpq really used
        for key, attribute in (("host", "host"), ("port", "port"), ("dbname", "db")):
            info[key] = _text(getattr(pgconn, attribute, "")) or info[key]
        info["user"] = _text(getattr(pgconn, "user", "")) or info["user"]
    where = _server(info["host"], info["port"], info["dbname"], info["user"])
    text = str(error)
    if len(info["password"]) >= 4:  # libpq does not echo it; in case a message ever does
        text = text.replace(info["password"], "***")
    # libpq: 'connection failed: connection to server at "h", port 5432 failed: FATAL:  ...'
    detail = text.splitlines()[0] if text else type(error).__name__
    detail = re.sub(r"^.*failed: (FATAL:\s+)?", "", detail) or detail
    lowered = detail.lower()
    state = getattr(error, "sqlstate", None)
    user = info["user"]
    if state == _INSUFFICIENT_PRIVILEGE and "for table" in lowered:
        return (
            f"{where}: user {user} may not read the inbox's tables ({detail}): the "
            f"tables' owner can grant what the inbox needs; {_grants(user, [])}"
        )
    if state == _INSUFFICIENT_PRIVILEGE:
        return (
            f"{where}: user {user} may not create the inbox's tables ({detail}): run "
            '"gatepay-wsgi inbox migrate --inbox URL" as the owner of the database or of '
            f"the tables, or GRANT CREATE ON SCHEMA public TO {_role(user)}"
        )
    if state == _READ_ONLY:
        return (
            f"{where}: the database is read-only ({detail}): a hot standby, or "
            "default_transaction_read_only is on for this user or database; point the "
            "inbox at the primary"
        )
    if state == "3D000" or ("database " in lowered and "does not exist" in lowered):
        return f"{where}: {detail}: create it, or correct the database in the inbox URL"
    if (
        state in ("28P01", "28000")
        or any(a in lowered for a in _AUTHENTICATION)
        or ('role "' in lowered and "does not exist" in lowered)
    ):
        return (
            f"{where}: authentication failed: {detail}: check the user and password in the "
            "inbox URL (and the server's pg_hba.conf)"
        )
    if type(error).__name__ == "PoolTimeout":
        return f"{where}: cannot connect: no connection from the pool: {detail}"
    if pgconn is not None or any(c in lowered for c in _CANNOT_CONNECT):
        return (
            f"{where}: cannot connect: {detail}: is PostgreSQL running there and reachable "
            "from this host? (check the host and port in the inbox URL)"
        )
    return f"{where}: cannot open: {detail}"

"""Start-up checks: an inbox that cannot be written refuses to start, and says why.

A notify that cannot be recorded is answered ``fail``: right for a passing outage, wrong
for an inbox that can never be written (a file created by root and opened by the app's
user, a missing folder, a read-only database role): every notify would be answered
``fail`` until the gateway gives up. So an inbox opened to serve (or to migrate, or to
replay) proves that it can write, and otherwise raises ``InboxNotWritable`` naming the
absolute path or the server, what is wrong and the user this process runs as.

- SQLite: the directory exists and is writable (the WAL journal creates ``FILE-wal`` and
  ``FILE-shm`` beside the database), the file and its ``-wal``/``-shm`` are writable, and
  then a real write transaction is committed (``prove_sqlite``).
- PostgreSQL: connection and schema errors are explained (``explain_postgres_error``),
  then every kind of write the inbox makes is tried on zero rows (``prove_postgres``).

Pure functions of their arguments and the file system, no state: the inbox backends call
them from their constructors.
"""

from __future__ import annotations

import getpass
import os
import re
import sqlite3
import stat
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from ..errors import InboxNotWritable as InboxNotWritable  # its older home
from ..errors import InboxUnavailable

try:
    import pwd
except ImportError:  # pragma: no cover  # Windows: no uids, users by name only
    pwd = None  # type: ignore[assignment]


def _euid() -> int | None:
    return os.geteuid() if hasattr(os, "geteuid") else None


def _name(uid: int | None) -> str:
    if uid is None or pwd is None:
        return getpass.getuser() if uid is None else str(uid)
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _who(uid: int | None) -> str:
    name = _name(uid)
    if uid is None:
        return name
    return f"uid {uid}" if name == str(uid) else f"{name} (uid {uid})"


def process_user() -> str:
    """``"www-data (uid 33)"``: the user this process runs as (its effective uid)."""
    return _who(_euid())


# -- SQLite ------------------------------------------------------------------------------


def _writable(path: str) -> bool:
    if os.access in os.supports_effective_ids:
        return os.access(path, os.W_OK, effective_ids=True)
    return os.access(path, os.W_OK)  # pragma: no cover  # not on Linux


def _owned(info: os.stat_result) -> str:
    return f"it belongs to {_who(info.st_uid)}, mode {stat.S_IMODE(info.st_mode):04o}"


def _missing_directory(full: str, folder: str) -> str:
    return (
        f"inbox {full}: the directory {folder} does not exist: create it, writable for "
        f"user {process_user()}"
    )


def check_sqlite_url(url: str, path: str) -> None:
    """``sqlite:///var/x.sqlite3`` is relative (three slashes): when its directory is
    missing, say where it was looked for and how to write the absolute path."""
    full = os.path.abspath(path)
    folder = os.path.dirname(full)
    if os.path.isabs(path):
        return
    try:
        os.stat(folder)
    except FileNotFoundError:
        raise InboxNotWritable(
            f"{_missing_directory(full, folder)}; note: sqlite:///{path} is relative to the "
            f"working directory {os.getcwd()}; for /{path} write sqlite:////{path}"
        ) from None
    except OSError:
        return  # check_sqlite says what


def check_sqlite(path: str) -> None:
    """Before SQLite opens ``path`` to write: its directory exists and can be written
    (WAL creates ``-wal`` and ``-shm`` files beside the database), and so can the file
    and any ``-wal``/``-shm`` left by another user. Raises ``InboxNotWritable``."""
    full = os.path.abspath(path)
    folder = os.path.dirname(full)
    user, name = process_user(), _name(_euid())
    try:
        folder_info = os.stat(folder)
    except FileNotFoundError:
        raise InboxNotWritable(_missing_directory(full, folder)) from None
    except OSError as error:
        raise InboxNotWritable(
            f"inbox {full}: the directory {folder} cannot be reached by user {user}: "
            f"{error.strerror}"
        ) from None
    if not stat.S_ISDIR(folder_info.st_mode):
        raise InboxNotWritable(f"inbox {full}: {folder} is not a directory")
    if os.path.isdir(full):
        raise InboxNotWritable(f"inbox {full}: that is a directory, not a database file")
    if not _writable(folder):
        if hasattr(os, "statvfs") and os.statvfs(folder).f_flag & os.ST_RDONLY:
            raise InboxNotWritable(
                f"inbox {full}: the directory {folder} is on a read-only file system, so "
                f"user {user} cannot write there: mount it read-write, or keep the inbox "
                "elsewhere"
            )
        base = os.path.basename(full)
        raise InboxNotWritable(
            f"inbox {full}: the directory {folder} is not writable for user {user}: "
            f"{_owned(folder_info)}, and SQLite must create {base}-wal and {base}-shm in it "
            f"(WAL journal); chown {name} {folder}, or keep the inbox in a directory of "
            f"{name}'s"
        )
    for suffix in ("", "-wal", "-shm"):
        file = full + suffix
        try:
            info = os.stat(file)
        except FileNotFoundError:
            continue  # SQLite creates it
        if _writable(file) or not os.path.lexists(file):
            # Gone since the stat: another process's last connection closed and SQLite
            # removed its -wal and -shm (workers booting together): nothing to refuse.
            continue
        what = "the file" if not suffix else f"the file {file}"
        if info.st_uid == _euid():
            remedy = f"chmod u+w {file}"
        elif not suffix:
            remedy = f'run "gatepay-wsgi inbox migrate" as {name}, or chown {name} {file}'
        else:
            remedy = f"another user's process left it: chown {name} {file}"
        raise InboxNotWritable(
            f"inbox {full}: {what} is read-only for user {user}: {_owned(info)}; {remedy}"
        )


def prove_sqlite(connection: sqlite3.Connection) -> None:
    """A real write, committed: ``BEGIN IMMEDIATE`` (the write lock, within the busy
    timeout), the schema version rewritten with its own value (page 1 goes to the WAL;
    no table, row or version changes), ``COMMIT`` (an fsync under ``synchronous=FULL``).
    Closes ``connection``; SQLite's errors are left to ``sqlite_error``."""
    try:
        connection.execute("BEGIN IMMEDIATE")
        (version,) = connection.execute("PRAGMA user_version").fetchone()
        connection.execute(f"PRAGMA user_version = {int(version)}")
        connection.execute("COMMIT")
    finally:
        connection.close()


def is_locked(error: sqlite3.Error) -> bool:
    """Whether SQLite's ``error`` says another connection holds a lock it needs."""
    code = getattr(error, "sqlite_errorname", "")  # Python 3.11+
    return code.startswith("SQLITE_BUSY") or "database is locked" in str(error)


def sqlite_error(
    error: sqlite3.Error, path: str, busy_timeout: float, waited: float
) -> InboxUnavailable:
    """The error to raise when opening ``path`` failed with ``error`` after ``waited``
    seconds, having been allowed to wait ``busy_timeout`` for a lock."""
    full = os.path.abspath(path)
    user = process_user()
    code = getattr(error, "sqlite_errorname", "")  # Python 3.11+
    text = str(error)
    if code == "SQLITE_NOTADB" or "file is not a database" in text:
        return InboxNotWritable(
            f"inbox {full}: the file is not a SQLite database, as user {user} found it: "
            "check the inbox URL"
        )
    if is_locked(error) and waited >= busy_timeout - 0.05:  # its busy handler ran out
        return InboxNotWritable(
            f"inbox {full}: the database stayed locked longer than {busy_timeout:g} s "
            f"while user {user} tried to write: another process holds its write lock (a "
            "long transaction, a backup, an sqlite3 shell?); start again when it is free"
        )
    if is_locked(error):  # SQLite gave up without waiting: never claim it waited
        return InboxNotWritable(
            f"inbox {full}: SQLite answered {text!r} after {waited:.3f} s, without waiting "
            f"the {busy_timeout:g} s it may wait for a lock, while user {user} opened it; "
            "start again (please report this with your SQLite version, "
            f"{sqlite3.sqlite_version})"
        )
    if code.startswith(("SQLITE_READONLY", "SQLITE_CANTOPEN")) or (
        "readonly database" in text or "unable to open" in text
    ):
        try:
            check_sqlite(full)  # says which file or directory, and whose it is
        except InboxNotWritable as explained:
            return explained
        return InboxNotWritable(f"inbox {full}: user {user} cannot open or write it: {text}")
    if code == "SQLITE_FULL" or "disk is full" in text:
        return InboxNotWritable(f"inbox {full}: the disk is full, user {user} cannot write: {text}")
    return InboxUnavailable(f"inbox {full}: user {user} cannot open it: {text}")


# -- PostgreSQL --------------------------------------------------------------------------

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

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
- PostgreSQL: ``postgres_startup.py``.

Pure functions of their arguments and the file system, no state: the inbox backends call
them from their constructors.
"""

from __future__ import annotations

import getpass
import os
import sqlite3
import stat

from ..errors import InboxNotWritable, InboxUnavailable

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

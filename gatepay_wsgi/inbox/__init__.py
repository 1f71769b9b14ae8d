"""Durable record of verified notifies: ``open_inbox("sqlite:///gatepay.sqlite3")``.

Which one to pick:

- ``memory://``: one process, lost on restart (tests, development).
- ``sqlite:///relative/path.sqlite3`` or ``sqlite:////absolute/path.sqlite3`` (URLs as
  SQLAlchemy writes them): the embedded default, any number of worker processes on one
  host. Options as query parameters: ``synchronous=normal``, ``busy_timeout=5``,
  ``lease=120``, ``busy_wait=5`` (seconds).
- ``postgresql://user:pass@host/db``: several hosts sharing one inbox (the ``postgres``
  extra). ``lease``, ``busy_wait`` and ``timeout`` are ours; other query parameters go to
  libpq (``sslmode=require``, say).
"""

from __future__ import annotations

import math
import re
from urllib.parse import parse_qsl, urlencode, urlsplit

from ..errors import ConfigError, InboxUnavailable
from .memory import MemoryInbox
from .records import Claim, InboxRecord, InboxStats, Rejection, ReplayResult, SignInFailures
from .sqlite import SQLiteInbox
from .startup import check_sqlite_url
from .states import (
    ALREADY_DONE,
    BUSY,
    DONE,
    FAILED,
    PROCESSING,
    RECEIVED,
    REUSED_SIGN,
    RUN,
    STATUSES,
    ClaimOutcome,
    Delivered,
    ReplayOutcome,
    Status,
    Written,
)
from .step import Inbox

__all__ = [
    "ALREADY_DONE",
    "BUSY",
    "DONE",
    "FAILED",
    "PROCESSING",
    "RECEIVED",
    "REUSED_SIGN",
    "RUN",
    "STATUSES",
    "Claim",
    "ClaimOutcome",
    "Delivered",
    "Inbox",
    "InboxRecord",
    "InboxStats",
    "InboxUnavailable",
    "MemoryInbox",
    "Rejection",
    "ReplayOutcome",
    "ReplayResult",
    "SQLiteInbox",
    "SignInFailures",
    "Status",
    "Written",
    "open_inbox",
]

_SECONDS = ("busy_timeout", "lease", "busy_wait", "timeout")
_MORE_THAN_ZERO = ("lease", "timeout")
_SQLITE_OPTIONS = ("synchronous", "busy_timeout", "lease", "busy_wait")  # no "timeout"
# ``scheme://``: urlsplit reads "sqlite:/x" like "sqlite:///x" and "postgres//x" as a path.
_URL_FORM = re.compile(r"[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def _options(query: str, allowed: tuple[str, ...], url: str) -> dict[str, object]:
    options: dict[str, object] = {}
    for name, value in parse_qsl(query, keep_blank_values=True):
        if name not in allowed:
            raise ConfigError(f"inbox URL {url!r}: unknown option {name!r} (known: {allowed})")
        if name not in _SECONDS:
            options[name] = value
            continue
        try:
            seconds = float(value)
        except ValueError:
            raise ConfigError(f"inbox URL {url!r}: {name} must be a number of seconds") from None
        # A lease or a pool timeout of 0 would let every claim or connection lapse at
        # once; NaN and infinity compare as no duration does.
        if name in _MORE_THAN_ZERO and not 0 < seconds < math.inf:
            raise ConfigError(f"inbox URL {url!r}: {name} must be more than 0 seconds")
        if not 0 <= seconds < math.inf:
            raise ConfigError(f"inbox URL {url!r}: {name} must be 0 seconds or more")
        options[name] = seconds
    return options


def open_inbox(target: str | Inbox, *, create: bool = True, writable: bool = True) -> Inbox:
    """``open_inbox("sqlite:////var/lib/shop/gatepay.sqlite3")`` -> an ``Inbox``.

    :param target: ``memory://``, ``sqlite:///relative.sqlite3``,
        ``sqlite:////absolute.sqlite3``, ``postgresql://user:pass@host/db`` (options as
        query parameters, see the module), or an ``Inbox``, returned as it is.
    :param create: ``False`` refuses to create a new SQLite file (the CLI uses it, so that
        a typo does not show an empty inbox).
    :param writable: ``False`` opens it only to read (the CLI's list, show and stats);
        otherwise an inbox this process cannot write raises ``InboxNotWritable`` at once.
    :raises ConfigError: the URL is written wrong (it names what and how to write it).
    :raises InboxNotWritable: this process cannot write the inbox (it says why and who);
        an ``InboxUnavailable``, as is a server that cannot be reached.
    """
    if isinstance(target, Inbox):
        return target
    if not isinstance(target, str):
        raise TypeError(f"inbox must be a URL or an Inbox, got {type(target).__name__}")
    if not _URL_FORM.match(target):
        raise ConfigError(
            f"{target!r} is not an inbox URL: write sqlite:///relative.sqlite3, "
            "sqlite:////absolute/path.sqlite3, postgresql://user@host/db or memory://"
        )
    parts = urlsplit(target)
    if parts.scheme == "memory":
        options = _options(parts.query, ("lease", "busy_wait"), target)
        return MemoryInbox(**options)  # type: ignore[arg-type]
    if parts.scheme == "sqlite":
        if parts.netloc or not parts.path.startswith("/") or parts.path == "/":
            raise ConfigError(
                f"inbox URL {target!r}: write sqlite:///relative.sqlite3 or "
                "sqlite:////absolute/path.sqlite3"
            )
        options = _options(
            parts.query, ("synchronous", "busy_timeout", "lease", "busy_wait"), target
        )
        check_sqlite_url(target, parts.path[1:])
        return SQLiteInbox(parts.path[1:], create=create, writable=writable, **options)  # type: ignore[arg-type]
    if parts.scheme in ("postgresql", "postgres"):
        return _postgres(target, writable)
    raise ConfigError(
        f"inbox URL {target!r}: unsupported scheme {parts.scheme!r} "
        "(use sqlite:///, postgresql:// or memory://)"
    )


def _postgres(url: str, writable: bool = True) -> Inbox:
    """A ``PostgresInbox``; its own options leave the query, libpq's stay in the URL."""
    parts = urlsplit(url)
    ours = ("lease", "busy_wait", "timeout")
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    options = _options(urlencode([p for p in pairs if p[0] in ours]), ours, url)
    conninfo = parts._replace(query=urlencode([p for p in pairs if p[0] not in ours])).geturl()
    # The URL is checked first: a wrong one is wrong with or without the driver.
    try:
        from .postgres import PostgresInbox
    except ImportError:
        raise ConfigError(
            f"inbox URL {url!r} needs psycopg: pip install 'gatepay_wsgi[postgres]'"
        ) from None
    return PostgresInbox(conninfo, writable=writable, **options)  # type: ignore[arg-type]

"""What the ``gatepay-wsgi`` commands share: errors for the user, tables, safe printing."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from ..callbacks import printable
from ..errors import GatePayException

__all__ = ["CommandError", "print_json", "table", "when"]


class CommandError(GatePayException):
    """A message for the user of the ``gatepay-wsgi`` command; it exits with status 2."""


def when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(c) for c in headers], *[[printable(str(c)) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def print_json(data: Any) -> None:
    """``print_json(records)``: exact JSON, Chinese kept, and no character that
    ``printable`` escapes printed raw: json leaves C1 and bidi controls as they are, so
    they are written as JSON escapes (``\\u202e``), which read back the same."""
    text = json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True)
    print("\n".join(_json_escaped(line) for line in text.split("\n")))


def _json_escaped(line: str) -> str:
    # json escapes every C0 inside a string, so a line's own characters are all in strings.
    if printable(line) == line:
        return line
    return "".join(char if printable(char) == char else json.dumps(char)[1:-1] for char in line)

"""What the ``gatepay-wsgi`` commands share: errors for the user, tables, safe printing."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

from ..errors import CommandError

__all__ = ["CommandError", "print_json", "shown", "table", "when"]


def when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(c) for c in headers], *[[shown(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


CONTROL = {c: f"\\x{c:02x}" for c in [*range(32), *range(127, 160)]}


def shown(value: object) -> str:
    """A stored value made safe for a terminal: control characters escaped."""
    return str(value).translate(CONTROL)


def print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True))

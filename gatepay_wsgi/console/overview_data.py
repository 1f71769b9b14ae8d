"""What the overview counts, read from the inbox: ``hourly(records, start, 168)`` for its
charts, ``refusal_rows(totals, latest)`` for its table of refused requests.

Data only, no HTML: ``overview.py`` draws it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence

from ..inbox import InboxRecord, Rejection
from .overview import Chart, RefusalRow

#: Notifies counted for the week's chart at most (a small shop has far fewer).
CHART_LIMIT = 50_000
#: Refused requests read to find each reason's latest sources.
REFUSALS_READ = 1000
#: Sources shown per reason.
SOURCES_SHOWN = 5


def hourly(
    records: Iterable[InboxRecord], start: float, hours: int, capped: int | None = None
) -> Chart:
    """Notifies per hour from ``start`` (by when they were first received), by status
    (a stale claim counts as processing: the chart shows where each notify stands)."""
    counts: list[Counter[str]] = [Counter() for _ in range(hours)]
    for record in records:
        index = int((record.received_at - start) // 3600)
        if 0 <= index < hours:
            counts[index][str(record.status)] += 1
    return Chart(start, counts, capped)


def refusal_rows(
    totals: Mapping[str, int], latest: Sequence[Rejection], shown: int = SOURCES_SHOWN
) -> list[RefusalRow]:
    """Each reason's total (every refusal ever counted), when it was last seen and its
    busiest sources among the latest refusals kept, the most frequent reason first."""
    by_reason: dict[str, Counter[str | None]] = {}
    last: dict[str, float] = {}
    for rejection in latest:  # newest first
        by_reason.setdefault(rejection.reason, Counter())[rejection.remote_addr] += 1
        last.setdefault(rejection.reason, rejection.at)
    reasons = sorted(set(totals) | set(by_reason), key=lambda r: (-totals.get(r, 0), r))
    return [
        RefusalRow(
            reason,
            max(totals.get(reason, 0), sum(by_reason.get(reason, Counter()).values())),
            last.get(reason),
            tuple(by_reason.get(reason, Counter()).most_common(shown)),
        )
        for reason in reasons
    ]

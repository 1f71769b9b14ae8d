"""The console's pages that read the inbox: the routes ``overview_page`` (``/``), ``notify_list``
(``/notifies?status=failed&order_id=...&from=2024-05-01``) and ``one_notify``
(``/notifies/<order_id>``).

Each reads the request, asks the inbox, and hands what it found to ``overview.py`` or
``notifies.py``, which write the HTML.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from markupsafe import Markup
from werkzeug.wrappers import Response

from ..inbox import FAILED, STATUSES, ReplayOutcome
from . import layout, notifies, overview
from .overview_data import CHART_LIMIT, REFUSALS_READ, hourly, refusal_rows
from .replays import replay_all_notice
from .visits import ConsoleParts, Visit, query_number

#: Notifies the list shows at first, and at most.
LIST_LIMIT, LIST_MAX = 100, 5000


def overview_page(console: ConsoleParts, visit: Visit) -> Response:
    """``/``: counts, what needs action, the charts of a day and a week, refusals."""
    now = time.time()
    inbox = console.inbox
    stats = inbox.stats()
    waiting = inbox.replayable()
    failed = [r for r in waiting if r.status == FAILED]
    stale = [r for r in waiting if r.status != FAILED]
    this_hour = now // 3600 * 3600
    week_start = this_hour - 167 * 3600
    recent = inbox.search(since=week_start, limit=CHART_LIMIT)
    capped = CHART_LIMIT if len(recent) >= CHART_LIMIT else None
    week = hourly(recent, week_start, 168, capped)
    day = overview.Chart(week_start + 144 * 3600, week.counts[144:], capped)
    refusals = refusal_rows(stats.rejections, inbox.rejections(REFUSALS_READ))
    query = visit.request.args

    def body(lang: str, links: layout.Links, csrf: str) -> Markup:
        return overview.overview_body(
            lang,
            links,
            csrf,
            stats=stats,
            failed=failed,
            stale=stale,
            replay_on=console.handler is not None,
            day=day,
            week=week,
            refusals=refusals,
            message=replay_all_notice(lang, query) if query.get("replayed") else None,
        )

    return visit.page("title_overview", body, current="nav_overview")


def notify_list(console: ConsoleParts, visit: Visit) -> Response:
    """``/notifies``: the search form and the notifies it finds, newest first."""
    args = visit.request.args
    filters = {
        name: args.get(name, "").strip()
        for name in ("status", "order_id", "out_order_id", "from", "to")
    }
    bad: list[str] = []
    status = filters["status"] if filters["status"] in STATUSES else None
    if filters["status"] and status is None:
        bad.append("filter_state")
    order_id = query_number(filters["order_id"])
    if filters["order_id"] and order_id is None:
        bad.append("filter_order_id")
    since, until = _day(filters["from"]), _day(filters["to"], next_day=True)
    if filters["from"] and since is None:
        bad.append("filter_from")
    if filters["to"] and until is None:
        bad.append("filter_to")
    limit = min(max(query_number(args.get("limit", "")) or LIST_LIMIT, 1), LIST_MAX)
    records = console.inbox.search(
        status=status,
        order_id=order_id,
        out_order_id=filters["out_order_id"] or None,
        since=since,
        until=until,
        limit=limit,
    )
    return visit.page(
        "title_list",
        lambda lang, links, _: notifies.list_body(
            lang, links, filters, records, limit=limit, bad=bad
        ),
        current="nav_notifies",
    )


def one_notify(console: ConsoleParts, visit: Visit, order_id: int) -> Response:
    """``/notifies/<order_id>``: its fields, deliveries, runs and the replay button."""
    records = console.inbox.get(order_id)
    if not records:
        return visit.message("title_not_found", "no_notify", 404, order_id=order_id)
    replayed = visit.request.args.get("replayed", "")
    outcome = replayed if replayed in {o.value for o in ReplayOutcome} else None
    return visit.page(
        "title_notify",
        lambda lang, links, csrf: notifies.notify_body(
            lang,
            links,
            csrf,
            records,
            replay_on=console.handler is not None,
            message=layout.say(lang, f"replayed_{outcome}") if outcome else None,
        ),
        order_id=order_id,
    )


def _day(text: str, next_day: bool = False) -> float | None:
    """``2024-05-01`` -> the epoch seconds of that local midnight (or the next one)."""
    try:
        day = datetime.strptime(text, "%Y-%m-%d")
    except ValueError:
        return None
    return (day + timedelta(days=1 if next_day else 0)).timestamp()

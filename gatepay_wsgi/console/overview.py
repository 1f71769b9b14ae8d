"""The console's overview: ``overview_body(lang, ...)``: counts, what needs action, the
notifies per hour (inline SVG bars, no script), refused requests by reason and source."""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from markupsafe import Markup

from ..callbacks import printable
from ..inbox import STATUSES, InboxRecord, InboxStats
from .layout import (
    COLOURS,
    STACK,
    Links,
    hidden_field,
    notice,
    say,
    status_badge,
    status_name,
    table,
    when,
)
from .texts import TEXTS

# -- the overview -------------------------------------------------------------------


@dataclass(frozen=True)
class Chart:
    """Notifies per hour: ``counts[i]`` is the hour from ``start + i * 3600``, by status."""

    start: float
    counts: Sequence[Mapping[str, int]]
    #: Set when only the newest so many notifies could be counted.
    capped: int | None = None


@dataclass(frozen=True)
class RefusalRow:
    """One reason for refusing requests: its count, when last, and from where."""

    reason: str
    total: int
    last_seen: float | None = None
    sources: Sequence[tuple[str | None, int]] = field(default_factory=tuple)


def _totals(counts: Iterable[Mapping[str, int]]) -> dict[str, int]:
    totals = dict.fromkeys(STACK, 0)
    for hour in counts:
        for status in STACK:
            totals[status] += hour.get(status, 0)
    return totals


# The chart's drawing area, in the SVG's own units (it scales to the page's width).
_W, _H, _LEFT, _TOP, _BOTTOM = 360.0, 170.0, 4.0, 14.0, 146.0


def chart(lang: str, chart_id: str, data: Chart, label_every: int, label_format: str) -> Markup:
    """Stacked bars per hour (done, failed, processing, received), a label every
    ``label_every`` hours (``label_format`` for ``time.strftime``), each bar titled with
    its numbers (shown on hover or a long press), and the totals as the chart's title."""
    hours = len(data.counts)
    peak = max((sum(hour.values()) for hour in data.counts), default=0)
    scale = (_BOTTOM - _TOP) / peak if peak else 0.0
    width = (_W - 2 * _LEFT) / max(hours, 1)
    totals = _totals(data.counts)
    summary = say(lang, "chart_summary", total=sum(totals.values()), **totals)
    bars: list[Markup] = []
    labels: list[Markup] = []
    for index, hour in enumerate(data.counts):
        x = _LEFT + index * width
        at = data.start + index * 3600
        total = sum(hour.values())
        if total:
            y = _BOTTOM
            rects: list[Markup] = []
            for status in STACK:
                height = hour.get(status, 0) * scale
                if height:
                    y -= height
                    rects.append(
                        Markup(
                            "<rect x='{:.2f}' y='{:.2f}' width='{:.2f}' height='{:.2f}' fill='{}'/>"
                        ).format(x + width * 0.1, y, width * 0.8, height, COLOURS[status])
                    )
            title = say(
                lang,
                "bar",
                hour=time.strftime("%m-%d %H:00", time.localtime(at)),
                total=total,
                **{status: hour.get(status, 0) for status in STACK},
            )
            bars.append(Markup("<g><title>{}</title>{}</g>").format(title, Markup("").join(rects)))
        if time.localtime(at).tm_hour % label_every == 0 and x < _W - 30:
            labels.append(
                Markup(
                    "<line x1='{x:.2f}' x2='{x:.2f}' y1='{}' y2='{}' stroke='#d0d7de'/>"
                    "<text x='{x:.2f}' y='{}' font-size='10' fill='#57606a'>{}</text>"
                ).format(
                    _BOTTOM,
                    _BOTTOM + 4,
                    _BOTTOM + 14,
                    time.strftime(label_format, time.localtime(at)),
                    x=x,
                )
            )
    svg = Markup(
        "<svg id={} viewBox='0 0 {:g} {:g}' preserveAspectRatio='xMinYMid meet' role=img "
        "aria-labelledby={}-title "
        "xmlns='http://www.w3.org/2000/svg'><title id={}-title>{}</title>"
        "<text x='{:g}' y='10' font-size='10' fill='#57606a'>{}</text>"
        "<line x1='{:g}' x2='{:g}' y1='{:g}' y2='{:g}' stroke='#8c959f'/>{}{}</svg>"
    ).format(
        chart_id,
        _W,
        _H,
        chart_id,
        chart_id,
        summary,
        _LEFT,
        say(lang, "chart_peak", peak=peak),
        _LEFT,
        _W - _LEFT,
        _BOTTOM,
        _BOTTOM,
        Markup("").join(bars),
        Markup("").join(labels),
    )
    capped = (
        Markup("<p class=muted>{}</p>").format(say(lang, "chart_capped", count=data.capped))
        if data.capped
        else ""
    )
    return Markup("<div class=chart>{}<p class=muted>{}</p>{}</div>").format(svg, summary, capped)


def _legend(lang: str) -> Markup:
    return Markup("<p class=legend>{}</p>").format(
        Markup("").join(
            Markup("<span><i style='background:{}'></i>{}</span>").format(
                COLOURS[status], status_name(lang, status)
            )
            for status in STACK
        )
    )


def _record_links(lang: str, links: Links, records: Sequence[InboxRecord], shown: int) -> Markup:
    items = Markup("").join(
        Markup("<li><a href='{}'>{}</a> <code>{}</code> {}</li>").format(
            links(f"/notifies/{r.order_id}"),
            r.order_id,
            printable(r.out_order_id),
            Markup("&middot; {}").format(printable(r.last_error[:120])) if r.last_error else "",
        )
        for r in records[:shown]
    )
    more = (
        Markup("<li>{}</li>").format(say(lang, "and_more", count=len(records) - shown))
        if len(records) > shown
        else ""
    )
    return Markup("<ul>{}{}</ul>").format(items, more)


def _replay_all_form(lang: str, links: Links, csrf: str, count: int, replay_on: bool) -> Markup:
    if not replay_on:
        return Markup(
            "<p><button id=replay-all disabled aria-describedby=replay-off>{}</button></p>"
            "<p id=replay-off class=muted>{}</p>"
        ).format(say(lang, "replay_all", count=count), say(lang, "replay_off"))
    return Markup(
        "<form method=post action='{}'>{}<p><button id=replay-all>{}</button></p></form>"
        "<p class=muted>{}</p>"
    ).format(
        links("/replay-failed"),
        hidden_field("csrf", csrf),
        say(lang, "replay_all", count=count),
        say(lang, "replay_note"),
    )


def _refusal_table(lang: str, rows: Sequence[RefusalRow]) -> Markup:
    if not rows:
        return Markup("<p id=no-refusals>{}</p>").format(say(lang, "no_refusals"))
    body = Markup("").join(
        Markup(
            "<tr class=refusal><td><code>{}</code><br><span class=muted>{}</span></td>"
            "<td class=n>{}</td><td>{}</td><td class=wrap>{}</td></tr>"
        ).format(
            printable(row.reason),
            TEXTS[lang].get(f"reason_{row.reason}", ""),
            row.total,
            when(row.last_seen),
            Markup(", ").join(
                say(
                    lang,
                    "source",
                    address=Markup("<code>{}</code>").format(printable(address))
                    if address
                    else say(lang, "unknown_address"),
                    count=count,
                )
                for address, count in row.sources
            )
            or "-",
        )
        for row in rows
    )
    head = [say(lang, k) for k in ("col_reason", "col_total", "col_last_seen", "col_sources")]
    return table(head, body, "refusals")


def overview_body(
    lang: str,
    links: Links,
    csrf: str,
    *,
    stats: InboxStats,
    failed: Sequence[InboxRecord],
    stale: Sequence[InboxRecord],
    replay_on: bool,
    day: Chart,
    week: Chart,
    refusals: Sequence[RefusalRow],
    message: Markup | None = None,
) -> Markup:
    """Counts by state, what needs action, the charts, and the refused requests."""
    rows = Markup("").join(
        Markup("<tr id=count-{}><td>{}</td><td class=n>{}</td></tr>").format(
            status,
            Markup("<a href='{}'>{}</a>").format(
                links("/notifies", status=status), status_badge(lang, status)
            ),
            stats.by_status.get(status, 0),
        )
        for status in STATUSES
    )
    rows += Markup("<tr id=count-stale><td>{}</td><td class=n>{}</td></tr>").format(
        say(lang, "stale_row"), stats.stale
    )
    counts = table([say(lang, "col_state"), say(lang, "col_count")], rows, "counts")
    if failed or stale:
        parts = []
        if failed:
            parts.append(
                Markup("<h3>{}</h3>{}").format(
                    say(lang, "action_failed", count=len(failed)),
                    _record_links(lang, links, failed, 20),
                )
            )
        if stale:
            parts.append(
                Markup("<h3>{}</h3>{}").format(
                    say(lang, "action_stale", count=len(stale)),
                    _record_links(lang, links, stale, 20),
                )
            )
        parts.append(_replay_all_form(lang, links, csrf, len(failed) + len(stale), replay_on))
        action = Markup("").join(parts)
    else:
        action = Markup("<p id=nothing-to-do>{}</p>").format(say(lang, "nothing_to_do"))
    return Markup(
        "{}<h2>{}</h2>{}<h2 id=needs-action>{}</h2>{}<h2>{}</h2>{}<h3>{}</h3>{}"
        "<h3>{}</h3>{}<h2>{}</h2><p>{}</p>{}"
    ).format(
        notice(message) if message else "",
        say(lang, "by_state"),
        counts,
        say(lang, "needs_action"),
        action,
        say(lang, "per_hour"),
        _legend(lang),
        say(lang, "last_day"),
        chart(lang, "chart-day", day, 6, "%H:00"),
        say(lang, "last_week"),
        chart(lang, "chart-week", week, 24, "%m-%d"),
        say(lang, "refusals"),
        say(lang, "refusals_intro"),
        _refusal_table(lang, refusals),
    )

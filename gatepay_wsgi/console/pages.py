"""The console's HTML: ``page(lang, "Overview", overview_body(...), ...)``, escaped by
construction, in English or Chinese, laid out for a phone's width too.

Every piece is a ``markupsafe.Markup`` template whose arguments are escaped as they are
filled in, so no stored value (a buyer writes ``extend``; a forger writes anything a
refused request carries) can open a tag. The words come from ``texts.py``. The charts
are inline SVG and there is no script at all, so the Content-Security-Policy forbids
every script. A sign is only ever shown by its first characters; the console never has
the appsecret. Only this module writes HTML for the console.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlencode

from markupsafe import Markup, escape
from werkzeug.wrappers import Response

from .. import languages
from ..inbox import STATUSES, InboxRecord, InboxStats
from ..pages import html_document
from .texts import HTML_LANG, TEXTS

#: The statuses as the charts stack them (bottom first), and their colours.
STACK = ("done", "failed", "processing", "received")
COLOURS = {"done": "#2da44e", "failed": "#cf222e", "processing": "#bf8700", "received": "#8c959f"}

# Readable on a 390 px phone: the body keeps a margin and a measure, a table scrolls
# sideways inside its own box instead of widening the page, inputs never outgrow it,
# buttons and links are 44 px targets, and Chinese gets its own fonts.
_STYLE = Markup(
    "<style>"
    "*,::before,::after{box-sizing:border-box}"
    "html{-webkit-text-size-adjust:100%;text-size-adjust:100%}"
    "body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,'PingFang SC',"
    "'Hiragino Sans GB','Microsoft YaHei','Noto Sans CJK SC','Noto Sans SC',"
    "'Source Han Sans SC',sans-serif;font-size:16px;line-height:1.6;color:#1f2328;"
    "max-width:60rem;margin:0 auto;padding:.75rem 1rem 2rem}"
    "h1{font-size:1.5rem;line-height:1.3;margin:.5rem 0 1rem}"
    "h2{font-size:1.25rem;line-height:1.3;margin:1.75rem 0 .75rem}"
    "h3{font-size:1.05rem;margin:1.25rem 0 .5rem}"
    "p,label,dd{overflow-wrap:anywhere}"
    "code{font-size:.9em;overflow-wrap:anywhere}"
    ".top{display:flex;flex-wrap:wrap;justify-content:space-between;align-items:center;"
    "gap:0 1rem;color:#57606a;font-size:.875rem;border-bottom:1px solid #eaeef2}"
    ".top nav a,.lang a{display:inline-block;min-height:44px;line-height:44px;padding:0 .35rem}"
    ".top a[aria-current]{font-weight:bold;color:inherit;text-decoration:none}"
    ".top form{display:inline}"
    ".top button{min-height:36px}"
    ".scroll{max-width:100%;overflow-x:auto;-webkit-overflow-scrolling:touch;margin:.5rem 0}"
    "table{border-collapse:collapse}"
    "td,th{padding:.4em .6em;text-align:left;vertical-align:top;white-space:nowrap}"
    "td.wrap{white-space:normal;min-width:12rem;overflow-wrap:anywhere}"
    "th{border-bottom:1px solid #d0d7de}"
    "td{border-bottom:1px solid #eaeef2}"
    "td.n{text-align:right}"
    "dl{display:grid;grid-template-columns:minmax(7rem,max-content) 1fr;gap:.25rem 1rem}"
    "dt{color:#57606a}dd{margin:0}"
    "button{min-height:44px;padding:.4em 1em;font:inherit}"
    "input,select{font:inherit;max-width:100%;min-height:44px;padding:.25em .5em}"
    "label{display:inline-block;max-width:100%;margin:.25rem .75rem .25rem 0}"
    "form p{margin:.5rem 0}"
    ".notice{padding:.6rem .8rem;border-radius:6px;background:#ddf4ff;margin:1rem 0}"
    ".warn{background:#fff8c5}"
    ".s-failed{color:#cf222e;font-weight:bold}.s-done{color:#1a7f37}"
    ".s-processing{color:#9a6700}"
    ".muted{color:#57606a;font-size:.875rem}"
    ".chart svg{width:100%;height:auto;max-height:14rem}"
    ".legend span{display:inline-block;margin-right:.75rem}"
    ".legend i{display:inline-block;width:.8em;height:.8em;margin-right:.3em;"
    "vertical-align:-.05em}"
    "</style>"
)


def say(lang: str, key: str, **values: object) -> Markup:
    """``say("zh", "replay_all", count=3)``: the text ``key`` of ``lang``, escaped, its
    places filled with escaped values (a ``Markup`` value goes in as it is)."""
    return escape(TEXTS[lang][key]).format(**values)


def text(lang: str, key: str, **values: object) -> str:
    """A text as plain text (a page's title: ``html_document`` escapes it)."""
    return TEXTS[lang][key].format(**values)


def status_name(lang: str, status: str) -> str:
    return TEXTS[lang].get(f"status_{status}", status)


def when(at: float | None) -> str:
    """``2024-05-01 12:00:00`` in the server's local time; ``-`` for none."""
    if at is None:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at))


def zone() -> str:
    """The server's offset from UTC: ``UTC+08:00``."""
    offset = time.strftime("%z", time.localtime())
    return f"UTC{offset[:3]}:{offset[3:]}" if len(offset) == 5 else "UTC"


def short_sign(sign: str) -> str:
    """A sign as the console shows it: its first six characters."""
    return sign[:6] + "…" if sign else ""


class Links:
    """``links("/notifies", status="failed")`` -> ``/admin/notifies?status=failed``: every
    link and form action inside the console's mount (the request's script root)."""

    def __init__(self, root: str) -> None:
        self.root = root.rstrip("/")

    def __call__(self, path: str, **query: object) -> str:
        pairs = [(k, str(v)) for k, v in query.items() if v is not None and v != ""]
        return self.root + path + ("?" + urlencode(pairs) if pairs else "")


def _hidden(name: str, value: object) -> Markup:
    return Markup("<input type=hidden name={} value='{}'>").format(name, value)


def _table(head: Iterable[Markup | str], rows: Markup, table_id: str = "") -> Markup:
    """A table in its own sideways-scrolling box: a phone's page never gets wider."""
    cells = Markup("").join(Markup("<th>{}</th>").format(h) for h in head)
    ident = Markup(" id={}").format(table_id) if table_id else ""
    return Markup("<div class=scroll><table{}><tr>{}</tr>{}</table></div>").format(
        ident, cells, rows
    )


def _status(lang: str, status: str, stale: bool = False) -> Markup:
    name = status_name(lang, status)
    if stale:
        return Markup("<span class=s-failed>{} ({})</span>").format(name, text(lang, "stale"))
    return Markup("<span class=s-{}>{}</span>").format(status, name)


def notice(message: Markup, warn: bool = False) -> Markup:
    return Markup("<p id=notice class='notice{}' role=status>{}</p>").format(
        " warn" if warn else "", message
    )


def language_switch(lang: str, path: str, args: Iterable[tuple[str, str]]) -> Markup:
    """ "中文 | English": links to this page in each language (``languages.py``)."""
    return languages.language_switch(lang, path, args, say(lang, "switch"))


def page(
    lang: str,
    title: str,
    body: Markup,
    *,
    links: Links,
    switch: Markup,
    user: str | None = None,
    csrf: str = "",
    current: str = "",
    status: int = 200,
) -> Response:
    """A whole console page: the top bar (pages, who is signed in, sign out, language),
    ``body``, and a note on the times' zone."""
    nav = Markup("")
    if user is not None:
        items = Markup(" ").join(
            Markup("<a href='{}'{}>{}</a>").format(
                links(path), Markup(" aria-current=page") if key == current else "", say(lang, key)
            )
            for path, key in (("/", "nav_overview"), ("/notifies", "nav_notifies"))
        )
        nav = Markup(
            "<nav aria-label='{}'>{}</nav><span>{} <form method=post action='{}'>{}"
            "<button id=sign-out>{}</button></form></span>"
        ).format(
            say(lang, "nav"),
            items,
            say(lang, "signed_in_as", user=Markup("<b>{}</b>").format(user)),
            links("/logout"),
            _hidden("csrf", csrf),
            say(lang, "sign_out"),
        )
    header = Markup("<div class=top><small>{}</small>{}{}</div>").format(
        say(lang, "console"), nav, switch
    )
    footer = Markup("<p class=muted>{}</p>").format(say(lang, "times_note", zone=zone()))
    document = html_document(
        title, body + footer, style=_STYLE, header=header, lang=HTML_LANG[lang]
    )
    response = Response(document, status=status, content_type="text/html; charset=utf-8")
    response.vary.update(("Accept-Language", "Cookie"))
    return response


def message_body(lang: str, key: str, links: Links, **values: object) -> Markup:
    return Markup("<p>{}</p><p><a href='{}'>{}</a></p>").format(
        say(lang, key, **values), links("/"), say(lang, "back")
    )


# -- signing in ---------------------------------------------------------------------


def login_body(
    lang: str, links: Links, csrf: str, message: Markup | None, name: str, next_path: str
) -> Markup:
    return Markup(
        "{}<form method=post action='{}' id=login>{}{}"
        "<p><label>{}<br><input name=user id=user value='{}' autocomplete=username "
        "autocapitalize=none required></label></p>"
        "<p><label>{}<br><input name=password id=password type=password "
        "autocomplete=current-password required></label></p>"
        "<p><button id=sign-in>{}</button></p></form>"
    ).format(
        notice(message, warn=True) if message else "",
        links("/login"),
        _hidden("csrf", csrf),
        _hidden("next", next_path) if next_path else "",
        say(lang, "user_name"),
        name,
        say(lang, "password"),
        say(lang, "sign_in"),
    )


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
            r.out_order_id,
            Markup("&middot; {}").format(visible(r.last_error[:120])) if r.last_error else "",
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
        _hidden("csrf", csrf),
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
            row.reason,
            TEXTS[lang].get(f"reason_{row.reason}", ""),
            row.total,
            when(row.last_seen),
            Markup(", ").join(
                say(
                    lang,
                    "source",
                    address=Markup("<code>{}</code>").format(address)
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
    return _table(head, body, "refusals")


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
                links("/notifies", status=status), _status(lang, status)
            ),
            stats.by_status.get(status, 0),
        )
        for status in STATUSES
    )
    rows += Markup("<tr id=count-stale><td>{}</td><td class=n>{}</td></tr>").format(
        say(lang, "stale_row"), stats.stale
    )
    counts = _table([say(lang, "col_state"), say(lang, "col_count")], rows, "counts")
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


# -- the list -----------------------------------------------------------------------


def list_body(
    lang: str,
    links: Links,
    filters: Mapping[str, str],
    records: Sequence[InboxRecord],
    *,
    limit: int,
    bad: Sequence[str] = (),
) -> Markup:
    """The search form and the notifies it finds, newest first."""
    choices = Markup("").join(
        Markup("<option value='{}'{}>{}</option>").format(
            value, Markup(" selected") if filters.get("status", "") == value else "", name
        )
        for value, name in [
            ("", text(lang, "any_state")),
            *((s, status_name(lang, s)) for s in STATUSES),
        ]
    )

    def box(key: str, name: str, kind: str = "text", size: int = 12) -> Markup:
        numeric = Markup(" inputmode=numeric") if name == "order_id" else ""
        return Markup(
            "<label>{}<br><input name={} id=f-{} type={} size={} value='{}'{}></label>"
        ).format(say(lang, key), name, name, kind, size, filters.get(name, ""), numeric)

    form = Markup(
        "<form method=get action='{}' id=search><p><label>{}<br><select name=status "
        "id=f-status>{}</select></label>{}{}{}{}</p><p><button>{}</button> "
        "<a href='{}'>{}</a></p></form>"
    ).format(
        links("/notifies"),
        say(lang, "filter_state"),
        choices,
        box("filter_order_id", "order_id"),
        box("filter_out_order_id", "out_order_id", size=16),
        box("filter_from", "from", "date"),
        box("filter_to", "to", "date"),
        say(lang, "search"),
        links("/notifies"),
        say(lang, "clear"),
    )
    warnings = Markup("").join(
        notice(say(lang, "bad_filter", field=text(lang, key)), warn=True) for key in bad
    )
    if not records:
        return form + warnings + Markup("<p id=no-matches>{}</p>").format(say(lang, "no_matches"))
    rows = Markup("").join(
        Markup(
            "<tr id=row-{id} class=record><td><a href='{href}'>{id}</a></td><td>{out}</td>"
            "<td>{status}</td><td class=n>{attempts}</td><td>{received}</td><td>{updated}</td>"
            "<td class=wrap>{error}</td></tr>"
        ).format(
            id=r.order_id,
            href=links(f"/notifies/{r.order_id}"),
            out=r.out_order_id,
            status=_status(lang, r.status, _is_stale(r)),
            attempts=r.attempts,
            received=when(r.received_at),
            updated=when(r.updated_at),
            error=visible((r.last_error or "-")[:160]),
        )
        for r in records
    )
    head = [
        say(lang, k)
        for k in (
            "col_order_id",
            "col_out_order_id",
            "col_state",
            "col_attempts",
            "col_received",
            "col_updated",
            "col_error",
        )
    ]
    more = Markup("")
    if len(records) >= limit:
        query = {k: v for k, v in filters.items() if v}
        more = Markup("<p class=muted>{} <a id=more href='{}'>{}</a></p>").format(
            say(lang, "showing_newest", count=len(records)),
            links("/notifies", **query, limit=limit * 5),
            say(lang, "show_more"),
        )
    return form + warnings + _table(head, rows, "notifies") + more


def _is_stale(record: InboxRecord, now: float | None = None) -> bool:
    moment = time.time() if now is None else now
    return record.status == "processing" and (record.lease_until or 0) <= moment


# -- one notify ---------------------------------------------------------------------


def _outcome(lang: str, record: InboxRecord) -> Markup:
    if _is_stale(record):
        return say(lang, "outcome_stale")
    return say(lang, f"outcome_{record.status}")


def _deliveries(lang: str, record: InboxRecord) -> Markup:
    others = record.deliveries - 1
    if others:
        return say(lang, "deliveries", count=record.received, others=others)
    return say(lang, "deliveries_same", count=record.received)


# Control characters and the bidirectional overrides (which can make "10.00" read as
# "00.01"): shown as escapes, as the CLI shows them, never passed to the page raw.
_BIDI_EMBEDDING, _BIDI_ISOLATE = range(0x202A, 0x202F), range(0x2066, 0x206A)
_INVISIBLE = {
    c: f"\\x{c:02x}" if c < 256 else f"\\u{c:04x}"
    for c in (*range(32), *range(127, 160), 0x200E, 0x200F, *_BIDI_EMBEDDING, *_BIDI_ISOLATE)
}


def visible(text: object) -> str:
    """``visible("a\\x1b[2J")`` -> ``"a\\\\x1b[2J"``: a stored value, every invisible or
    reordering character written as an escape (markupsafe escapes the rest)."""
    return str(text).translate(_INVISIBLE)


def _value(name: str, value: str) -> Markup:
    """A stored field as the page shows it: the sign shortened, a paytime also as a date."""
    if name == "sign":
        return Markup("<code>{}</code>").format(short_sign(value))
    if name == "paytime" and value.isascii() and value.isdigit() and len(value) <= 11:
        return Markup("<code>{}</code> ({})").format(value, when(int(value)))
    return Markup("<code>{}</code>").format(visible(value))


def _fields_table(lang: str, raw: Mapping[str, str]) -> Markup:
    rows = Markup("").join(
        Markup("<tr><td><code>{}</code></td><td class=wrap>{}</td></tr>").format(
            name, _value(name, value)
        )
        for name, value in sorted(raw.items())
    )
    return _table([say(lang, "col_field"), say(lang, "col_value")], rows)


def _later(lang: str, record: InboxRecord) -> Markup:
    if not record.other_deliveries:
        return Markup("")
    items = []
    for delivery in record.other_deliveries:
        raw: Mapping[str, str] = delivery.get("raw", {})
        changes = Markup("").join(
            Markup("<li><code>{}</code> = <code>{}</code> {}</li>").format(
                visible(name),
                visible(value),
                say(lang, "was", was=visible(record.raw.get(name, "-"))),
            )
            for name, value in sorted(raw.items())
            if name != "sign" and record.raw.get(name) != value
        )
        line = say(
            lang,
            "delivery",
            at=when(delivery.get("received_at")),
            address=delivery.get("remote_addr") or "-",
        )
        items.append(Markup("<li>{}<ul>{}</ul></li>").format(line, changes))
    return Markup("<h3>{}</h3><ul class=later>{}</ul>").format(
        say(lang, "later_deliveries"), Markup("").join(items)
    )


def _replay_form(lang: str, links: Links, csrf: str, record: InboxRecord, on: bool) -> Markup:
    if record.status == "done" or (record.status == "processing" and not _is_stale(record)):
        return Markup("")
    if not on:
        return Markup("<p><button disabled>{}</button></p><p class=muted>{}</p>").format(
            say(lang, "replay"), say(lang, "replay_off")
        )
    return Markup(
        "<form method=post action='{}'>{}{}<p><button id=replay-{}>{}</button></p></form>"
        "<p class=muted>{}</p>"
    ).format(
        links(f"/notifies/{record.order_id}/replay"),
        _hidden("csrf", csrf),
        _hidden("appkey", record.appkey),
        record.order_id,
        say(lang, "replay"),
        say(lang, "replay_note"),
    )


def notify_body(
    lang: str,
    links: Links,
    csrf: str,
    records: Sequence[InboxRecord],
    *,
    replay_on: bool,
    message: Markup | None = None,
) -> Markup:
    """Each stored notify of one gateway order (one per merchant appkey)."""
    parts = [notice(message) if message else Markup("")]
    for record in records:
        details = [
            ("f_state", _status(lang, record.status, _is_stale(record))),
            ("f_outcome", _outcome(lang, record)),
            ("f_order_id", record.order_id),
            ("f_out_order_id", Markup("<code>{}</code>").format(record.out_order_id)),
            ("f_received_at", when(record.received_at)),
            ("f_remote_addr", record.remote_addr or "-"),
            ("f_updated_at", when(record.updated_at)),
            ("f_deliveries", _deliveries(lang, record)),
            ("f_attempts", record.attempts),
        ]
        if record.lease_until is not None:
            details.append(("f_lease", when(record.lease_until)))
        if record.last_error:
            details.append(
                (
                    "f_last_error",
                    Markup("<code id=last-error>{}</code>").format(visible(record.last_error)),
                )
            )
        if record.note:
            details.append(("f_note", record.note))
        listing = Markup("").join(
            Markup("<dt>{}</dt><dd>{}</dd>").format(say(lang, key), value) for key, value in details
        )
        parts.append(
            Markup(
                "<section class=notify><h2>{}</h2><dl>{}</dl>{}<h3>{}</h3>{}"
                "<p class=muted>{}</p>{}</section>"
            ).format(
                say(lang, "merchant", appkey=Markup("<code>{}</code>").format(record.appkey)),
                listing,
                _replay_form(lang, links, csrf, record, replay_on),
                say(lang, "fields"),
                _fields_table(lang, record.raw),
                say(lang, "sign_shortened"),
                _later(lang, record),
            )
        )
    parts.append(
        Markup("<p><a href='{}'>{}</a></p>").format(links("/notifies"), say(lang, "to_list"))
    )
    return Markup("").join(parts)

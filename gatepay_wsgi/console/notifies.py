"""The console's list of notifies and one notify: ``list_body(...)``, ``notify_body(...)``:
a search, the fields (the sign shortened, invisible characters as escapes), every
delivery, the handler runs, the last error, and the replay button."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

from markupsafe import Markup

from ..callbacks import printable
from ..inbox import STATUSES, InboxRecord
from .layout import (
    Links,
    hidden_field,
    notice,
    say,
    short_sign,
    status_badge,
    status_name,
    table,
    text,
    when,
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
            out=printable(r.out_order_id),
            status=status_badge(lang, r.status, _is_stale(r)),
            attempts=r.attempts,
            received=when(r.received_at),
            updated=when(r.updated_at),
            error=printable((r.last_error or "-")[:160]),
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
    return form + warnings + table(head, rows, "notifies") + more


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


def _value(name: str, value: str) -> Markup:
    """A stored field as the page shows it: the sign shortened, a paytime also as a date."""
    if name == "sign":
        return Markup("<code>{}</code>").format(short_sign(value))
    if name == "paytime" and value.isascii() and value.isdigit() and len(value) <= 11:
        return Markup("<code>{}</code> ({})").format(value, when(int(value)))
    return Markup("<code>{}</code>").format(printable(value))


def _fields_table(lang: str, raw: Mapping[str, str]) -> Markup:
    rows = Markup("").join(
        Markup("<tr><td><code>{}</code></td><td class=wrap>{}</td></tr>").format(
            printable(name), _value(name, value)
        )
        for name, value in sorted(raw.items())
    )
    return table([say(lang, "col_field"), say(lang, "col_value")], rows)


def _later(lang: str, record: InboxRecord) -> Markup:
    if not record.other_deliveries:
        return Markup("")
    items = []
    for delivery in record.other_deliveries:
        raw: Mapping[str, str] = delivery.get("raw", {})
        changes = Markup("").join(
            Markup("<li><code>{}</code> = <code>{}</code> {}</li>").format(
                printable(name),
                printable(value),
                say(lang, "was", was=printable(record.raw.get(name, "-"))),
            )
            for name, value in sorted(raw.items())
            if name != "sign" and record.raw.get(name) != value
        )
        line = say(
            lang,
            "delivery",
            at=when(delivery.get("received_at")),
            address=printable(delivery.get("remote_addr") or "-"),
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
        hidden_field("csrf", csrf),
        hidden_field("appkey", record.appkey),
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
            ("f_state", status_badge(lang, record.status, _is_stale(record))),
            ("f_outcome", _outcome(lang, record)),
            ("f_order_id", record.order_id),
            ("f_out_order_id", Markup("<code>{}</code>").format(printable(record.out_order_id))),
            ("f_received_at", when(record.received_at)),
            ("f_remote_addr", printable(record.remote_addr or "-")),
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
                    Markup("<code id=last-error>{}</code>").format(printable(record.last_error)),
                )
            )
        if record.note:
            details.append(("f_note", printable(record.note)))
        if record.secret_index:
            older = say(lang, "older_secret", number=record.secret_index + 1)
            details.append(("f_secret", Markup("<span id=older-secret>{}</span>").format(older)))
        listing = Markup("").join(
            Markup("<dt>{}</dt><dd>{}</dd>").format(say(lang, key), value) for key, value in details
        )
        parts.append(
            Markup(
                "<section class=notify><h2>{}</h2><dl>{}</dl>{}<h3>{}</h3>{}"
                "<p class=muted>{}</p>{}</section>"
            ).format(
                say(
                    lang,
                    "merchant",
                    appkey=Markup("<code>{}</code>").format(printable(record.appkey)),
                ),
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

"""Replays from the console: the routes ``replay_one`` (``POST /notifies/<order_id>/replay``)
and ``replay_failed`` (``POST /replay-failed``).

A replay takes the same step as a live delivery (it claims the notify, so it never runs
beside another), runs the console's ``handler`` and is logged with who asked. Without a
handler the routes answer 409 and the pages show no replay button.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence

from markupsafe import Markup
from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Response

from ..callbacks import Notification
from ..inbox import ReplayOutcome, ReplayResult
from . import layout
from .visits import ConsoleParts, Refused, Visit, query_number

logger = logging.getLogger("gatepay_wsgi.console")


def replay_one(console: ConsoleParts, visit: Visit, order_id: int) -> Response:
    """Replay one notify (the form names its appkey), then show it with the outcome."""
    handler = _handler(console, visit)
    appkey = visit.request.form.get("appkey", "")
    stored = {record.appkey for record in console.inbox.get(order_id)}
    if appkey not in stored:
        raise NotFound()
    user = visit.session.user if visit.session is not None else None
    logger.info("console: %s asked to replay order_id=%s appkey=%s", user, order_id, appkey)
    results = console.inbox.replay(handler, [order_id], appkey=appkey, by=user)
    outcome = results[0].outcome.value if results else ReplayOutcome.MISSING.value
    return visit.redirect(f"/notifies/{order_id}", replayed=outcome)


def replay_failed(console: ConsoleParts, visit: Visit) -> Response:
    """Replay every failed notify, then the overview says how many ended how."""
    handler = _handler(console, visit)
    user = visit.session.user if visit.session is not None else None
    logger.info("console: %s asked to replay every failed notify", user)
    results = console.inbox.replay(handler, None, by=user)
    return visit.redirect("/", **replay_counts(results))


def _handler(console: ConsoleParts, visit: Visit) -> Callable[[Notification], object]:
    if console.handler is None:
        raise Refused(visit.message("title_not_allowed", "replay_off", 409))
    return console.handler


def replay_counts(results: Sequence[ReplayResult]) -> dict[str, int]:
    """What "replay all failed" did, for the overview's notice (its redirect's query)."""
    done = sum(1 for r in results if r.outcome == ReplayOutcome.DONE)
    failed = sum(1 for r in results if r.outcome == ReplayOutcome.FAILED)
    return {"replayed": len(results), "done": done, "failed": failed}


def replay_all_notice(lang: str, query: Mapping[str, str]) -> Markup:
    """The overview's notice of what "replay all failed" did, read from ``replay_counts``
    in the query."""
    count, done, failed = (
        query_number(query.get(k, "")) or 0 for k in ("replayed", "done", "failed")
    )
    if not count:
        return layout.say(lang, "nothing_replayed")
    other = max(count - done - failed, 0)
    return layout.say(lang, "replayed_all", count=count, done=done, failed=failed, other=other)

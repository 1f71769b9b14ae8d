"""The ``gatepay-wsgi`` command: ``gatepay-wsgi inbox list --status failed``.

Inbox commands read the inbox named by ``--inbox URL`` or ``GATEPAY_INBOX``::

    gatepay-wsgi inbox list [--status failed] [--limit 50] [--json]
    gatepay-wsgi inbox show ORDER_ID [--json]
    gatepay-wsgi inbox replay --handler shop.payments:mark_paid (ORDER_ID ... | --failed)
    gatepay-wsgi inbox stats [--json]

Exit codes: 0 done, 1 a replayed handler failed, 2 bad usage or an unreachable inbox.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import Any

from .config import ConfigError, load_handler
from .inbox import Inbox, InboxUnavailable, open_inbox
from .inbox.base import STATUSES, InboxRecord


class CommandError(Exception):
    """A message for the user; the command exits with status 2."""


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return "-"
    return datetime.fromtimestamp(timestamp, tz=timezone.utc).strftime("%Y-%m-%d %H:%M:%SZ")


def _table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    cells = [[str(c) for c in headers], *[[_shown(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells
    ]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


_CONTROL = {c: f"\\x{c:02x}" for c in [*range(32), *range(127, 160)]}


def _shown(value: object) -> str:
    """A stored value made safe for a terminal: control characters escaped."""
    return str(value).translate(_CONTROL)


def _print_json(data: Any) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True))


def _record_row(record: InboxRecord) -> list[object]:
    error = (record.last_error or "-").replace("\n", " ")
    return [
        record.order_id,
        record.appkey,
        record.out_order_id,
        record.status,
        record.attempts,
        _when(record.received_at),
        _when(record.updated_at),
        error[:60],
    ]


_RECORD_HEADERS = ("order_id", "appkey", "out_order_id", "status", "tries", "received", "updated")


def _list(inbox: Inbox, args: argparse.Namespace) -> int:
    records = inbox.records(args.status, limit=args.limit)
    if args.json:
        _print_json([r.as_dict() for r in records])
    elif records:
        print(_table((*_RECORD_HEADERS, "last_error"), [_record_row(r) for r in records]))
    else:
        print("no notifies" + (f" with status {args.status}" if args.status else ""))
    return 0


def _show(inbox: Inbox, args: argparse.Namespace) -> int:
    records = inbox.get(args.order_id, args.appkey)
    if not records:
        raise CommandError(f"no notify for order_id {args.order_id} in the inbox")
    if args.json:
        _print_json([r.as_dict() for r in records])
        return 0
    for record in records:
        print(_table((*_RECORD_HEADERS, "last_error"), [_record_row(record)]))
        print(f"remote address: {_shown(record.remote_addr or '-')}")
        print(f"lease until:    {_when(record.lease_until)}")
        print(f"deliveries:     {record.deliveries}")
        for name, value in sorted(record.raw.items()):
            shown = value[:6] + "..." if name == "sign" else value
            print(f"  {name} = {_shown(shown)}")
        for delivery in record.other_deliveries:
            print(f"later delivery at {_when(delivery['received_at'])}:")
            for name, value in sorted(delivery["raw"].items()):
                if record.raw.get(name) != value and name != "sign":
                    was = record.raw.get(name, "-")
                    print(f"  {name} = {_shown(value)}  (was {_shown(was)})")
    return 0


def _replay(inbox: Inbox, args: argparse.Namespace) -> int:
    if bool(args.order_ids) == bool(args.failed):
        raise CommandError("inbox replay: give ORDER_ID ... or --failed (not both)")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # like gunicorn: the project's own modules
    handler = load_handler(args.handler, "--handler")
    results = inbox.replay(handler, args.order_ids or None, appkey=args.appkey)
    if args.json:
        _print_json([vars(r) for r in results])
    elif results:
        rows = [[r.order_id, r.appkey, r.outcome, (r.error or "-")[:60]] for r in results]
        print(_table(("order_id", "appkey", "outcome", "error"), rows))
    else:
        print("nothing to replay")
    return 1 if any(r.outcome == "failed" for r in results) else 0


def _stats(inbox: Inbox, args: argparse.Namespace) -> int:
    stats = inbox.stats()
    if args.json:
        _print_json(stats.as_dict())
        return 0
    rows: list[list[object]] = [[s, stats.by_status.get(s, 0)] for s in STATUSES]
    rows.append(["(stale claims)", stats.stale])
    print(_table(("status", "notifies"), rows))
    print()
    refused = sorted(stats.rejections.items())
    print(_table(("refused because", "requests"), refused or [["(none)", 0]]))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gatepay-wsgi", description="Tools for gatepay_wsgi: inspect and replay the inbox."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    inbox = commands.add_parser("inbox", help="list, show, replay and count stored notifies")
    actions = inbox.add_subparsers(dest="action", required=True, metavar="ACTION")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--inbox",
        default=os.environ.get("GATEPAY_INBOX"),
        help="inbox URL, e.g. sqlite:////var/lib/shop/gatepay.sqlite3 (default: $GATEPAY_INBOX)",
    )
    common.add_argument("--json", action="store_true", help="machine-readable output")

    listing = actions.add_parser("list", help="the newest notifies", parents=[common])
    listing.add_argument("--status", choices=STATUSES)
    listing.add_argument("--limit", type=int, default=50)
    listing.set_defaults(run=_list)

    show = actions.add_parser(
        "show", help="one notify with its fields and deliveries", parents=[common]
    )
    show.add_argument("order_id", type=int, metavar="ORDER_ID", help="the gateway's order_id")
    show.set_defaults(run=_show)

    replay = actions.add_parser(
        "replay", help="run a handler again for failed notifies", parents=[common]
    )
    replay.add_argument("--handler", required=True, help="package.module:function")
    replay.add_argument("order_ids", type=int, nargs="*", metavar="ORDER_ID")
    replay.add_argument("--failed", action="store_true", help="every failed or stale notify")
    replay.set_defaults(run=_replay)

    stats = actions.add_parser(
        "stats", help="counts by status and refusals by reason", parents=[common]
    )
    stats.set_defaults(run=_stats)

    for action in (show, replay):
        action.add_argument("--appkey", help="only this merchant's notifies")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gatepay-wsgi`` console script."""
    args = build_parser().parse_args(argv)
    try:
        if not args.inbox:
            raise CommandError("no inbox: pass --inbox URL or set GATEPAY_INBOX")
        try:
            inbox = open_inbox(args.inbox, create=False)
        except ValueError as error:
            raise CommandError(str(error)) from None
        run: Callable[[Inbox, argparse.Namespace], int] = args.run
        return run(inbox, args)
    except (CommandError, ConfigError, InboxUnavailable) as error:
        print(f"gatepay-wsgi: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

"""``gatepay-wsgi inbox ...``: list, show, replay and count stored notifies.

They read the inbox named by ``--inbox URL`` or ``GATEPAY_INBOX``::

    gatepay-wsgi inbox list [--status failed] [--limit 50] [--json]
    gatepay-wsgi inbox show ORDER_ID [--json]
    gatepay-wsgi inbox replay --handler shop.payments:mark_paid (ORDER_ID ... | --failed)
    gatepay-wsgi inbox stats [--json]
    gatepay-wsgi inbox migrate

Exit codes: 0 done, 1 a replayed handler failed, 2 bad usage, an unreachable inbox or an
order it does not hold.

The commands are declared once, in ``INBOX_COMMANDS``: ``flask gatepay`` and ``manage.py
gatepay`` build theirs from it and run them through ``run_action``, so all three take
the same options and print the same; only where the inbox and the handler come from is
each front end's own (here ``--inbox`` and ``--handler``).
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..callbacks import printable
from ..config import hide_password
from ..dotted_names import load_handler
from ..inbox import STATUSES, Inbox, InboxRecord, ReplayOutcome, open_inbox
from .commands import Argument, Command, add_argparse_command
from .common import CommandError, print_json, table, when


def _record_row(record: InboxRecord) -> list[object]:
    error = (record.last_error or "-").replace("\n", " ")
    return [
        record.order_id,
        record.appkey,
        record.out_order_id,
        record.status,
        record.attempts,
        when(record.received_at),
        when(record.updated_at),
        error[:60],
    ]


_RECORD_HEADERS = ("order_id", "appkey", "out_order_id", "status", "tries", "received", "updated")


def _list(inbox: Inbox, args: argparse.Namespace) -> int:
    records = inbox.records(args.status, limit=args.limit)
    if args.json:
        print_json([r.as_dict() for r in records])
    elif records:
        print(table((*_RECORD_HEADERS, "last_error"), [_record_row(r) for r in records]))
    else:
        print("no notifies" + (f" with status {args.status}" if args.status else ""))
    return 0


def _show(inbox: Inbox, args: argparse.Namespace) -> int:
    records = inbox.get(args.order_id, args.appkey)
    if not records:
        raise CommandError(f"no notify for order_id {args.order_id} in the inbox")
    if args.json:
        print_json([r.as_dict() for r in records])
        return 0
    for record in records:
        print(table((*_RECORD_HEADERS, "last_error"), [_record_row(record)]))
        print(f"remote address: {printable(record.remote_addr or '-')}")
        print(f"lease until:    {when(record.lease_until)}")
        others = record.deliveries - 1
        other_fields = f" ({others} with other signed fields)" if others else ""
        print(f"received:       {_times(record.received)}{other_fields}")
        print(f"handler runs:   {record.attempts} (status {record.status})")
        if record.note:
            print(f"note:           {printable(record.note)}")
        if record.secret_index:
            print(
                f"verified with:  an older appsecret (#{record.secret_index + 1} in the "
                "settings; the first is the current one)"
            )
        for name, value in sorted(record.raw.items()):
            text = value[:6] + "..." if name == "sign" else value
            print(f"  {printable(name)} = {printable(text)}")
        for delivery in record.other_deliveries:
            print(f"later delivery at {when(delivery['received_at'])}:")
            for name, value in sorted(delivery["raw"].items()):
                if record.raw.get(name) != value and name != "sign":
                    was = record.raw.get(name, "-")
                    print(f"  {printable(name)} = {printable(value)}  (was {printable(was)})")
    return 0


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container's)
        return f"uid {os.getuid()}"


def _times(count: int) -> str:
    return "once" if count == 1 else f"{count} times"


#: What a replay may end in for the command to exit 0: handled now, or before.
_SETTLED = (ReplayOutcome.DONE, ReplayOutcome.SKIPPED)


def _replay(inbox: Inbox, args: argparse.Namespace) -> int:
    if bool(args.order_ids) == bool(args.failed):
        raise CommandError("inbox replay: give ORDER_ID ... or --failed (not both)")
    handler = args.handler
    if isinstance(handler, str):
        if os.getcwd() not in sys.path:
            sys.path.insert(0, os.getcwd())  # like gunicorn: the project's own modules
        handler = load_handler(handler, "--handler")
    by = args.by or f"{Path(sys.argv[0]).name} ({_user()})"
    results = inbox.replay(handler, args.order_ids or None, appkey=args.appkey, by=by)
    if args.json:
        print_json([vars(r) for r in results])
    elif results:
        rows = [[r.order_id, r.appkey, r.outcome, (r.error or "-")[:60]] for r in results]
        print(table(("order_id", "appkey", "outcome", "error"), rows))
    else:
        print("nothing to replay")
    for result in results:
        if result.outcome == ReplayOutcome.MISSING:
            print(f"no notify for order_id {result.order_id} in the inbox", file=sys.stderr)
        elif result.outcome not in (*_SETTLED, ReplayOutcome.FAILED):  # the table says why
            print(f"order_id {result.order_id} was not replayed: {result.outcome}", file=sys.stderr)
    if any(r.outcome == ReplayOutcome.MISSING for r in results):
        return 2  # as `inbox show` of an unknown order: nothing ran for it
    # A script (cron, CI) must not read "busy", "unavailable" or "lost" as done.
    return 0 if all(r.outcome in _SETTLED for r in results) else 1


def _stats(inbox: Inbox, args: argparse.Namespace) -> int:
    stats = inbox.stats()
    if args.json:
        print_json(stats.as_dict())
        return 0
    rows: list[list[object]] = [[s, stats.by_status.get(s, 0)] for s in STATUSES]
    rows.append(["(stale claims)", stats.stale])
    print(table(("status", "notifies"), rows))
    print()
    refused = sorted(stats.rejections.items())
    print(table(("refused because", "requests"), refused or [["(none)", 0]]))
    return 0


def _migrate(inbox: Inbox, args: argparse.Namespace) -> int:
    if not inbox.durable:
        print(f"inbox {args.inbox} keeps notifies inside one process: nothing to create")
    else:  # opening it created or checked the schema
        print(f"inbox ready: {hide_password(args.inbox)}")
    return 0


# -- the inbox commands, declared once for gatepay-wsgi, flask and manage.py ----------------

JSON = Argument("--json", "machine-readable output", flag=True)
APPKEY = Argument("--appkey", "only this merchant's notifies")

INBOX_COMMANDS: tuple[Command, ...] = (
    Command(
        "list",
        "the newest notifies",
        _list,
        (
            Argument("--status", "only notifies with this status", choices=STATUSES),
            Argument("--limit", "show at most this many (default: 50)", type=int, default=50),
            JSON,
        ),
    ),
    Command(
        "show",
        "one notify with its fields and deliveries",
        _show,
        (
            Argument("order_id", "the gateway's order_id", type=int, metavar="ORDER_ID"),
            APPKEY,
            JSON,
        ),
    ),
    Command(
        "replay",
        "run the notify handler again for failed notifies (or the ORDER_IDs given)",
        _replay,
        (
            Argument(
                "order_ids", "the gateway's order_ids", type=int, many=True, metavar="ORDER_ID"
            ),
            Argument("--failed", "every failed or stale notify", flag=True),
            APPKEY,
            JSON,
        ),
        needs_handler=True,
        writes=True,
    ),
    Command("stats", "counts by status and refusals by reason", _stats, (JSON,)),
    Command(
        "migrate",
        "create the inbox's schema (or check it) before first use",
        _migrate,
        (JSON,),  # taken, as by every inbox command, though its one line has no JSON form
        writes=True,
        creates=True,
        # An app opens its inbox, creating the schema, as it starts: nothing is left for
        # flask or manage.py to do.
        in_frameworks=False,
    ),
)
#: The commands ``flask gatepay`` and ``manage.py gatepay`` offer.
FRAMEWORK_COMMANDS = tuple(command for command in INBOX_COMMANDS if command.in_frameworks)


def inbox_command(name: str) -> Command:
    """``inbox_command("list")`` -> its description (``KeyError`` for no such command)."""
    for command in INBOX_COMMANDS:
        if command.name == name:
            return command
    raise KeyError(name)


def run_action(action: str, inbox: Inbox, **options: Any) -> int:
    """``run_action("list", inbox, status="failed", json=True)`` -> the exit code.

    Prints exactly what ``gatepay-wsgi inbox list|show|stats|replay`` prints, so that the
    framework commands (``flask gatepay``, ``manage.py gatepay``) read the same. Each
    argument of the command (``INBOX_COMMANDS``) not given takes its default; ``replay``
    also takes ``handler`` (a callable, or a dotted name) and ``by`` (who replays, for
    the record). Raises ``CommandError`` (exit code 2) for the user.
    """
    command = inbox_command(action)
    defaults = {argument.dest: argument.empty for argument in command.arguments}
    args = argparse.Namespace(**{"handler": None, "by": None, **defaults, **options})
    return command.run(inbox, args)


# -- gatepay-wsgi inbox ... ------------------------------------------------------------------


def _with_inbox(command: Command) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        if not args.inbox:
            raise CommandError("no inbox: pass --inbox URL or set GATEPAY_INBOX")
        inbox = open_inbox(args.inbox, create=command.creates, writable=command.writes)
        try:
            return command.run(inbox, args)
        finally:  # a pool left to the garbage collector may be collected in its own thread
            inbox.close()

    return run


def add_commands(commands: Any) -> None:
    """Add ``inbox list|show|replay|stats|migrate`` to the ``gatepay-wsgi`` parser."""
    inbox = commands.add_parser("inbox", help="list, show, replay and count stored notifies")
    actions = inbox.add_subparsers(dest="action", required=True, metavar="ACTION")
    # Where the inbox and the handler come from: on the command line, named.
    inbox_url = Argument(
        "--inbox",
        "inbox URL, e.g. sqlite:////var/lib/shop/gatepay.sqlite3 (default: $GATEPAY_INBOX)",
        default=os.environ.get("GATEPAY_INBOX"),
    )
    handler = Argument("--handler", "package.module:function", required=True)
    for command in INBOX_COMMANDS:
        extra = (inbox_url, handler) if command.needs_handler else (inbox_url,)
        parser = add_argparse_command(actions, command, extra)
        parser.set_defaults(run=_with_inbox(command), by=None)

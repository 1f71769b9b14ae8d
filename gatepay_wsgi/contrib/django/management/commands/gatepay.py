"""``python manage.py gatepay list|show|stats|replay``: the inbox of ``settings.GATEPAY``.

The same options, output and exit codes as ``gatepay-wsgi inbox``: 0 done, 1 a replayed
handler failed, 2 bad usage or an unreachable inbox. ``replay`` runs the project's own
notify handler (``GATEPAY["NOTIFY"]``) as a request would run it.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gatepay_wsgi.cli.inbox import run_action
from gatepay_wsgi.contrib.django import as_a_request, middleware_settings
from gatepay_wsgi.errors import GatePayException
from gatepay_wsgi.inbox import STATUSES
from gatepay_wsgi.notify import Notify


class Command(BaseCommand):  # type: ignore[misc]  # Django ships no type information
    help = "List, show, count and replay the notifies in the GatePay inbox."

    def add_arguments(self, parser: CommandParser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        listing = actions.add_parser("list", help="the newest notifies")
        listing.add_argument("--status", choices=STATUSES)
        listing.add_argument("--limit", type=int, default=50)
        show = actions.add_parser("show", help="one notify with its fields and deliveries")
        show.add_argument("order_id", type=int, metavar="ORDER_ID")
        replay = actions.add_parser("replay", help="run the notify handler again for failed ones")
        replay.add_argument("order_ids", type=int, nargs="*", metavar="ORDER_ID")
        replay.add_argument("--failed", action="store_true", help="every failed or stale notify")
        stats = actions.add_parser("stats", help="counts by status and refusals by reason")
        for action in (listing, show, replay, stats):
            action.add_argument("--json", action="store_true", help="machine-readable output")
        for action in (show, replay):
            action.add_argument("--appkey", help="only this merchant's notifies")

    def handle(self, *args: Any, **options: Any) -> None:
        action = options["action"]
        try:
            middleware_options = middleware_settings()
            endpoints = [e for e in middleware_options["paths"].values() if isinstance(e, Notify)]
            inbox = middleware_options.get("inbox")
            if inbox is None:
                raise CommandError(
                    'GATEPAY["INBOX"] is not set: there is no inbox to read', returncode=2
                )
            extra: dict[str, Any] = {}
            if action == "replay":
                if len(endpoints) != 1:
                    raise CommandError(
                        "replay needs exactly one GATEPAY notify handler", returncode=2
                    )
                handler = endpoints[0].handler

                def in_a_request(notification: Any) -> Any:
                    with as_a_request({"SCRIPT_NAME": ""}):
                        return handler(notification)

                extra = {"handler": in_a_request, "order_ids": options["order_ids"]}
                extra["failed"] = options["failed"]
            names = ("status", "limit", "order_id", "appkey", "json")
            given = {name: options[name] for name in names if name in options}
            code = run_action(action, inbox, **given, **extra)
        except GatePayException as error:
            raise CommandError(str(error), returncode=2) from None
        if code:
            sys.exit(code)

"""``python manage.py gatepay list|show|stats|replay``: the inbox of ``settings.GATEPAY``.

The same commands, options, output and exit codes as ``gatepay-wsgi inbox`` (built from
its one description, ``INBOX_COMMANDS``): 0 done, 1 a replay that did not end done, 2 bad
usage or an unreachable inbox. ``replay`` runs the project's own notify handler
(``GATEPAY["NOTIFY"]``) as a request would run it.
"""

from __future__ import annotations

import argparse
import copy
import sys
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from gatepay_wsgi.cli.commands import add_argparse_command
from gatepay_wsgi.cli.inbox import FRAMEWORK_COMMANDS, inbox_command, run_action
from gatepay_wsgi.contrib.django import as_a_request, middleware_settings
from gatepay_wsgi.errors import GatePayException
from gatepay_wsgi.notify import Notify


class Command(BaseCommand):  # type: ignore[misc]  # Django ships no type information
    help = "List, show, count and replay the notifies in the GatePay inbox."

    def add_arguments(self, parser: CommandParser) -> None:
        # Django's own options (--settings, -v, --traceback, ...) are on ``parser`` by
        # now; a Django user writes them anywhere, after the action too, where the
        # action's parser reads them: each gets a copy that sets nothing unless given.
        django_options = [
            action
            for action in parser._actions
            if action.option_strings and action.dest not in ("help", "version")
        ]
        actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
        for command in FRAMEWORK_COMMANDS:
            action_parser = add_argparse_command(actions, command)
            for option in django_options:
                given_here = copy.copy(option)
                given_here.default = argparse.SUPPRESS
                action_parser._add_action(given_here)

    def handle(self, *args: Any, **options: Any) -> None:
        command = inbox_command(options["action"])
        try:
            middleware_options = middleware_settings()
            endpoints = [e for e in middleware_options["paths"].values() if isinstance(e, Notify)]
            inbox = middleware_options.get("inbox")
            if inbox is None:
                raise CommandError(
                    'GATEPAY["INBOX"] is not set: there is no inbox to read', returncode=2
                )
            given = {argument.dest: options[argument.dest] for argument in command.arguments}
            if command.needs_handler:
                if len(endpoints) != 1:
                    raise CommandError(
                        "replay needs exactly one GATEPAY notify handler", returncode=2
                    )
                given["handler"] = _in_a_request(endpoints[0].handler)
            code = run_action(command.name, inbox, **given)
        except GatePayException as error:
            raise CommandError(str(error), returncode=2) from None
        if code:
            sys.exit(code)


def _in_a_request(handler: Callable[..., Any]) -> Callable[..., Any]:
    """The handler, run in Django's request cycle as a live notify's would be."""

    def in_a_request(notification: Any) -> Any:
        with as_a_request({"SCRIPT_NAME": ""}):
            return handler(notification)

    return in_a_request

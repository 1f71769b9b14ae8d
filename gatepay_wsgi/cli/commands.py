"""``gatepay-wsgi inbox list --status failed``: how a command is described, once.

A ``Command`` names an action, says what it does and lists its ``Argument``s; each front
end builds its own parser from that one description: ``add_argparse_command`` here for
``gatepay-wsgi`` and ``manage.py`` (Django hands its commands an argparse parser), and
``contrib/flask.py`` click commands for ``flask``. So a new option, or a help text made
clearer, reaches all three at once.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from ..inbox import Inbox


@dataclass(frozen=True)
class Argument:
    """``Argument("--limit", "show at most this many", type=int, default=50)``.

    A name that starts with ``--`` is an option; any other is a positional argument
    (``order_id``). ``flag``: an option that takes no value (``--json``); ``many``: a
    positional that takes zero or more values (``ORDER_ID ...``).
    """

    name: str
    help: str = ""
    type: Callable[[str], Any] = str
    default: Any = None
    choices: tuple[str, ...] | None = None
    flag: bool = False
    many: bool = False
    required: bool = False
    metavar: str | None = None

    @property
    def dest(self) -> str:
        """The keyword it arrives as: ``--order-id`` and ``order_id`` are ``order_id``."""
        return self.name.lstrip("-").replace("-", "_")

    @property
    def is_option(self) -> bool:
        return self.name.startswith("--")

    @property
    def empty(self) -> Any:
        """Its value when it is not given: ``False`` for a flag, ``[]`` for many."""
        return False if self.flag else [] if self.many else self.default


@dataclass(frozen=True)
class Command:
    """``Command("stats", "counts by status and refusals by reason", run=_stats, ...)``.

    ``run(inbox, args)`` does the work and answers the exit code; ``args`` carries each
    argument under its ``dest``. ``needs_handler``: each front end supplies the notify
    handler its own way (``--handler`` on the command line, the app's own in a framework).
    ``writes`` and ``creates``: how the command line opens the inbox it is given.
    ``in_frameworks``: offered by ``flask gatepay`` and ``manage.py gatepay`` too.
    """

    name: str
    help: str
    run: Callable[[Inbox, argparse.Namespace], int]
    arguments: tuple[Argument, ...] = ()
    needs_handler: bool = False
    writes: bool = False
    creates: bool = False
    in_frameworks: bool = True


def add_argparse_command(
    subparsers: Any, command: Command, extra: Iterable[Argument] = (), **parser_options: Any
) -> argparse.ArgumentParser:
    """``add_argparse_command(actions, command)``: its parser, under ``add_subparsers()``.

    ``extra``: the front end's own arguments, before the command's (``--inbox``).
    """
    parser: argparse.ArgumentParser = subparsers.add_parser(
        command.name, help=_escaped(command.help), **parser_options
    )
    for argument in (*extra, *command.arguments):
        options: dict[str, Any] = {"help": _escaped(argument.help) or None}
        if argument.flag:
            options["action"] = "store_true"
        else:
            options.update(type=argument.type, default=argument.default)
            if argument.choices is not None:
                options["choices"] = argument.choices
        if argument.many:
            options["nargs"] = "*"
        if argument.required:
            options["required"] = True
        if argument.metavar:
            options["metavar"] = argument.metavar
        parser.add_argument(argument.name, **options)
    return parser


def _escaped(text: str) -> str:
    # argparse reads help as a %-format (``%(default)s``): a plain ``%`` must be doubled.
    return text.replace("%", "%%")

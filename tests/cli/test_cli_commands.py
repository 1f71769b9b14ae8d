"""cli/commands.py: the inbox commands, described once, reach all three front ends alike."""

from __future__ import annotations

import argparse

import pytest

from gatepay_wsgi.cli import build_parser
from gatepay_wsgi.cli.commands import Argument, Command, add_argparse_command
from gatepay_wsgi.cli.inbox import FRAMEWORK_COMMANDS, INBOX_COMMANDS, inbox_command, run_action
from gatepay_wsgi.inbox import open_inbox

#: What only the command line adds: where the inbox and the handler come from.
CLI_ONLY = {"--inbox", "--handler"}


def options_of(parser: argparse.ArgumentParser) -> set[str]:
    return {
        action.option_strings[-1] if action.option_strings else action.dest
        for action in parser._actions  # argparse keeps no public list of them
        if not isinstance(action, argparse._HelpAction)
    }


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


def described(command: Command) -> set[str]:
    return {
        argument.name if argument.is_option else argument.dest for argument in command.arguments
    }


def test_gatepay_wsgi_inbox_offers_every_described_command_and_option():
    actions = subcommands(subcommands(build_parser())["inbox"])
    assert list(actions) == [command.name for command in INBOX_COMMANDS]
    for command in INBOX_COMMANDS:
        assert options_of(actions[command.name]) - CLI_ONLY == described(command)
        assert ("--handler" in options_of(actions[command.name])) == command.needs_handler


def test_flask_gatepay_offers_the_same_commands_and_options():
    pytest.importorskip("flask")
    from gatepay_wsgi.contrib.flask import gatepay_command

    assert set(gatepay_command.commands) == {command.name for command in FRAMEWORK_COMMANDS}
    for command in FRAMEWORK_COMMANDS:
        params = gatepay_command.commands[command.name].params
        assert {p.opts[0] if p.param_type_name == "option" else p.name for p in params} == (
            described(command)
        )


def test_manage_py_gatepay_offers_the_same_commands_and_options():
    pytest.importorskip("django")
    from gatepay_wsgi.contrib.django.management.commands.gatepay import Command as Gatepay

    parser = Gatepay().create_parser("manage.py", "gatepay")
    actions = subcommands(parser)
    # Django's own (--settings, -v, ...) are taken after the action as well
    django_options = options_of(parser) - {"--version", "action"}
    assert {"--settings", "--verbosity", "--traceback"} <= django_options
    assert list(actions) == [command.name for command in FRAMEWORK_COMMANDS]
    for command in FRAMEWORK_COMMANDS:
        assert options_of(actions[command.name]) == described(command) | django_options


def test_an_argparse_command_takes_flags_lists_choices_and_a_percent_in_its_help():
    parser = argparse.ArgumentParser()
    actions = parser.add_subparsers(dest="action")
    command = Command(
        "try",
        "100% of it",
        run=lambda inbox, args: 0,
        arguments=(
            Argument("ids", type=int, many=True, metavar="ID"),
            Argument("--colour", "one of two", choices=("red", "blue"), default="red"),
            Argument("--loud", flag=True),
        ),
    )
    add_argparse_command(actions, command, [Argument("--where", required=True)])
    args = parser.parse_args(["try", "--where", "here", "1", "2", "--loud"])
    assert (args.ids, args.colour, args.loud, args.where) == ([1, 2], "red", True, "here")
    assert parser.parse_args(["try", "--where", "x"]).ids == []
    with pytest.raises(SystemExit):
        parser.parse_args(["try", "--where", "x", "--colour", "green"])
    with pytest.raises(SystemExit):
        parser.parse_args(["try"])  # --where is required
    assert "100% of it" in parser.format_help()


def test_run_action_fills_in_what_is_not_given(capsys):
    inbox = open_inbox("memory://")
    assert run_action("list", inbox) == 0
    assert capsys.readouterr().out == "no notifies\n"
    assert run_action("stats", inbox, json=True) == 0
    assert '"by_status"' in capsys.readouterr().out
    with pytest.raises(KeyError):
        inbox_command("drop")

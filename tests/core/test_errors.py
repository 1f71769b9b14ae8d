"""errors.py: one root for everything the library raises on purpose, each error's data."""

from __future__ import annotations

import importlib

import pytest

from gatepay_wsgi import errors
from gatepay_wsgi.inbox import open_inbox


def test_every_error_has_the_one_root():
    raised = [
        value
        for value in vars(errors).values()
        if isinstance(value, type) and issubclass(value, BaseException)
    ]
    assert {"GatePayError", "ConfigError", "InboxNotWritable"} <= {e.__name__ for e in raised}
    assert all(issubclass(error, errors.GatePayException) for error in raised)


#: The tools' own errors, each beside the tool that raises it (errors.py keeps the
#: protocol's, the settings' and the inbox's, which the core and the glue raise).
TOOL_ERRORS = [
    ("gatepay_wsgi.outbound", "Unreachable"),
    ("gatepay_wsgi.gateway_answers", "GatewayError"),  # the client re-exports it
    ("gatepay_wsgi.sandbox.create", "CreateRefused"),
    ("gatepay_wsgi.sandbox.cloud_sessions", "ScanRefused"),
    ("gatepay_wsgi.cli.common", "CommandError"),
    ("gatepay_wsgi.demo", "PortInUse"),
]


@pytest.mark.parametrize(("module", "name"), TOOL_ERRORS)
def test_a_tools_error_lives_beside_its_tool_under_the_one_root(module, name):
    error = getattr(importlib.import_module(module), name)
    assert error.__module__ == module  # defined there, not imported
    assert issubclass(error, errors.GatePayException)
    assert not hasattr(errors, name)  # one home


def test_a_refused_callback_is_still_apart_from_the_inbox_and_the_settings():
    # ``except GatePayError`` answers 4xx: an unavailable inbox must never fall into it.
    assert not issubclass(errors.InboxUnavailable, errors.GatePayError)
    assert not issubclass(errors.ConfigError, errors.GatePayError)
    assert issubclass(errors.ReusedSign, errors.BadSignature)


def test_a_config_error_is_still_a_value_error():
    assert issubclass(errors.ConfigError, ValueError)
    with pytest.raises(ValueError, match="unsupported scheme 'redis'"):
        open_inbox("redis://localhost")
    with pytest.raises(errors.ConfigError, match="unknown option 'lese'"):
        open_inbox("memory://?lese=3")


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("gatepay_wsgi.config", "ConfigError"),
        ("gatepay_wsgi.inbox", "InboxUnavailable"),
        ("gatepay_wsgi.inbox.startup", "InboxNotWritable"),
    ],
)
def test_older_homes_still_import_the_same_class(module, name):
    home = __import__(module, fromlist=[name])
    assert getattr(home, name) is getattr(errors, name)


def test_a_callback_error_names_its_field():
    error = errors.InvalidField("price must have exactly two decimals", field="price")
    assert (error.reason, error.field) == ("invalid_field", "price")

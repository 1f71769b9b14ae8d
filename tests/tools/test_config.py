"""config.py: string settings (an .ini, the environment) into middleware arguments."""

from __future__ import annotations

import pytest

from gatepay_wsgi import Notify
from gatepay_wsgi.config import ConfigError, middleware_options
from gatepay_wsgi.errors import InboxNotWritable
from gatepay_wsgi.inbox import MemoryInbox

from ..gateway import record


def test_settings_build_the_middleware_options():
    options = middleware_options(
        {
            "gatepay.appkey": " k ",
            "gatepay.appsecret": "s",
            "gatepay.inbox": "memory://",
            "gatepay.notify": "/n tests.gateway:record",
            "gatepay.timeout": "/t tests.gateway.record",
            "gatepay.max_body_size": "1024",
            "gatepay.clock_skew": "60",
        },
        prefix="gatepay.",
    )
    assert options["appkey"] == "k"
    assert isinstance(options["inbox"], MemoryInbox)  # opened: a wrong URL names the key
    notify = options["paths"]["/n"]
    assert isinstance(notify, Notify)
    assert (notify.handler, notify.max_body_size, notify.clock_skew) == (record, 1024, 60)


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"appsecret": "s", "notify": "/n tests.gateway:record"}, "x.appkey is missing"),
        ({"appkey": "k", "notify": "/n tests.gateway:record"}, "x.appsecret is missing"),
        ({"appkey": "k", "appsecret": "s"}, "x.notify is missing"),
        (
            {"appkey": "k", "appsecret": "s", "notify": "tests.gateway:record"},
            "x.notify: write",
        ),
        (
            {"appkey": "k", "appsecret": "s", "notify": "/n nowhere_xyz:f"},
            "x.notify: cannot import",
        ),
        ({"appkey": "k", "appsecret": "s", "notify": "/n tests.gateway:nope"}, "x.notify: "),
        ({"appkey": "k", "appsecret": "s", "notify": "/n tests.gateway:APPKEY"}, "not callable"),
        (
            {
                "appkey": "k",
                "appsecret": "s",
                "notify": "/n tests.gateway:record",
                "max_body_size": "64k",
            },
            "x.max_body_size: '64k' is not a whole number",
        ),
        (
            {
                "appkey": "k",
                "appsecret": "s",
                "notify": "/n tests.gateway:record",
                "max_body_size": "-1",
            },
            "x.max_body_size: '-1' must be positive",
        ),
        (
            {
                "appkey": "k",
                "appsecret": "s",
                "notify": "/n tests.gateway:record",
                "clock_skew": " -5",
            },
            "x.clock_skew: ' -5' must be 0 or more",
        ),
    ],
)
def test_setting_errors_name_the_setting(settings, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        middleware_options({f"x.{k}": v for k, v in settings.items()}, prefix="x.")


GOOD = {"x.appkey": "k", "x.appsecret": "s", "x.notify": "/n tests.gateway:record"}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"x.inbx": "sqlite:///a.sqlite3"}, "unknown setting x.inbx (known: x.appkey, "),
        ({"x.notify": "/n .payments:record"}, "x.notify: '.payments:record' is relative"),
        ({"x.inbox": "sqlite:/relative.sqlite3"}, "x.inbox: 'sqlite:/relative.sqlite3' is not an"),
        ({"x.inbox": "postgres//db/shop"}, "x.inbox: 'postgres//db/shop' is not an inbox URL"),
        ({"x.inbox": "mysql://shop:hunter2@db/shop"}, "x.inbox: inbox URL 'mysql://shop:***@db"),
        ({"x.inbox": "sqlite://a.sqlite3"}, "x.inbox: inbox URL 'sqlite://a.sqlite3': write"),
        ({"x.inbox": "memory://?lease=soon"}, "x.inbox: inbox URL 'memory://?lease=soon': lease"),
        ({"x.inbox": "sqlite:///a.sqlite3?synchronous=off"}, "x.inbox: synchronous must be"),
    ],
)
def test_inbox_urls_unknown_keys_and_relative_names_name_the_setting(
    extra, message, tmp_path, monkeypatch
):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as raised:
        middleware_options({**GOOD, **extra}, prefix="x.")
    assert str(raised.value).startswith(message)
    assert "hunter2" not in str(raised.value)
    assert list(tmp_path.iterdir()) == []  # refused before any file was made


def test_an_inbox_that_cannot_be_written_is_an_operational_error(tmp_path):
    url = f"sqlite:///{tmp_path}/no-such-folder/inbox.sqlite3"
    with pytest.raises(InboxNotWritable, match="no-such-folder") as raised:
        middleware_options({**GOOD, "x.inbox": url}, prefix="x.")
    assert not isinstance(raised.value, ValueError)  # not a ConfigError: fix the machine


def test_setting_name_mode_leaves_other_keys_alone():
    settings = {"GATEPAY_APPKEY": "k", "GATEPAY_APPSECRET": "s", "GATEPAY_GATEWAY_URL": "u"}
    settings["GATEPAY_NOTIFY"] = "/n tests.gateway:record"
    options = middleware_options(settings, setting_name=lambda n: f"GATEPAY_{n.upper()}")
    assert list(options["paths"]) == ["/n"]


@pytest.mark.parametrize(
    ("url", "option"),
    [("sqlite:///{path}?timeout=5", "timeout"), ("memory://?timeout=5", "timeout")],
)
def test_an_option_the_inbox_kind_does_not_take_is_a_config_error(tmp_path, url, option):
    """Not a TypeError from deep inside: the URL, the option and what is known."""
    from gatepay_wsgi.inbox import open_inbox

    with pytest.raises(ConfigError, match=f"unknown option {option!r}"):
        open_inbox(url.format(path=tmp_path / "gatepay.sqlite3"))

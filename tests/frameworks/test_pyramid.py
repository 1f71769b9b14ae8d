"""The Pyramid include under waitress: settings, dotted names, errors that name the key."""

from __future__ import annotations

import pytest

from gatepay_wsgi.config import ConfigError
from gatepay_wsgi.errors import InboxNotWritable

from ..gateway import APPKEY, APPSECRET, notify_fields
from ..servers import http, serving

pytest.importorskip("pyramid")
from pyramid.config import Configurator
from pyramid.response import Response
from pyramid.threadlocal import get_current_registry

RECORDED: list = []


def record(notification):
    """The notify handler the settings name (``tests.frameworks.test_pyramid:record``)."""
    RECORDED.append((notification.order_id, get_current_registry().settings["shop.name"]))


SETTINGS = {
    "shop.name": "pyramid test",
    "gatepay.appkey": APPKEY,
    "gatepay.appsecret": APPSECRET,
    "gatepay.inbox": "memory://",
    "gatepay.notify": "/gatepay/notify tests.frameworks.test_pyramid:record",
}


def make_app(**settings: str | None):
    """A Pyramid app with a home page, configured here (its package is ``tests``)."""
    merged = {k: v for k, v in {**SETTINGS, **settings}.items() if v is not None}
    with Configurator(settings=merged) as config:
        config.include("gatepay_wsgi.contrib.pyramid")
        config.add_route("home", "/")
        config.add_view(lambda request: Response("home"), route_name="home")
        return config.make_wsgi_app()


def paid(url: str) -> tuple[int, str]:
    status, body, _ = http("POST", url + "/gatepay/notify", notify_fields())
    return status, body


@pytest.mark.parametrize(
    "spec",
    [
        "tests.frameworks.test_pyramid:record",
        "tests.frameworks.test_pyramid.record",
        ".test_pyramid:record",  # relative to the package that made the Configurator
        ".test_pyramid.record",
    ],
)
def test_a_notify_reaches_the_handler_named_in_the_settings(spec):
    RECORDED.clear()
    with serving(make_app(**{"gatepay.notify": f"/gatepay/notify {spec}"})) as url:
        assert paid(url) == (200, "success")
        assert paid(url) == (200, "success")  # the gateway's retry, handled once
        assert http("GET", url + "/")[1] == "home"
    assert RECORDED == [(100001, "pyramid test")]


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        # a typo would have fallen back to a memory inbox: notifies not durable
        (
            {"gatepay.inbx": "sqlite:///shop.sqlite3"},
            r"unknown setting gatepay\.inbx \(known: gatepay\.appkey, .*gatepay\.inbox",
        ),
        (
            {"gatepay.notfy": "/n x:y", "gatepay.Inbox": "memory://"},
            r"gatepay\.Inbox, gatepay\.notfy",
        ),
        ({"gatepay.appsecret": None}, r"gatepay\.appsecret is missing"),
        ({"gatepay.notify": "/gatepay/notify .nowhere:record"}, r"gatepay\.notify: cannot resolve"),
        ({"gatepay.notify": "/gatepay/notify .test_pyramid:nope"}, r"gatepay\.notify: cannot"),
        ({"gatepay.notify": "/gatepay/notify .test_pyramid:SETTINGS"}, "not callable"),
        ({"gatepay.inbox": "sqlite:/relative.sqlite3"}, r"gatepay\.inbox: 'sqlite:/relative"),
        ({"gatepay.inbox": "postgres//db"}, r"gatepay\.inbox: 'postgres//db' is not an inbox URL"),
        ({"gatepay.inbox": "mysql://shop@db/shop"}, r"gatepay\.inbox: .*unsupported scheme"),
        ({"gatepay.inbox": "sqlite:///x.sqlite3?lease=soon"}, r"gatepay\.inbox: .*lease must"),
        ({"gatepay.max_body_size": "64k"}, r"gatepay\.max_body_size: '64k'"),
    ],
)
def test_a_wrong_setting_is_a_config_error_naming_it(settings, message, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError, match=message):
        make_app(**settings)
    assert list(tmp_path.iterdir()) == []  # no inbox file was made on the way


def test_an_inbox_that_cannot_be_written_is_not_a_config_error(tmp_path):
    with pytest.raises(InboxNotWritable, match="does not exist") as raised:
        make_app(**{"gatepay.inbox": f"sqlite:///{tmp_path}/missing/inbox.sqlite3"})
    assert not isinstance(raised.value, ConfigError)


def test_other_keys_are_left_to_their_owners():
    RECORDED.clear()
    app = make_app(**{"gatepay_extra": "x", "gatepayment.y": "z", "shop.gatepay.inbox": "q"})
    with serving(app) as url:
        assert paid(url) == (200, "success")

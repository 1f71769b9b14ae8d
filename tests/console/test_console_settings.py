"""The console and the metrics turned on by each integration's own settings (issue 17):
``console_path``, ``console_users``, ``console_secret``, ``metrics_path``."""

from __future__ import annotations

import re
import sys
from urllib.parse import urlencode

import pytest
from werkzeug.security import generate_password_hash
from werkzeug.test import Client

from gatepay_wsgi.config import ConfigError, middleware_options, read_users

from ..gateway import APPKEY, APPSECRET, notify_fields

PASSWORD = "correct horse battery staple"
HASH = generate_password_hash(PASSWORD, "pbkdf2:sha256:1000")
SECRET = "s3cret-" * 6
CALLS: list[int] = []


#: The notify handler the settings name: this module's own.
NOTIFY_SETTING = "/gatepay/notify tests.console.test_console_settings:declines_then_accepts"


def declines_then_accepts(notification):
    """A notify handler that fails an order's first delivery and accepts the replay."""
    CALLS.append(notification.order_id)
    return CALLS.count(notification.order_id) > 1


def _post_notify(client, order_id="100002"):
    return client.post(
        "/gatepay/notify",
        data=urlencode(notify_fields(order_id=order_id)),
        content_type="application/x-www-form-urlencoded",
    )


def _csrf(response) -> str:
    return re.search(r"name=csrf value='([^']+)'", response.get_data(as_text=True)).group(1)


def _replay_through_the_console(client, prefix="/gatepay/console", order_id="100002"):
    """Sign in, replay the failed notify; the notify page afterwards."""
    form = client.get(f"{prefix}/login")
    assert form.status_code == 200
    client.post(
        f"{prefix}/login", data={"csrf": _csrf(form), "user": "alice", "password": PASSWORD}
    )
    page = client.get(f"{prefix}/notifies/{order_id}")
    assert page.status_code == 200
    answer = client.post(
        f"{prefix}/notifies/{order_id}/replay", data={"csrf": _csrf(page), "appkey": APPKEY}
    )
    assert answer.status_code in (200, 303)
    return client.get(f"{prefix}/notifies/{order_id}").get_data(as_text=True)


@pytest.fixture(autouse=True)
def _fresh_calls():
    CALLS.clear()
    yield
    metrics = sys.modules.get("gatepay_wsgi.metrics")
    if metrics is not None:  # the process's metrics a setting turned on: let go
        for live in list(metrics.GatePayMetrics._live.values()):
            live.close()


def test_users_come_as_a_mapping_or_as_name_equals_hash_pairs():
    assert read_users({"alice": HASH}, "x") == {"alice": HASH}
    assert read_users(f"alice={HASH}, bob={HASH}", "x") == {"alice": HASH, "bob": HASH}
    with pytest.raises(ConfigError, match="x: write name=password-hash pairs"):
        read_users("alice", "x")


def test_the_console_needs_an_inbox_users_and_a_secret(tmp_path):
    base = {
        "gatepay.appkey": APPKEY,
        "gatepay.appsecret": APPSECRET,
        "gatepay.notify": NOTIFY_SETTING,
        "gatepay.console_path": "/gatepay/console",
    }
    with pytest.raises(ConfigError, match=r"gatepay.console_path: the console needs gatepay.inbox"):
        middleware_options(base, prefix="gatepay.")
    with_inbox = {**base, "gatepay.inbox": f"sqlite:///{tmp_path}/inbox.sqlite3"}
    with pytest.raises(ConfigError, match=r"gatepay.console_users: .*off"):
        middleware_options(with_inbox, prefix="gatepay.")
    with pytest.raises(ConfigError, match="write a path like"):
        middleware_options({**with_inbox, "gatepay.console_path": "console/"}, prefix="gatepay.")


def test_flask_settings_mount_the_console_and_a_late_decorator_is_its_handler(tmp_path):
    flask = pytest.importorskip("flask")
    from gatepay_wsgi.contrib.flask import GatePay

    app = flask.Flask("console_shop")
    app.config.update(
        GATEPAY_APPKEY=APPKEY,
        GATEPAY_APPSECRET=APPSECRET,
        GATEPAY_INBOX=f"sqlite:///{tmp_path}/inbox.sqlite3",
        GATEPAY_CONSOLE_PATH="/gatepay/console",
        GATEPAY_CONSOLE_USERS={"alice": HASH},
        GATEPAY_CONSOLE_SECRET=SECRET,
    )
    gatepay = GatePay(app)
    gatepay.notify("/gatepay/notify")(declines_then_accepts)  # after init_app
    client = app.test_client()
    assert _post_notify(client).status_code == 500
    assert "done" in _replay_through_the_console(client)
    assert CALLS == [100002, 100002]


def test_pyramid_settings_mount_the_console(tmp_path):
    pytest.importorskip("pyramid")
    from pyramid.config import Configurator

    with Configurator(
        settings={
            "gatepay.appkey": APPKEY,
            "gatepay.appsecret": APPSECRET,
            "gatepay.inbox": f"sqlite:///{tmp_path}/inbox.sqlite3",
            "gatepay.notify": NOTIFY_SETTING,
            "gatepay.console_path": "/admin/payments",
            "gatepay.console_users": f"alice={HASH}",
            "gatepay.console_secret": SECRET,
        }
    ) as config:
        config.include("gatepay_wsgi.contrib.pyramid")
        app = config.make_wsgi_app()
    client = Client(app)
    assert _post_notify(client).status_code == 500
    assert "done" in _replay_through_the_console(client, prefix="/admin/payments")


def test_bottle_settings_mount_the_console(tmp_path):
    bottle = pytest.importorskip("bottle")
    from gatepay_wsgi.contrib.bottle import GatePayPlugin

    app = bottle.Bottle()
    app.config.update(
        {
            "gatepay.appkey": APPKEY,
            "gatepay.appsecret": APPSECRET,
            "gatepay.inbox": f"sqlite:///{tmp_path}/inbox.sqlite3",
            "gatepay.notify": NOTIFY_SETTING,
            "gatepay.console_path": "/gatepay/console",
            "gatepay.console_users": f"alice={HASH}",
            "gatepay.console_secret": SECRET,
        }
    )
    app.install(GatePayPlugin())
    client = Client(app)
    assert _post_notify(client).status_code == 500
    assert "done" in _replay_through_the_console(client)


def test_paste_options_mount_the_console_and_the_metrics(tmp_path):
    pytest.importorskip("prometheus_client")
    from gatepay_wsgi.paste import filter_app_factory

    def site(environ, start_response):
        start_response("200 OK", [])
        return [b"site"]

    app = filter_app_factory(
        site,
        {},
        appkey=APPKEY,
        appsecret=APPSECRET,
        inbox=f"sqlite:///{tmp_path}/inbox.sqlite3",
        notify=NOTIFY_SETTING,
        console_path="/gatepay/console",
        console_users=f"alice={HASH}",
        console_secret=SECRET,
        metrics_path="/gatepay/metrics",
    )
    client = Client(app)
    assert _post_notify(client).status_code == 500
    assert "done" in _replay_through_the_console(client)
    metrics = client.get("/gatepay/metrics").get_data(as_text=True)
    assert 'gatepay_notifies_total{outcome="failed"}' in metrics
    assert "gatepay_inbox_failed 0.0" in metrics  # replayed: none failed any more
    assert client.get("/elsewhere").get_data() == b"site"


def test_a_bottle_app_mounted_in_another_keeps_its_console(tmp_path):
    bottle = pytest.importorskip("bottle")
    from gatepay_wsgi.contrib.bottle import GatePayPlugin

    child = bottle.Bottle()
    child.config.update(
        {
            "gatepay.appkey": APPKEY,
            "gatepay.appsecret": APPSECRET,
            "gatepay.inbox": f"sqlite:///{tmp_path}/inbox.sqlite3",
            "gatepay.notify": NOTIFY_SETTING,
            "gatepay.console_path": "/ops/console",
            "gatepay.console_users": f"alice={HASH}",
            "gatepay.console_secret": SECRET,
        }
    )
    child.install(GatePayPlugin())
    parent = bottle.Bottle()
    parent.mount("/shop/", child)
    client = Client(parent)
    answer = client.post(
        "/shop/gatepay/notify",
        data=urlencode(notify_fields(order_id="100002")),
        content_type="application/x-www-form-urlencoded",
    )
    assert answer.status_code == 500
    form = client.get("/shop/ops/console/login")
    assert form.status_code == 200
    assert "action='/shop/ops/console/login'" in form.get_data(as_text=True)
    assert "done" in _replay_through_the_console(client, prefix="/shop/ops/console")


def test_a_wrong_console_setting_is_named_before_the_inbox_file_is_made(tmp_path):
    settings = {
        "gatepay.appkey": APPKEY,
        "gatepay.appsecret": APPSECRET,
        "gatepay.inbox": f"sqlite:///{tmp_path}/inbox.sqlite3",
        "gatepay.notify": NOTIFY_SETTING,
        "gatepay.console_path": "/gatepay/console",
        "gatepay.console_users": "alice=not-a-hash",
        "gatepay.console_secret": SECRET,
    }
    with pytest.raises(ConfigError, match=r"gatepay\.console_users: console user 'alice'"):
        middleware_options(settings, prefix="gatepay.")
    assert list(tmp_path.iterdir()) == []  # as for every other setting written wrong

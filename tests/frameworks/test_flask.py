"""The Flask extension on the paths its users take, through waitress on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlencode

import pytest

flask = pytest.importorskip("flask")

from werkzeug.middleware.proxy_fix import ProxyFix  # noqa: E402
from werkzeug.test import Client  # noqa: E402

from gatepay_wsgi.contrib.flask import GatePay  # noqa: E402
from gatepay_wsgi.errors import ConfigError  # noqa: E402
from gatepay_wsgi.inbox import open_inbox  # noqa: E402

from ..gateway import (  # noqa: E402
    APPKEY,
    APPSECRET,
    RECORDED,
    Recorder,
    notify_fields,
    return_fields,
)
from ..servers import http, serving  # noqa: E402

FORM = "application/x-www-form-urlencoded"


def post_form(client, path="/gatepay/notify", **fields):
    fields = fields or notify_fields()
    return client.post(path, data=urlencode(fields), content_type=FORM)


EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def make_app(tmp_path: Path | None = None, **config) -> flask.Flask:
    app = flask.Flask(__name__)
    inbox = f"sqlite:///{tmp_path}/inbox.sqlite3" if tmp_path else "memory://"
    app.config.update(GATEPAY_APPKEY=APPKEY, GATEPAY_APPSECRET=APPSECRET, GATEPAY_INBOX=inbox)
    app.config.update(config)

    @app.get("/")
    def home():
        return "home"

    return app


def post_notify(base: str, path: str = "/gatepay/notify", **fields: str) -> tuple[int, str]:
    status, body, _ = http("POST", base + path, notify_fields(**fields))
    return status, body


def test_gatepay_app_first_then_decorators(tmp_path):
    app = make_app(tmp_path)
    gatepay = GatePay(app)  # the README's first form, before any handler exists
    paid = []

    @gatepay.notify("/gatepay/notify")
    def mark_paid(n):
        paid.append(n.order_id)

    with serving(app) as base:
        assert post_notify(base) == (200, "success")
    assert paid == [100001]


def test_a_decorator_added_after_init_app_is_not_dropped(tmp_path):
    app = make_app(tmp_path)
    gatepay = GatePay()

    @gatepay.notify("/gatepay/notify")
    def mark_paid(n):
        return True

    gatepay.init_app(app)
    pages = []

    @gatepay.return_page("/gatepay/return")  # registered after init_app
    def thanks(visit):
        pages.append(visit.out_order_id)
        return "thanks"

    with serving(app) as base:
        status, body, _ = http("GET", base + "/gatepay/return?" + urlencode(return_fields()))
    assert (status, body, pages) == (200, "thanks", ["SHOP-1"])


def test_one_extension_serves_two_apps_of_a_factory(tmp_path):
    gatepay = GatePay()
    calls = []
    gatepay.notify()(lambda n: calls.append(n.order_id))
    first, second = make_app(), make_app()
    gatepay.init_app(first)
    gatepay.init_app(second)
    with serving(first) as one, serving(second) as two:
        assert post_notify(one, order_id="1") == (200, "success")
        assert post_notify(two, order_id="2") == (200, "success")
    assert calls == [1, 2]


def test_an_app_without_any_notify_fails_loudly_not_with_a_404(caplog):
    app = make_app()
    GatePay(app)
    with serving(app) as base, caplog.at_level(logging.ERROR):
        status, _, _ = http("POST", base + "/gatepay/notify", notify_fields())
        assert status == 500
        assert "GatePay has no notify endpoint" in caplog.text
        assert http("GET", base + "/")[0] == 500  # the whole app says so, not only one path


def test_max_body_size_and_clock_skew_apply_to_decorated_notifies():
    app = make_app(GATEPAY_MAX_BODY_SIZE="300", GATEPAY_CLOCK_SKEW=5)
    gatepay = GatePay(app)
    gatepay.notify()(lambda n: True)
    gatepay.notify("/own", max_body_size=65536)(lambda n: True)  # its own value wins
    with serving(app) as base:
        padded = {**notify_fields(), "x": "y" * 400}
        assert http("POST", base + "/gatepay/notify", padded)[0] == 413
        later = str(int(time.time()) + 60)  # a minute ahead: beyond 5 s of skew
        assert post_notify(base, paytime=later)[0] == 400
        assert post_notify(base, "/own", paytime=str(int(time.time())))[0] == 200
    routes = app.extensions["gatepay"].routes
    assert (routes["/gatepay/notify"].max_body_size, routes["/own"].max_body_size) == (300, 65536)


def test_page_handlers_may_redirect_and_abort_the_flask_way():
    app = make_app()
    gatepay = GatePay(app)
    gatepay.notify()(lambda n: True)

    @gatepay.return_page("/gatepay/return")
    def thanks(visit):
        if visit.out_order_id == "SHOP-1":
            return flask.redirect(flask.url_for("home"))
        flask.abort(404)

    with serving(app) as base:
        status, _, location = http("GET", base + "/gatepay/return?" + urlencode(return_fields()))
        assert (status, location) == (302, "/")
        other = return_fields(out_order_id="NOPE")
        assert http("GET", base + "/gatepay/return?" + urlencode(other))[0] == 404


@pytest.mark.parametrize("order", ["proxyfix first", "init_app first"])
def test_proxyfix_in_either_order(order, tmp_path):
    app = make_app(tmp_path)
    links = []
    gatepay = GatePay()
    gatepay.notify()(lambda n: True)

    @gatepay.return_page("/gatepay/return")
    def thanks(visit):
        links.append((flask.url_for("home"), visit.script_name))
        return "ok"

    if order == "proxyfix first":
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_prefix=1)
        gatepay.init_app(app)
    else:
        gatepay.init_app(app)
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_prefix=1)
    headers = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Prefix": "/shop"}
    # waitress drops X-Forwarded-For unless told the proxy's headers reach the app as sent
    with serving(app, clear_untrusted_proxy_headers=False) as base:
        query = urlencode(return_fields())
        urllib.request.urlopen(
            urllib.request.Request(base + "/gatepay/return?" + query, headers=headers)
        ).close()
        body = urlencode(notify_fields()).encode()
        with urllib.request.urlopen(
            urllib.request.Request(base + "/gatepay/notify", data=body, headers=headers)
        ) as answer:
            assert answer.read() == b"success"
    assert links == [("/shop/", "/shop")]
    inbox = open_inbox(f"sqlite:///{tmp_path}/inbox.sqlite3")
    assert inbox.get(100001)[0].remote_addr == "203.0.113.9"


def test_another_middleware_already_around_the_app_is_named_in_a_warning(caplog):
    app = make_app(GATEPAY_NOTIFY="/n tests.gateway:record")
    inner = app.wsgi_app
    app.wsgi_app = lambda environ, start_response: inner(environ, start_response)
    with caplog.at_level(logging.WARNING):
        GatePay(app)
    assert "Call init_app before wrapping app.wsgi_app" in caplog.text


# -- flask gatepay ... against the example shop ------------------------------------------


def flask_cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "GATEPAY_APPKEY": APPKEY,
        "GATEPAY_APPSECRET": APPSECRET,
        "GATEPAY_INBOX": f"sqlite:///{tmp_path}/inbox.sqlite3",
        "SHOP_DATABASE": str(tmp_path / "shop.sqlite3"),
        "PYTHONPATH": str(EXAMPLES),
    }
    command = [sys.executable, "-m", "flask", "--app", str(EXAMPLES / "flask_shop.py"), *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)


def gatepay_wsgi(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "gatepay_wsgi.cli", "inbox", *args]
    command += ["--inbox", f"sqlite:///{tmp_path}/inbox.sqlite3"]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_flask_gatepay_list_show_stats_on_the_example_read_as_the_cli(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLES))
    import flask_shop

    try:
        app = flask_shop.create_app(
            GATEPAY_APPKEY=APPKEY,
            GATEPAY_APPSECRET=APPSECRET,
            GATEPAY_INBOX=f"sqlite:///{tmp_path}/inbox.sqlite3",
            SHOP_DATABASE=str(tmp_path / "shop.sqlite3"),
        )
        with serving(app) as base:
            assert post_notify(base, out_order_id="NO-SUCH-ORDER")[0] == 500  # kept, failed
    finally:
        for name in ("flask_shop", "shopkit"):
            sys.modules.pop(name, None)
    for args in (["list"], ["list", "--status", "failed"], ["show", "100001"], ["stats"]):
        ours, theirs = flask_cli(tmp_path, "gatepay", *args), gatepay_wsgi(tmp_path, *args)
        assert (ours.returncode, ours.stdout) == (theirs.returncode, theirs.stdout), ours.stderr
        assert ours.returncode == 0
    assert "NO-SUCH-ORDER" in flask_cli(tmp_path, "gatepay", "list").stdout
    listed = json.loads(flask_cli(tmp_path, "gatepay", "list", "--json").stdout)
    assert [r["status"] for r in listed] == ["failed"]
    for order_id in ("999", "99999999999999999999"):  # the second: more than SQLite holds
        missing = flask_cli(tmp_path, "gatepay", "show", order_id)
        assert missing.returncode == 2
        assert f"no notify for order_id {order_id}" in missing.stderr


def test_flask_extension_with_decorators_and_app_context():
    flask = pytest.importorskip("flask")
    from gatepay_wsgi.contrib.flask import GatePay

    app = flask.Flask(__name__)
    app.config.update(
        GATEPAY_APPKEY=APPKEY,
        GATEPAY_APPSECRET=APPSECRET,
        GATEPAY_INBOX="memory://",
        SHOP_NAME="test shop",
    )
    seen = []
    gatepay = GatePay()

    @gatepay.notify("/gatepay/notify")
    def mark_paid(n):
        seen.append((n.order_id, flask.current_app.config["SHOP_NAME"], flask.url_for("home")))

    @gatepay.return_page("/gatepay/return")
    def thanks(visit):
        return flask.render_template_string("<p>{{ n }}</p>", n=visit.out_order_id)

    @app.get("/")
    def home():
        return "home"

    gatepay.init_app(app)
    assert app.extensions["gatepay"].routes.keys() == {"/gatepay/notify", "/gatepay/return"}
    client = Client(app)
    assert post_form(client).get_data() == b"success"
    assert seen == [(100001, "test shop", "/")]
    assert client.get("/").get_data() == b"home"
    with pytest.raises(ConfigError, match="already registered"):
        gatepay.notify("/gatepay/notify")(mark_paid)


def test_flask_settings_and_errors_name_the_config_key(monkeypatch):
    flask = pytest.importorskip("flask")
    from gatepay_wsgi.contrib.flask import GatePay

    app = flask.Flask(__name__)
    app.config.update(GATEPAY_APPKEY=APPKEY, GATEPAY_NOTIFY="/n tests.gateway:record")
    with pytest.raises(ConfigError, match="GATEPAY_APPSECRET is missing"):
        GatePay(app)
    app.config.update(GATEPAY_APPSECRET=APPSECRET, GATEPAY_INBOX="memory://")
    GatePay(app)
    RECORDED.clear()
    assert post_form(Client(app), "/n").get_data() == b"success"
    assert len(RECORDED) == 1
    with pytest.raises(RuntimeError, match="already initialised"):
        GatePay(app)


def flask_app_with_inbox(tmp_path, handler):
    """A Flask app whose one notify handler is ``handler``, over a SQLite inbox."""
    flask = pytest.importorskip("flask")
    from gatepay_wsgi.contrib.flask import GatePay

    app = flask.Flask(__name__)
    app.config.update(
        GATEPAY_APPKEY=APPKEY,
        GATEPAY_APPSECRET=APPSECRET,
        GATEPAY_INBOX=f"sqlite:///{tmp_path}/inbox.sqlite3",
    )
    gatepay = GatePay()
    gatepay.notify()(lambda n: handler(n))
    gatepay.init_app(app)
    return app


def test_flask_replay_command(tmp_path):
    handler = Recorder(answer=False)
    app = flask_app_with_inbox(tmp_path, handler)
    assert post_form(Client(app)).get_data() == b"fail"
    handler.answer = None
    runner = app.test_cli_runner()
    result = runner.invoke(args=["gatepay", "replay", "--failed"])
    assert result.exit_code == 0, result.output
    assert "100001" in result.output
    assert "done" in result.output
    assert len(handler.calls) == 2
    # An order the inbox does not hold, and one no notify can have: nothing runs, exit 2.
    for order_id in ("999", "9223372036854775808"):
        missing = runner.invoke(args=["gatepay", "replay", order_id])
        assert missing.exit_code == 2, missing.output
        assert f"no notify for order_id {order_id}" in missing.output
    assert len(handler.calls) == 2


def test_flask_replay_prints_a_handlers_error_with_escapes(tmp_path):
    handler = Recorder(error=RuntimeError("\x1b[2Jno order \u202e00.01"))
    app = flask_app_with_inbox(tmp_path, handler)
    post_form(Client(app))
    result = app.test_cli_runner().invoke(args=["gatepay", "replay", "--failed"])
    assert result.exit_code == 1, result.output
    assert not {"\x1b", "\u202e"} & set(result.output)
    assert "\\x1b[2Jno order \\u202e00.01" in result.output


def test_flask_replay_takes_appkey_and_json_as_the_cli_does(tmp_path):
    app = flask_app_with_inbox(tmp_path, Recorder(answer=False))
    post_form(Client(app))
    runner = app.test_cli_runner()
    other = runner.invoke(args=["gatepay", "replay", "--failed", "--appkey", "other", "--json"])
    assert (other.exit_code, json.loads(other.stdout)) == (0, [])
    ours = runner.invoke(args=["gatepay", "replay", "--failed", "--appkey", APPKEY, "--json"])
    assert ours.exit_code == 1, ours.output  # the handler still declines
    assert [(r["order_id"], r["outcome"]) for r in json.loads(ours.stdout)] == [(100001, "failed")]

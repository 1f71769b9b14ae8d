"""Framework integrations in-process: configuration, context, errors that name the setting."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from werkzeug.test import Client

from gatepay_wsgi import Notify
from gatepay_wsgi.config import ConfigError, load_handler, middleware_options
from gatepay_wsgi.inbox import MemoryInbox
from gatepay_wsgi.inbox.startup import InboxNotWritable

from .gateway import APPKEY, APPSECRET, Recorder, notify_fields
from .servers import http, serving

FORM = "application/x-www-form-urlencoded"
RECORDED: list = []


def record(notification):
    """A handler for dotted-name settings (``tests.test_contrib:record``)."""
    RECORDED.append(notification)


def post(client, path="/gatepay/notify", **fields):
    fields = fields or notify_fields()
    return client.post(path, data=urlencode(fields), content_type=FORM)


# -- string settings ---------------------------------------------------------------------


def test_settings_build_the_middleware_options():
    options = middleware_options(
        {
            "gatepay.appkey": " k ",
            "gatepay.appsecret": "s",
            "gatepay.inbox": "memory://",
            "gatepay.notify": "/n tests.test_contrib:record",
            "gatepay.timeout": "/t tests.test_contrib.record",
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
        ({"appsecret": "s", "notify": "/n tests.test_contrib:record"}, "x.appkey is missing"),
        ({"appkey": "k", "notify": "/n tests.test_contrib:record"}, "x.appsecret is missing"),
        ({"appkey": "k", "appsecret": "s"}, "x.notify is missing"),
        (
            {"appkey": "k", "appsecret": "s", "notify": "tests.test_contrib:record"},
            "x.notify: write",
        ),
        (
            {"appkey": "k", "appsecret": "s", "notify": "/n nowhere_xyz:f"},
            "x.notify: cannot import",
        ),
        ({"appkey": "k", "appsecret": "s", "notify": "/n tests.test_contrib:nope"}, "x.notify: "),
        ({"appkey": "k", "appsecret": "s", "notify": "/n tests.test_contrib:FORM"}, "not callable"),
        (
            {
                "appkey": "k",
                "appsecret": "s",
                "notify": "/n tests.test_contrib:record",
                "max_body_size": "64k",
            },
            "x.max_body_size: '64k' is not a whole number",
        ),
    ],
)
def test_setting_errors_name_the_setting(settings, message):
    with pytest.raises(ConfigError, match=message.replace(".", r"\.")):
        middleware_options({f"x.{k}": v for k, v in settings.items()}, prefix="x.")


GOOD = {"x.appkey": "k", "x.appsecret": "s", "x.notify": "/n tests.test_contrib:record"}


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
    settings["GATEPAY_NOTIFY"] = "/n tests.test_contrib:record"
    options = middleware_options(settings, setting_name=lambda n: f"GATEPAY_{n.upper()}")
    assert list(options["paths"]) == ["/n"]


def test_load_handler_errors():
    with pytest.raises(ConfigError, match="--handler"):
        load_handler("json:nothing", "--handler")


# -- Flask -------------------------------------------------------------------------------


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
    assert post(client).get_data() == b"success"
    assert seen == [(100001, "test shop", "/")]
    assert client.get("/").get_data() == b"home"
    with pytest.raises(ValueError, match="already registered"):
        gatepay.notify("/gatepay/notify")(mark_paid)


def test_flask_settings_and_errors_name_the_config_key(monkeypatch):
    flask = pytest.importorskip("flask")
    from gatepay_wsgi.contrib.flask import GatePay

    app = flask.Flask(__name__)
    app.config.update(GATEPAY_APPKEY=APPKEY, GATEPAY_NOTIFY="/n tests.test_contrib:record")
    with pytest.raises(ConfigError, match="GATEPAY_APPSECRET is missing"):
        GatePay(app)
    app.config.update(GATEPAY_APPSECRET=APPSECRET, GATEPAY_INBOX="memory://")
    GatePay(app)
    RECORDED.clear()
    assert post(Client(app), "/n").get_data() == b"success"
    assert len(RECORDED) == 1
    with pytest.raises(RuntimeError, match="already initialised"):
        GatePay(app)


def test_flask_replay_command(tmp_path):
    flask = pytest.importorskip("flask")
    from gatepay_wsgi.contrib.flask import GatePay

    app = flask.Flask(__name__)
    app.config.update(
        GATEPAY_APPKEY=APPKEY,
        GATEPAY_APPSECRET=APPSECRET,
        GATEPAY_INBOX=f"sqlite:///{tmp_path}/inbox.sqlite3",
    )
    handler = Recorder(answer=False)
    gatepay = GatePay()
    gatepay.notify()(lambda n: handler(n))
    gatepay.init_app(app)
    assert post(Client(app)).get_data() == b"fail"
    handler.answer = None
    result = app.test_cli_runner().invoke(args=["gatepay", "replay", "--failed"])
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "100001\tdone"
    assert len(handler.calls) == 2


# -- PasteDeploy -------------------------------------------------------------------------

PIPELINE = (
    "[pipeline:main]\npipeline = gatepay site\n\n"
    "[app:site]\nuse = call:tests.test_contrib:site_factory\n\n"
    "[filter:gatepay]\nuse = egg:gatepay_wsgi\n"
)


def load_pipeline(tmp_path, filter_options: str, head: str = "", **global_conf: str):
    deploy = pytest.importorskip("paste.deploy")
    ini = tmp_path / "site.ini"
    ini.write_text(head + PIPELINE + filter_options)
    return deploy.loadapp(f"config:{ini}", global_conf=global_conf)


def test_paste_filter_from_an_ini_under_a_server(tmp_path):
    app = load_pipeline(
        tmp_path,
        "appkey = %(key)s\nappsecret = %(secret)s\ninbox = sqlite:///%(here)s/inbox.sqlite3\n"
        "notify = /gatepay/notify tests.test_contrib:record\nmax_body_size = 4096\n",
        key=APPKEY,
        secret=APPSECRET,
    )
    RECORDED.clear()
    with serving(app) as url:
        assert http("POST", url + "/gatepay/notify", notify_fields())[:2] == (200, "success")
        assert http("GET", url + "/")[1] == "legacy site"
    assert len(RECORDED) == 1
    assert app.routes["/gatepay/notify"].max_body_size == 4096
    assert app.inbox.path == str(tmp_path / "inbox.sqlite3")  # durable, as written


REQUIRED = f"appkey = {APPKEY}\nappsecret = {APPSECRET}\n"
NOTIFY = "notify = /gatepay/notify tests.test_contrib:record\n"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            REQUIRED + "notify = /gatepay/notify tests.test_contrib:missing_handler\n",
            r"notify: tests\.test_contrib has no .missing_handler.",
        ),
        (REQUIRED + NOTIFY + "inbx = sqlite:///x.sqlite3\n", r"unknown setting inbx \(known: "),
        (REQUIRED + NOTIFY + "inbox = sqlite:/x.sqlite3\n", r"inbox: 'sqlite:/x\.sqlite3' is not"),
        (REQUIRED + NOTIFY + "inbox = mysql://db/x\n", r"inbox: .*unsupported scheme 'mysql'"),
        (REQUIRED + "notify = /gatepay/notify .payments:f\n", r"notify: '\.payments:f' is rel"),
    ],
)
def test_paste_filter_errors_name_the_option(tmp_path, options, message):
    with pytest.raises(ConfigError, match=message):
        load_pipeline(tmp_path, options)


def test_paste_filter_refuses_a_setting_a_global_shadows(tmp_path):
    # PasteDeploy drops the filter's "inbox" line when a global has that name: the
    # filter would have run on a memory inbox, its notifies not durable.
    options = REQUIRED + NOTIFY + "inbox = sqlite:///%(here)s/inbox.sqlite3\n"
    with pytest.raises(ConfigError, match=r"inbox: a global has this name.*get inbox = inbox"):
        load_pipeline(tmp_path, options, inbox="memory://")
    with pytest.raises(ConfigError, match=r"^inbox: a global"):
        load_pipeline(tmp_path, options, head="[DEFAULT]\ninbox = memory://\n\n")
    # taking the global on purpose, and globals named apart, are fine
    app = load_pipeline(tmp_path, REQUIRED + NOTIFY + "get inbox = inbox\n", inbox="memory://")
    assert type(app.inbox).__name__ == "MemoryInbox"
    app = load_pipeline(
        tmp_path,
        REQUIRED + NOTIFY + "inbox = %(gatepay_inbox)s\n",
        gatepay_inbox=f"sqlite:///{tmp_path}/named.sqlite3",
        unrelated="x",
    )
    assert app.inbox.path == str(tmp_path / "named.sqlite3")


def site_factory(global_config, **settings):
    def site(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"legacy site"]

    return site

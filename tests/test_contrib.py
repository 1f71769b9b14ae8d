"""Framework integrations in-process: configuration, context, errors that name the setting."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from werkzeug.test import Client

from gatepay_wsgi import Notify
from gatepay_wsgi.config import ConfigError, load_handler, middleware_options
from gatepay_wsgi.inbox import MemoryInbox

from .gateway import APPKEY, APPSECRET, Recorder, notify_fields

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


# -- Pyramid -----------------------------------------------------------------------------


def test_pyramid_include_reads_settings_and_handlers_reach_the_registry():
    pytest.importorskip("pyramid")
    from pyramid.config import Configurator
    from pyramid.response import Response
    from pyramid.threadlocal import get_current_registry

    seen = []

    def handler(n):
        seen.append(get_current_registry().settings["shop.name"])

    settings = {
        "shop.name": "pyramid test",
        "gatepay.appkey": APPKEY,
        "gatepay.appsecret": APPSECRET,
        "gatepay.inbox": "memory://",
        "gatepay.notify": "/gatepay/notify tests.test_contrib:record",
    }
    with Configurator(settings=settings) as config:
        config.include("gatepay_wsgi.contrib.pyramid")
        config.add_route("home", "/")
        config.add_view(lambda request: Response("home"), route_name="home")
        app = config.make_wsgi_app()
    app.registry["gatepay"].routes["/gatepay/notify"].handler = handler
    client = Client(app)
    assert post(client).get_data() == b"success"
    assert seen == ["pyramid test"]
    assert client.get("/").get_data() == b"home"


def test_pyramid_missing_secret_names_the_setting():
    pytest.importorskip("pyramid")
    from pyramid.config import Configurator

    config = Configurator(settings={"gatepay.appkey": "k"})
    with pytest.raises(ConfigError, match=r"gatepay\.appsecret is missing"):
        config.include("gatepay_wsgi.contrib.pyramid")


# -- Bottle ------------------------------------------------------------------------------


def test_bottle_plugin_from_app_config_and_uninstall():
    bottle = pytest.importorskip("bottle")
    from gatepay_wsgi.contrib.bottle import GatePayPlugin

    app = bottle.Bottle()
    app.route("/", callback=lambda: "home")
    app.config.update(
        {
            "gatepay.appkey": APPKEY,
            "gatepay.appsecret": APPSECRET,
            "gatepay.inbox": "memory://",
            "gatepay.notify": "/gatepay/notify tests.test_contrib:record",
        }
    )
    plugin = GatePayPlugin()
    app.install(plugin)
    client = Client(app)
    RECORDED.clear()
    assert post(client).get_data() == b"success"
    assert client.get("/").get_data() == b"home"
    app.uninstall(plugin)
    assert post(Client(app)).status_code == 404  # Bottle's own router again
    assert len(RECORDED) == 1


def test_bottle_missing_secret_names_the_setting():
    bottle = pytest.importorskip("bottle")
    from gatepay_wsgi.contrib.bottle import GatePayPlugin

    app = bottle.Bottle()
    app.config["gatepay.appkey"] = "k"
    with pytest.raises(ConfigError, match=r"gatepay\.appsecret"):
        app.install(GatePayPlugin())


# -- PasteDeploy -------------------------------------------------------------------------


def test_paste_filter_from_an_ini(tmp_path):
    deploy = pytest.importorskip("paste.deploy")
    ini = tmp_path / "site.ini"
    ini.write_text(
        "[pipeline:main]\npipeline = gatepay site\n\n"
        "[filter:gatepay]\nuse = egg:gatepay_wsgi\n"
        f"appkey = {APPKEY}\nappsecret = {APPSECRET}\ninbox = memory://\n"
        "notify = /gatepay/notify tests.test_contrib:record\nmax_body_size = 4096\n\n"
        "[app:site]\nuse = call:tests.test_contrib:site_factory\n"
    )
    app = deploy.loadapp(f"config:{ini}")
    RECORDED.clear()
    client = Client(app)
    assert post(client).get_data() == b"success"
    assert client.get("/").get_data() == b"legacy site"
    assert app.routes["/gatepay/notify"].max_body_size == 4096


def test_paste_filter_errors_name_the_option(tmp_path):
    deploy = pytest.importorskip("paste.deploy")
    ini = tmp_path / "site.ini"
    ini.write_text(
        "[pipeline:main]\npipeline = gatepay site\n\n"
        "[filter:gatepay]\nuse = egg:gatepay_wsgi\nappkey = k\nappsecret = s\n"
        "notify = /gatepay/notify tests.test_contrib:missing_handler\n\n"
        "[app:site]\nuse = call:tests.test_contrib:site_factory\n"
    )
    with pytest.raises(ConfigError, match=r"notify: tests\.test_contrib has no .missing_handler."):
        deploy.loadapp(f"config:{ini}")


def site_factory(global_config, **settings):
    def site(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"legacy site"]

    return site

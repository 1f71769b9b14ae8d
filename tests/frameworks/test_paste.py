"""paste.py: the PasteDeploy filter, from an .ini under a real server; wrong options named."""

from __future__ import annotations

import pytest

from gatepay_wsgi.config import ConfigError

from ..gateway import APPKEY, APPSECRET, RECORDED, notify_fields
from ..servers import http, serving

PIPELINE = (
    "[pipeline:main]\npipeline = gatepay site\n\n"
    "[app:site]\nuse = call:tests.frameworks.test_paste:site_factory\n\n"
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
        "notify = /gatepay/notify tests.gateway:record\nmax_body_size = 4096\n",
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


NOTIFY = "notify = /gatepay/notify tests.gateway:record\n"


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            REQUIRED + "notify = /gatepay/notify tests.gateway:missing_handler\n",
            r"notify: tests\.gateway has no .missing_handler.",
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

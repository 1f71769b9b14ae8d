"""Routing, configuration checks and pass-through fidelity of GatePayMiddleware."""

from __future__ import annotations

import io
import sys
import urllib.request
from urllib.parse import urlencode

import pytest
from werkzeug.middleware.dispatcher import DispatcherMiddleware
from werkzeug.test import Client, EnvironBuilder

from gatepay_wsgi import GatePayMiddleware, Notify, Return, Timeout
from gatepay_wsgi.errors import ConfigError
from gatepay_wsgi.middleware import RoutingTable

from ..gateway import APPKEY, APPSECRET, Recorder, notify_fields, shop

PATH = "/gatepay/notify"


def bare(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"bare"]


def middleware(app=bare, **kwargs):
    kwargs.setdefault("paths", {PATH: Notify(Recorder())})
    return GatePayMiddleware(app, appkey=APPKEY, appsecret=APPSECRET, **kwargs)


class ClosingBody:
    """A body iterator that records whether the server closed it."""

    def __init__(self) -> None:
        self.closed = False

    def __iter__(self):
        yield b"part1"
        yield b"part2"

    def close(self) -> None:
        self.closed = True


def test_pass_through_returns_the_apps_own_iterator_and_status():
    body = ClosingBody()
    seen = {}

    def app(environ, start_response):
        start_response("201 Created", [("X-Shop", "yes"), ("Set-Cookie", "a=b")])
        return body

    def start_response(status, headers, exc_info=None):
        seen["status"], seen["headers"], seen["exc_info"] = status, headers, exc_info

    environ = EnvironBuilder(path="/orders").get_environ()
    result = middleware(app)(environ, start_response)
    assert result is body
    assert seen == {
        "status": "201 Created",
        "headers": [("X-Shop", "yes"), ("Set-Cookie", "a=b")],
        "exc_info": None,
    }
    list(result)
    result.close()
    assert body.closed


def test_pass_through_close_is_called_by_a_real_client():
    body = ClosingBody()

    def app(environ, start_response):
        start_response("200 OK", [])
        return body

    response = Client(middleware(app)).get("/anything")
    assert response.get_data() == b"part1part2"
    response.close()
    assert body.closed


def test_pass_through_forwards_exc_info():
    seen = {}

    def app(environ, start_response):
        try:
            raise ValueError("boom")
        except ValueError:
            start_response("500 Internal Server Error", [], sys.exc_info())
        return [b"err"]

    def start_response(status, headers, exc_info=None):
        seen["exc_info"] = exc_info

    middleware(app)(EnvironBuilder(path="/x").get_environ(), start_response)
    assert seen["exc_info"][0] is ValueError


def test_pass_through_never_reads_the_body():
    stream = io.BytesIO(b"secret=1")

    def app(environ, start_response):
        assert environ["wsgi.input"] is stream
        assert environ["wsgi.input"].tell() == 0
        start_response("200 OK", [])
        return [b"ok"]

    environ = EnvironBuilder(path="/upload", method="POST").get_environ()
    environ["wsgi.input"] = stream
    environ["CONTENT_LENGTH"] = "8"
    assert middleware(app)(environ, lambda s, h, e=None: None) == [b"ok"]
    assert stream.tell() == 0


def test_pass_through_exceptions_propagate():
    def app(environ, start_response):
        raise RuntimeError("the shop's own bug")

    with pytest.raises(RuntimeError, match="own bug"):
        Client(middleware(app)).get("/")


@pytest.mark.parametrize("path", ["/gatepay/notify/", "/GATEPAY/notify", "/gatepay", "/"])
def test_similar_paths_pass_through(path):
    response = Client(middleware()).post(path, data="x=1")
    assert response.get_data() == b"bare"


def test_works_under_a_script_name_mount():
    handler = Recorder()
    inner = middleware(paths={PATH: Notify(handler)})
    mounted = DispatcherMiddleware(bare, {"/shop": inner})
    client = Client(mounted)
    response = client.post(
        "/shop" + PATH,
        data=urlencode(notify_fields()),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.get_data() == b"success"
    assert len(handler.calls) == 1
    assert client.get("/shop/other").get_data() == b"bare"


def test_several_merchants_through_per_endpoint_credentials():
    first, second = Recorder(), Recorder()
    app = GatePayMiddleware(
        bare,
        appkey=APPKEY,
        appsecret=APPSECRET,
        paths={
            "/a/notify": Notify(first),
            "/b/notify": Notify(second, appkey="k2", appsecret="s2"),
        },
    )
    client = Client(app)

    def send(path, fields):
        return client.post(
            path, data=urlencode(fields), content_type="application/x-www-form-urlencoded"
        ).get_data()

    assert send("/a/notify", notify_fields()) == b"success"
    assert send("/b/notify", notify_fields(appkey="k2", secret="s2")) == b"success"
    assert send("/b/notify", notify_fields()) == b"fail"
    assert send("/a/notify", notify_fields(appkey="k2", secret="s2")) == b"fail"
    assert [n.appkey for n in first.calls + second.calls] == [APPKEY, "k2"]


def test_endpoint_credentials_alone_are_enough():
    app = GatePayMiddleware(bare, paths={PATH: Notify(Recorder(), appkey="k", appsecret="s")})
    response = Client(app).post(
        PATH,
        data=urlencode(notify_fields(appkey="k", secret="s")),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.get_data() == b"success"


def test_the_same_endpoint_object_can_serve_two_middlewares():
    endpoint = Notify(Recorder())
    one = GatePayMiddleware(bare, appkey="k1", appsecret="s1", paths={PATH: endpoint})
    two = GatePayMiddleware(bare, appkey="k2", appsecret="s2", paths={PATH: endpoint})
    body = urlencode(notify_fields(appkey="k2", secret="s2"))
    ctype = "application/x-www-form-urlencoded"
    assert Client(two).post(PATH, data=body, content_type=ctype).get_data() == b"success"
    assert Client(one).post(PATH, data=body, content_type=ctype).get_data() == b"fail"


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"appkey": ""}, ConfigError, "appkey"),
        ({"appsecret": ""}, ConfigError, "appsecret"),
        ({"appsecret": "   "}, ConfigError, "appsecret"),
        ({"appkey": None}, ConfigError, "needs an appkey"),
        ({"appsecret": None}, ConfigError, "needs an appkey and an appsecret"),
        ({"paths": {}}, ConfigError, "non-empty"),
        ({"paths": {"gatepay/notify": Notify(print)}}, ConfigError, "start"),
        ({"paths": {PATH: print}}, TypeError, "Notify"),
        ({"paths": [(PATH, Notify(print))]}, ConfigError, "dict"),
    ],
)
def test_configuration_errors_are_clear(kwargs, error, message):
    options = {"appkey": APPKEY, "appsecret": APPSECRET, "paths": {PATH: Notify(print)}, **kwargs}
    with pytest.raises(error, match=message):
        GatePayMiddleware(bare, **options)


def test_app_must_be_callable():
    with pytest.raises(TypeError, match="WSGI application"):
        GatePayMiddleware(None, appkey="k", appsecret="s", paths={PATH: Notify(print)})


def test_timeout_alone_needs_no_credentials():
    app = GatePayMiddleware(bare, paths={"/t": Timeout(lambda visit: "closed")})
    assert Client(app).get("/t").get_data() == b"closed"


@pytest.mark.parametrize("endpoint", [Notify, Return, Timeout])
def test_handlers_must_be_callable(endpoint):
    with pytest.raises(TypeError, match="callable"):
        endpoint("not callable")


def test_empty_endpoint_secret_is_refused_not_replaced():
    with pytest.raises(ConfigError, match="appsecret"):
        Notify(print, appsecret="")


@pytest.mark.parametrize("kwargs", [{"max_body_size": 0}, {"clock_skew": -1}])
def test_notify_options_are_checked(kwargs):
    with pytest.raises(ConfigError, match="max_body_size must be positive"):
        Notify(print, **kwargs)


def test_a_non_ascii_path_is_matched_as_the_server_passes_it():
    handler = Recorder()
    app = GatePayMiddleware(
        bare,
        appkey=APPKEY,
        appsecret=APPSECRET,
        paths={"/支付/notify": Notify(handler)},
        inbox="memory://",
    )
    response = Client(app).post(
        "/%E6%94%AF%E4%BB%98/notify",
        data=urlencode(notify_fields()),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.get_data() == b"success"
    assert len(handler.calls) == 1


def test_the_middleware_is_a_class_that_says_how_it_was_set_up():
    recorder = Recorder()

    def site(environ, start_response):
        start_response("200 OK", [])
        return [b"site"]

    middleware = GatePayMiddleware(
        site, appkey=APPKEY, appsecret=APPSECRET, paths={"/gatepay/notify": Notify(recorder)}
    )
    assert isinstance(middleware, GatePayMiddleware)
    assert middleware.app is site
    assert list(middleware.routes) == ["/gatepay/notify"]
    assert middleware.inbox is middleware.routes["/gatepay/notify"].inbox
    middleware.add("/gatepay/return", Return(lambda visit: "thanks"))
    assert Client(middleware).get("/gatepay/return").status_code == 400  # routed: unsigned
    with pytest.raises(ConfigError, match="already registered"):
        middleware.add("/gatepay/return", Return(lambda visit: "again"))


def test_a_routing_table_alone_routes_for_an_integration():
    recorder = Recorder()
    table = RoutingTable(
        paths={"/gatepay/notify": Notify(recorder)}, appkey=APPKEY, appsecret=APPSECRET
    )
    endpoint = table.get("/gatepay/notify")
    assert isinstance(endpoint, Notify)
    assert endpoint.inbox is table.inbox
    assert table.get("/elsewhere") is None
    answer = Client(endpoint).post("/gatepay/notify", data=notify_fields())
    assert answer.get_data() == b"success"
    assert [n.order_id for n in recorder.calls] == [100001]


TRUSTED = {"trusted_proxy": "127.0.0.1", "trusted_proxy_headers": "x-forwarded-for"}


@pytest.mark.parametrize(
    ("behind_proxy_fix", "waitress_options", "recorded"),
    [
        (True, {}, "127.0.0.1"),  # waitress drops the header it was not told to trust
        (True, {"clear_untrusted_proxy_headers": False}, "203.0.113.9"),
        (
            False,
            {"trusted_proxy": "127.0.0.1", "trusted_proxy_headers": "x-forwarded-for"},
            "203.0.113.9",
        ),
    ],
)
def test_the_forwarded_address_reaches_the_inbox_as_the_readme_says(
    behind_proxy_fix, waitress_options, recorded
):
    from werkzeug.middleware.proxy_fix import ProxyFix

    from ..servers import serving

    app = middleware(inbox="memory://")
    served = ProxyFix(app, x_for=1) if behind_proxy_fix else app
    with serving(served, **waitress_options) as base:
        request = urllib.request.Request(
            base + PATH,
            data=urlencode(notify_fields()).encode(),
            headers={"X-Forwarded-For": "203.0.113.9"},
        )
        assert urllib.request.urlopen(request).read() == b"success"
    assert app.inbox.get(100001)[0].remote_addr == recorded


def test_mounted_apps_answer_under_their_prefix_and_nothing_else_changes():
    seen = []

    def console(environ, start_response):
        seen.append((environ["SCRIPT_NAME"], environ["PATH_INFO"]))
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"console"]

    app = GatePayMiddleware(
        shop,
        appkey=APPKEY,
        appsecret=APPSECRET,
        paths={"/n": Notify(Recorder())},
        mounts={"/gatepay/console": console},
    )
    client = Client(app)
    assert client.get("/gatepay/console").get_data() == b"console"
    assert client.get("/gatepay/console/orders/7").get_data() == b"console"
    assert client.get("/gatepay/consoles").get_data() == b"shop"  # not under the prefix
    assert client.get("/other").get_data() == b"shop"
    assert seen == [("/gatepay/console", ""), ("/gatepay/console", "/orders/7")]
    mounted = Client(app).get("/gatepay/console/x", environ_overrides={"SCRIPT_NAME": "/site"})
    assert mounted.get_data() == b"console"
    assert seen[-1] == ("/site/gatepay/console", "/x")
    with pytest.raises(ConfigError, match="a path like"):
        GatePayMiddleware(
            shop,
            appkey=APPKEY,
            appsecret=APPSECRET,
            paths={"/n": Notify(Recorder())},
            mounts={"console/": console},
        )


@pytest.mark.parametrize(
    "environ",
    [
        {"PATH_INFO": "*", "SCRIPT_NAME": ""},  # OPTIONS *, as a server may pass it
        {"PATH_INFO": "shop"},  # no leading slash, no SCRIPT_NAME
        {},  # no PATH_INFO at all
        {"PATH_INFO": "/gatepay/consoles", "SCRIPT_NAME": "/site"},
        {"PATH_INFO": "/gatepay", "SCRIPT_NAME": ""},
    ],
)
def test_with_mounts_every_other_request_reaches_the_app_as_the_server_gave_it(environ):
    """One reason the mounts are not werkzeug's DispatcherMiddleware: it sets SCRIPT_NAME
    and PATH_INFO on every request it passes on, moving ``*`` or ``shop`` into SCRIPT_NAME
    (and the Pyramid tween needs the mounted app back, not called)."""
    given = {**EnvironBuilder().get_environ(), **environ}
    for key in ("PATH_INFO", "SCRIPT_NAME"):
        if key not in environ:
            given.pop(key)
    received = []

    def app(env, start_response):
        received.append(dict(env))
        start_response("200 OK", [])
        return [b"app"]

    def console(env, start_response):
        raise AssertionError("not under the console's prefix")

    wrapped = middleware(app, mounts={"/gatepay/console": console})
    sent = dict(given)
    assert b"".join(wrapped(sent, lambda *a: None)) == b"app"
    assert received == [given]


def test_the_longest_mount_prefix_wins_whatever_the_order_they_were_given_in():
    """As werkzeug's DispatcherMiddleware: ``/gatepay/console`` under ``/gatepay``."""

    def answering(name):
        def app(environ, start_response):
            start_response("200 OK", [("Content-Type", "text/plain")])
            return [f"{name} {environ['SCRIPT_NAME']} {environ['PATH_INFO']}".encode()]

        return app

    for mounts in (
        {"/gatepay": answering("outer"), "/gatepay/console": answering("console")},
        {"/gatepay/console": answering("console"), "/gatepay": answering("outer")},
    ):
        app = GatePayMiddleware(
            _shop,
            appkey=APPKEY,
            appsecret=APPSECRET,
            paths={"/n": Notify(Recorder())},
            inbox="memory://",
            mounts=mounts,
        )
        client = Client(app)
        assert client.get("/gatepay/console/notifies").get_data() == (
            b"console /gatepay/console /notifies"
        )
        assert client.get("/gatepay/other").get_data() == b"outer /gatepay /other"


def test_a_prefix_mounted_twice_is_refused():
    app = GatePayMiddleware(
        _shop,
        appkey=APPKEY,
        appsecret=APPSECRET,
        paths={"/n": Notify(Recorder())},
        mounts={"/gatepay/console": _shop},
    )
    with pytest.raises(ConfigError, match="already mounted"):
        app.table.mount("/gatepay/console", _shop)


def _shop(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"shop"]

"""The Bottle plugin under waitress: Bottle-native page answers, mounts, settings."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from gatepay_wsgi import Notify, Return, Timeout
from gatepay_wsgi.config import ConfigError

from ..gateway import APPKEY, APPSECRET, Recorder, notify_fields, return_fields
from ..servers import http, serving

bottle = pytest.importorskip("bottle")
from gatepay_wsgi.contrib.bottle import GatePayPlugin  # noqa: E402

RECORDED: list = []


def record(notification):
    """A handler for dotted-name settings (``tests.frameworks.test_bottle:record``)."""
    RECORDED.append(notification)


def shop(pages=None, handler=None) -> bottle.Bottle:
    """A Bottle app with its own routes and the plugin in code."""
    app = bottle.Bottle()
    app.route("/", callback=lambda: "home")
    app.route("/orders/<out_order_id>", callback=lambda out_order_id: f"order {out_order_id}")
    paths = {"/gatepay/notify": Notify(handler or Recorder())}
    paths.update(pages or {})
    app.install(GatePayPlugin(appkey=APPKEY, appsecret=APPSECRET, inbox="memory://", paths=paths))
    return app


def notify(url: str, path: str = "/gatepay/notify", **fields: str) -> tuple[int, str]:
    status, body, _ = http("POST", url + path, fields or notify_fields())
    return status, body


def visit(url: str, path: str = "/gatepay/return") -> tuple[int, str, str | None]:
    return http("GET", f"{url}{path}?{urlencode(return_fields())}")


# -- page handlers answer as Bottle views do ---------------------------------------------


def redirects(v):
    bottle.redirect(v.url(f"/orders/{v.out_order_id}"))


def aborts(v):
    bottle.abort(404, "no such order")


def answers_http_response(v):
    return bottle.HTTPResponse(f"made {v.out_order_id}", status=202, headers={"X-Shop": "1"})


def raises_http_response(v):
    raise bottle.HTTPResponse("raised", status=409)


def sets_a_cookie_and_returns_html(v):
    bottle.response.set_cookie("seen", v.out_order_id)
    return f"<p>thanks {v.out_order_id}</p>"


@pytest.mark.parametrize(
    ("handler", "status", "body", "location"),
    [
        (redirects, 303, "", "/orders/SHOP-1"),
        (aborts, 404, "no such order", None),
        (answers_http_response, 202, "made SHOP-1", None),
        (raises_http_response, 409, "raised", None),
        (sets_a_cookie_and_returns_html, 200, "<p>thanks SHOP-1</p>", None),
    ],
)
def test_page_handlers_answer_as_bottle_views_do(handler, status, body, location):
    app = shop({"/gatepay/return": Return(handler)})
    app.error(404, callback=lambda error: f"shop 404: {error.body}")
    with serving(app) as url:
        got_status, got_body, got_location = visit(url)
    assert got_status == status
    if status == 404:
        assert got_body == "shop 404: no such order"  # the app's own error page
    else:
        assert got_body == body
    if location is not None:
        assert got_location == url + location


def test_a_page_handler_sets_cookies_on_bottle_response():
    app = shop({"/gatepay/return": Return(sets_a_cookie_and_returns_html)})
    with serving(app) as url:
        import urllib.request

        with urllib.request.urlopen(f"{url}/gatepay/return?{urlencode(return_fields())}") as r:
            assert r.headers["Set-Cookie"].startswith("seen=SHOP-1")
            assert r.headers["Cache-Control"] == "no-store"
            assert r.headers["Content-Type"] == "text/html; charset=utf-8"


def test_a_failing_page_handler_and_a_forged_visit_keep_their_pages():
    app = shop({"/gatepay/return": Return(lambda v: 1 / 0), "/gatepay/timeout": Timeout(str)})
    with serving(app) as url:
        assert visit(url)[0] == 500
        status, body, _ = http("GET", f"{url}/gatepay/return?price=1.00")
        assert status == 400
        assert "Payment link not valid" in body
        assert http("POST", f"{url}/gatepay/return", {})[0] == 405
        assert http("GET", f"{url}/gatepay/timeout?out_order_id=A1")[0] == 200


@bottle.view("<p>{{out_order_id}} is {{state}}</p>")
def renders_a_template(v):
    return {"out_order_id": v.out_order_id, "state": "pending"}


def test_a_page_handler_renders_bottle_templates():
    app = shop(
        {
            "/gatepay/return": Return(renders_a_template),
            "/gatepay/timeout": Timeout(lambda v: bottle.template("<i>{{x}}</i>", x="<b>")),
        }
    )
    with serving(app) as url:
        assert visit(url)[:2] == (200, "<p>SHOP-1 is pending</p>")
        assert http("GET", f"{url}/gatepay/timeout")[:2] == (200, "<i>&lt;b&gt;</i>")


# -- notifies through Bottle ---------------------------------------------------------------


def test_a_notify_is_answered_exactly_and_other_routes_work():
    handler = Recorder()
    app = shop(handler=handler)
    with serving(app) as url:
        assert notify(url) == (200, "success")
        assert notify(url) == (200, "success")  # a retry: handled once
        assert notify(url, **{**notify_fields(), "sign": "0" * 32}) == (403, "fail")
        assert http("PUT", f"{url}/gatepay/notify")[0] == 405
        assert http("GET", f"{url}/")[1] == "home"
    assert [n.order_id for n in handler.calls] == [100001]


def test_a_catch_all_route_does_not_shadow_the_callbacks():
    app = bottle.Bottle()
    app.route("/<anything:path>", method=["GET", "POST"], callback=lambda anything: "catch-all")
    handler = Recorder()
    app.install(
        GatePayPlugin(
            appkey=APPKEY,
            appsecret=APPSECRET,
            inbox="memory://",
            paths={"/gatepay/notify": Notify(handler), "/gatepay/return": Return(str)},
        )
    )
    with serving(app) as url:
        assert notify(url) == (200, "success")
        assert visit(url)[0] == 200
        assert http("GET", f"{url}/other")[1] == "catch-all"
    assert len(handler.calls) == 1


def test_other_plugins_do_not_touch_the_callbacks():
    seen = []

    def plugin(callback):
        def wrapper(*args, **kwargs):
            seen.append(bottle.request.path)
            return callback(*args, **kwargs)

        return wrapper

    app = shop()
    app.install(plugin)
    with serving(app) as url:
        assert notify(url) == (200, "success")
        assert http("GET", f"{url}/")[1] == "home"
    assert seen == ["/"]


# -- mounted and merged ---------------------------------------------------------------------


def page_with_links(v):
    return f"{v.script_name}|{v.url('/orders/1')}|{bottle.request.script_name}"


@pytest.mark.parametrize("prefix", ["/shop/", "/a/shop/"])
def test_a_child_app_mounted_in_a_parent_keeps_its_callbacks(prefix):
    handler = Recorder()
    child = shop({"/gatepay/return": Return(page_with_links)}, handler=handler)
    parent = bottle.Bottle()
    parent.route("/", callback=lambda: "parent")
    if prefix == "/a/shop/":  # nested: the child in a middle app, the middle in the parent
        middle = bottle.Bottle()
        middle.mount("/shop/", child)
        parent.mount("/a/", middle)
    else:
        parent.mount(prefix, child)
    with serving(parent) as url:
        assert notify(url, prefix + "gatepay/notify") == (200, "success")
        status, body, _ = visit(url, prefix + "gatepay/return")
        assert http("GET", f"{url}{prefix}orders/1")[1] == "order 1"
        assert notify(url)[0] == 404  # not at the parent's root
    assert len(handler.calls) == 1
    assert status == 200
    mount = prefix.rstrip("/")
    assert body == f"{mount}|{mount}/orders/1|{prefix}"


def test_the_mount_prefix_adds_to_a_wsgi_script_name():
    child = shop({"/gatepay/return": Return(page_with_links)})
    parent = bottle.Bottle()
    parent.mount("/shop/", child)

    def legacy(environ, start_response):  # a proxy that mounts the site under /legacy
        environ["SCRIPT_NAME"] = "/legacy"
        environ["PATH_INFO"] = environ["PATH_INFO"].removeprefix("/legacy")
        return parent(environ, start_response)

    with serving(legacy) as url:
        status, body, _ = visit(url, "/legacy/shop/gatepay/return")
        after = http("GET", f"{url}/legacy/shop/orders/2")
    assert (status, body) == (200, "/legacy/shop|/legacy/shop/orders/1|/legacy/shop/")
    assert after[1] == "order 2"


def test_merged_routes_carry_the_callbacks():
    handler = Recorder()
    child = shop(handler=handler)
    parent = bottle.Bottle()
    parent.merge(child)
    with serving(parent) as url:
        assert notify(url) == (200, "success")
    assert len(handler.calls) == 1


def test_a_wsgi_mount_of_the_child_keeps_working():
    child = shop({"/gatepay/return": Return(page_with_links)})
    parent = bottle.Bottle()
    with pytest.warns(DeprecationWarning, match="Falling back to WSGI mount"):
        parent.mount("/shop", child)  # no trailing slash: Bottle mounts it as a WSGI app
    with serving(parent) as url:
        assert notify(url, "/shop/gatepay/notify") == (200, "success")
        assert visit(url, "/shop/gatepay/return")[1] == "/shop|/shop/orders/1|/shop/"


# -- install and uninstall ------------------------------------------------------------------


def test_uninstall_removes_the_callbacks_and_keeps_the_apps_routes():
    app = bottle.Bottle()
    app.route("/", callback=lambda: "home")
    app.route("/after/<n:int>", callback=lambda n: f"after {n}")
    plugin = app.install(
        GatePayPlugin(
            appkey=APPKEY,
            appsecret=APPSECRET,
            inbox="memory://",
            paths={"/gatepay/notify": Notify(Recorder())},
        )
    )
    routes_before = len(app.routes)
    app.uninstall(plugin)
    assert [r.rule for r in app.routes] == ["/", "/after/<n:int>"]
    assert routes_before == 3
    with serving(app) as url:
        assert notify(url)[0] == 404  # Bottle's own router again
        assert http("GET", f"{url}/")[1] == "home"
        assert http("GET", f"{url}/after/3")[1] == "after 3"
    app.install(plugin)  # and back
    with serving(app) as url:
        assert notify(url) == (200, "success")


def test_uninstalled_from_a_mounted_child_its_callbacks_stop_in_the_parent_too():
    handler = Recorder()
    child = shop(handler=handler)
    parent = bottle.Bottle()
    parent.mount("/shop/", child)
    child.uninstall("gatepay")
    with serving(parent) as url:
        assert notify(url, "/shop/gatepay/notify")[0] == 404
        assert http("GET", f"{url}/shop/orders/4")[1] == "order 4"
    assert handler.calls == []


@pytest.mark.parametrize("path", ["/pay:<n>/notify", "/pay/<n>"])
def test_a_path_bottle_would_read_as_a_wildcard_is_refused(path):
    app = bottle.Bottle()
    plugin = GatePayPlugin(appkey=APPKEY, appsecret=APPSECRET, paths={path: Notify(record)})
    with pytest.raises(ConfigError, match="cannot match ':' or '<'"):
        app.install(plugin)
    assert app.routes == []


def test_a_non_ascii_path_is_routed():
    handler = Recorder()
    app = shop({"/支付/notify": Notify(handler)})
    with serving(app) as url:
        assert notify(url, "/%E6%94%AF%E4%BB%98/notify") == (200, "success")
    assert len(handler.calls) == 1


# -- settings from app.config ---------------------------------------------------------------

SETTINGS = {
    "gatepay.appkey": APPKEY,
    "gatepay.appsecret": APPSECRET,
    "gatepay.inbox": "memory://",
    "gatepay.notify": "/gatepay/notify tests.frameworks.test_bottle:record",
}


def test_the_plugin_reads_app_config():
    app = bottle.Bottle()
    app.config.update(SETTINGS)
    app.install(GatePayPlugin())
    RECORDED.clear()
    with serving(app) as url:
        assert notify(url) == (200, "success")
    assert len(RECORDED) == 1


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"gatepay.inbx": "sqlite:///x.sqlite3"}, r"gatepay\.inbx.*known: .*gatepay\.inbox"),
        ({"gatepay.appsecret": None}, r"gatepay\.appsecret is missing"),
        ({"gatepay.inbox": "mysql://shop@db/shop"}, r"gatepay\.inbox: .*unsupported scheme"),
    ],
)
def test_config_errors_name_the_key(extra, message):
    app = bottle.Bottle()
    app.config.update({k: v for k, v in {**SETTINGS, **extra}.items() if v is not None})
    with pytest.raises(ConfigError, match=message):
        app.install(GatePayPlugin())
    assert app.routes == []


def test_arguments_and_app_config_together_are_refused():
    app = bottle.Bottle()
    app.config.update({"gatepay.inbox": "sqlite:///shop.sqlite3"})
    with pytest.raises(ConfigError, match=r"gatepay\.inbox"):
        app.install(GatePayPlugin(appkey=APPKEY, appsecret=APPSECRET, paths={"/n": Notify(record)}))


# -- any WSGI app a page handler answers with, and the mounts ---------------------------------

CLOSED: list[str] = []


def late_starting_app(environ, start_response):
    """A WSGI app that starts its response with its first chunk, and must be closed."""

    def body():
        try:
            start_response("201 Created", [("Content-Type", "text/plain"), ("X-Late", "1")])
            yield b"late "
            yield b"body"
        finally:
            CLOSED.append("late")

    return body()


def writing_app(environ, start_response):
    """An app of the old kind: part of its body through start_response's write()."""
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"written, ")
    return [b"returned"]


def repeated_headers_app(environ, start_response):
    headers = [("Content-Type", "text/plain"), ("Link", "</a>"), ("Link", "</b>")]
    start_response("200 OK", headers)
    return [b"links"]


@pytest.mark.parametrize(
    ("app", "status", "body"),
    [
        (late_starting_app, 201, "late body"),
        (writing_app, 200, "written, returned"),
        (repeated_headers_app, 200, "links"),
    ],
)
def test_a_page_handler_may_answer_with_any_wsgi_app(app, status, body):
    CLOSED.clear()
    shop_app = shop({"/gatepay/return": Return(lambda v: app)})
    with serving(shop_app) as url:
        import urllib.request

        with urllib.request.urlopen(f"{url}/gatepay/return?{urlencode(return_fields())}") as r:
            assert (r.status, r.read().decode()) == (status, body)
            if app is late_starting_app:
                assert r.headers["X-Late"] == "1"
            if app is repeated_headers_app:
                assert r.headers.get_all("Link") == ["</a>", "</b>"]
    closed = ["late"] if app is late_starting_app else []
    assert closed == CLOSED  # close() reached the app that has one


def test_a_head_request_gets_no_body():
    app = shop({"/gatepay/timeout": Timeout(lambda v: "closed")})
    with serving(app) as url:
        assert http("HEAD", f"{url}/gatepay/timeout")[:2] == (405, "")  # pages answer GET


def test_the_metrics_answer_under_their_path_in_a_mounted_child():
    pytest.importorskip("prometheus_client")
    child = bottle.Bottle()
    child.config.update({**SETTINGS, "gatepay.metrics_path": "/ops/metrics"})
    child.install(GatePayPlugin())
    parent = bottle.Bottle()
    parent.mount("/shop/", child)
    with serving(parent) as url:
        assert notify(url, "/shop/gatepay/notify") == (200, "success")
        status, body, _ = http("GET", f"{url}/shop/ops/metrics")
        assert http("GET", f"{url}/shop/ops/metricsx")[0] == 404
    assert status == 200
    assert 'gatepay_notifies_total{outcome="handled"}' in body

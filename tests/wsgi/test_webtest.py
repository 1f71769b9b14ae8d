"""The same contract through WebTest with its WSGI ``lint`` checker on."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest
from webtest import TestApp

from gatepay_wsgi import GatePayMiddleware, Notify, Return, Timeout, redirect

from ..gateway import APPKEY, APPSECRET, Recorder, notify_fields, return_fields


def shop(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"shop home"]


@pytest.fixture
def handler():
    return Recorder()


@pytest.fixture
def app(handler):
    wrapped = GatePayMiddleware(
        shop,
        appkey=APPKEY,
        appsecret=APPSECRET,
        paths={
            "/gatepay/notify": Notify(handler),
            "/gatepay/return": Return(lambda visit: f"<p>paid {visit.out_order_id}</p>"),
            "/gatepay/go": Return(lambda visit: redirect("/orders/1")),
            "/gatepay/timeout": Timeout(lambda visit: "<p>closed</p>"),
        },
    )
    return TestApp(wrapped, lint=True)


def test_notify_post(app, handler):
    response = app.post("/gatepay/notify", notify_fields())
    assert response.body == b"success"
    assert response.status_int == 200
    assert len(handler.calls) == 1


def test_notify_get(app, handler):
    response = app.get("/gatepay/notify?" + urlencode(notify_fields()))
    assert response.body == b"success"


def test_notify_multipart(app, handler):
    response = app.post("/gatepay/notify", notify_fields(), content_type="multipart/form-data")
    assert response.body == b"success"


def test_forged_notify(app, handler):
    response = app.post("/gatepay/notify", notify_fields(secret="x"), status=403)
    assert response.body == b"fail"
    assert handler.calls == []


def test_wrong_method(app, handler):
    response = app.put("/gatepay/notify", notify_fields(), status=405)
    assert response.body == b"fail"


def test_handler_error_then_recovery(app, handler):
    handler.error = RuntimeError("db down")
    assert app.post("/gatepay/notify", notify_fields(), status=500).body == b"fail"
    handler.error = None
    assert app.post("/gatepay/notify", notify_fields()).body == b"success"


def test_return_and_redirect(app):
    query = urlencode(return_fields())
    assert app.get("/gatepay/return?" + query).text == "<p>paid SHOP-1</p>"
    assert app.get("/gatepay/go?" + query, status=303).location.endswith("/orders/1")
    assert app.get("/gatepay/return?price=1", status=400).content_type == "text/html"


def test_timeout(app):
    assert app.get("/gatepay/timeout?out_order_id=A1").text == "<p>closed</p>"


def test_pass_through(app):
    assert app.get("/").text == "shop home"
    assert app.post("/orders", {"a": "1"}).text == "shop home"

"""Return and Timeout pages through real WSGI calls."""

from __future__ import annotations

import logging
from urllib.parse import urlencode

import pytest
from werkzeug.test import Client
from werkzeug.wrappers import Response

from gatepay_wsgi import GatePayMiddleware, Return, ReturnVisit, Timeout, TimeoutVisit, redirect

from ..gateway import APPKEY, APPSECRET, Recorder, return_fields


def bare(environ, start_response):
    start_response("200 OK", [])
    return [b"bare"]


def client_for(**paths) -> Client:
    return Client(GatePayMiddleware(bare, appkey=APPKEY, appsecret=APPSECRET, paths=paths))


def thank_you(visit: ReturnVisit) -> str:
    return f"<p>Thanks for order {visit.out_order_id}: {visit.price}</p>"


def test_return_page_from_a_str():
    response = client_for(**{"/r": Return(thank_you)}).get(
        "/r", query_string=urlencode(return_fields(price="10.23"))
    )
    assert response.status_code == 200
    assert response.content_type == "text/html; charset=utf-8"
    assert response.get_data(as_text=True) == "<p>Thanks for order SHOP-1: 10.23</p>"


def test_return_page_from_bytes():
    client = client_for(**{"/r": Return(lambda visit: b"<p>ok</p>")})
    assert client.get("/r", query_string=urlencode(return_fields())).get_data() == b"<p>ok</p>"


def test_return_page_from_a_werkzeug_response():
    page = Return(lambda visit: Response("custom", status=202, headers={"X-Order": "1"}))
    response = client_for(**{"/r": page}).get("/r", query_string=urlencode(return_fields()))
    assert (response.status_code, response.get_data()) == (202, b"custom")
    assert response.headers["X-Order"] == "1"


def test_return_redirect():
    page = Return(lambda visit: redirect(f"/orders/{visit.out_order_id}"))
    response = client_for(**{"/r": page}).get("/r", query_string=urlencode(return_fields()))
    assert response.status_code == 303
    assert response.headers["Location"] == "/orders/SHOP-1"


def mounted_at(prefix: str, **paths) -> Client:
    """The middleware inside a werkzeug DispatcherMiddleware mount, as a legacy site has it."""
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    inner = GatePayMiddleware(bare, appkey=APPKEY, appsecret=APPSECRET, paths=paths)
    return Client(DispatcherMiddleware(bare, {prefix: inner}))


def test_return_and_timeout_visits_know_the_mount_point():
    seen = []

    def page(visit):
        seen.append(visit)
        return redirect(visit.url(f"/orders/{visit.out_order_id}"))

    client = mounted_at("/shop", **{"/r": Return(page), "/t": Timeout(page)})
    response = client.get("/shop/r", query_string=urlencode(return_fields()))
    assert (response.status_code, response.headers["Location"]) == (303, "/shop/orders/SHOP-1")
    response = client.get("/shop/t", query_string="out_order_id=SHOP-2")
    assert (response.status_code, response.headers["Location"]) == (303, "/shop/orders/SHOP-2")
    assert [v.script_name for v in seen] == ["/shop", "/shop"]
    assert seen[0].environ["PATH_INFO"] == "/r"


def test_visits_at_the_site_root_have_an_empty_script_name():
    client = client_for(**{"/r": Return(lambda visit: visit.url("/") + "|" + visit.script_name)})
    assert client.get("/r", query_string=urlencode(return_fields())).get_data() == b"/|"


def test_redirect_refuses_header_injection():
    with pytest.raises(ValueError, match="line breaks"):
        redirect("/x\r\nSet-Cookie: a=b")
    with pytest.raises(ValueError, match="redirect status"):
        redirect("/x", status=200)


@pytest.mark.parametrize(
    "fields",
    [
        return_fields(secret="forged"),
        {**return_fields(), "price": "1.00"},
        {**return_fields(), "appkey": "someone-else"},
        {k: v for k, v in return_fields().items() if k != "sign"},
        {**return_fields(), "order_id": "x"},
        {},
    ],
    ids=["forged", "tampered", "appkey", "unsigned", "bad_format", "empty"],
)
def test_forged_or_malformed_return_is_a_400_page(fields, caplog):
    handler = Recorder(answer="never")
    with caplog.at_level(logging.WARNING, logger="gatepay_wsgi"):
        response = client_for(**{"/r": Return(handler)}).get("/r", query_string=urlencode(fields))
    assert response.status_code == 400
    assert response.content_type.startswith("text/html")
    assert b"could not be verified" in response.get_data()
    assert handler.calls == []
    assert "return refused reason=" in caplog.text


def test_duplicate_return_field_is_refused():
    query = urlencode(return_fields()) + "&price=0.01"
    handler = Recorder(answer="never")
    response = client_for(**{"/r": Return(handler)}).get("/r", query_string=query)
    assert response.status_code == 400
    assert handler.calls == []


def test_error_page_is_overridable():
    page = Return(thank_you, error_page=lambda error: f"<p>nope: {error.reason}</p>")
    response = client_for(**{"/r": page}).get("/r", query_string="price=1")
    assert (response.status_code, response.get_data()) == (400, b"<p>nope: missing_field</p>")


def test_return_only_takes_get():
    response = client_for(**{"/r": Return(thank_you)}).post("/r", data=urlencode(return_fields()))
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET"


@pytest.mark.parametrize("broken", [lambda error: None, lambda error: 1 / 0])
def test_a_broken_error_page_falls_back_to_the_default(broken, caplog):
    page = Return(thank_you, error_page=broken)
    with caplog.at_level(logging.ERROR, logger="gatepay_wsgi"):
        response = client_for(**{"/r": page}).get("/r", query_string="price=1")
    assert response.status_code == 400
    assert b"could not be verified" in response.get_data()
    assert "error_page failed" in caplog.text


def test_return_handler_error_is_a_500_page(caplog):
    page = Return(Recorder(error=RuntimeError("template missing")))
    with caplog.at_level(logging.ERROR, logger="gatepay_wsgi"):
        response = client_for(**{"/r": page}).get("/r", query_string=urlencode(return_fields()))
    assert response.status_code == 500
    assert b"Something went wrong" in response.get_data()
    assert "template missing" in caplog.text


@pytest.mark.parametrize("answer", [None, 42, ["list"]])
def test_return_handler_with_a_non_page_answer_is_a_500(answer):
    page = Return(lambda visit: answer)
    response = client_for(**{"/r": page}).get("/r", query_string=urlencode(return_fields()))
    assert response.status_code == 500


def test_timeout_gets_every_field_unsigned():
    seen: list[TimeoutVisit] = []

    def closed(visit: TimeoutVisit) -> str:
        seen.append(visit)
        return "<p>closed</p>"

    response = client_for(**{"/t": Timeout(closed)}).get(
        "/t", query_string="out_order_id=A%201&anything=%E5%BC%A0"
    )
    assert response.get_data() == b"<p>closed</p>"
    assert seen[0].out_order_id == "A 1"
    assert dict(seen[0].fields) == {"out_order_id": "A 1", "anything": "张"}


def test_timeout_with_no_query():
    seen = []
    client = client_for(**{"/t": Timeout(lambda visit: seen.append(visit) or "closed")})
    assert client.get("/t").get_data() == b"closed"
    assert seen[0].out_order_id is None


def test_timeout_with_bad_encoding_is_a_400_page():
    handler = Recorder(answer="x")
    response = client_for(**{"/t": Timeout(handler)}).get("/t", query_string="a=%FF")
    assert response.status_code == 400
    assert handler.calls == []


@pytest.mark.parametrize("given", [{"appkey": "merchant-b"}, {"appsecret": "secret-b"}])
def test_an_endpoint_with_half_its_own_credentials_is_refused_at_start_up(given):
    """One merchant's key with another's secret would answer every notify 403: say it now."""
    from gatepay_wsgi import Notify
    from gatepay_wsgi.errors import ConfigError

    with pytest.raises(ConfigError, match="both appkey and appsecret, or neither"):
        Notify(lambda n: None, **given)

"""The sandbox's notifies: two decimals whatever was created, retries, plain words."""

from __future__ import annotations

import json
import re
import threading
import time
from decimal import Decimal
from urllib.parse import parse_qsl, urlsplit

import pytest

from gatepay_wsgi import GatePayMiddleware, Notify
from gatepay_wsgi.client import (
    GatePayClient,
)
from gatepay_wsgi.messages import read_return
from gatepay_wsgi.signing import create_sign

from ..gateway import Recorder, order_id_of, shop
from ..servers import free_port, http, serving


def test_a_refused_create_is_a_gateway_error_that_reads_as_the_sandboxs_log():
    from gatepay_wsgi.client import GatewayError
    from gatepay_wsgi.sandbox.create import CreateRefused

    refused = CreateRefused(104, "无效的签名", "the sign does not match")
    assert isinstance(refused, GatewayError)
    assert str(refused) == "104 无效的签名: the sign does not match"


def test_sandbox_callbacks_carry_two_decimals_whatever_price_the_shop_created(tmp_path):
    from gatepay_wsgi.sandbox import Sandbox

    handler = Recorder()
    verifier = GatePayMiddleware(
        shop,
        appkey="k",
        appsecret="s",
        paths={"/n": Notify(handler)},
        inbox="memory://",
    )
    with serving(verifier) as base:
        sandbox = Sandbox(appkey="k", appsecret="s", notify_url=base + "/n", return_url=base + "/r")
        with serving(sandbox) as gateway_url:
            try:
                created = []
                for n, price in enumerate(["10", "10.5", "7.25"]):  # as a shop may send them
                    fields = {"appkey": "k", "price": price, "type": "wechat"}
                    fields.update(out_order_id=f"R{n}", custom="")
                    fields["sign"] = create_sign(fields, "k", "s")
                    _, body, _ = http("POST", gateway_url + "/api/anypay/create", fields)
                    created.append(json.loads(body)["data"])
                payment = GatePayClient(gateway_url, "k", "s").create(price=10, type="wechat")
                created.append({"pay_url": payment.pay_url})
                returns = [http("POST", c["pay_url"] + "/pay")[2] for c in created]
            finally:
                sandbox.close()
    two_decimals = re.compile(r"(?:0|[1-9][0-9]*)\.[0-9]{2}")
    assert [str(n.price) for n in handler.calls] == ["10.00", "10.50", "7.25", "10.00"]
    assert [str(n.realprice) for n in handler.calls] == ["10.00", "10.50", "7.25", "9.99"]
    for notification in handler.calls:  # verified by the library: exactly two decimals
        assert two_decimals.fullmatch(notification.raw["price"])
        assert two_decimals.fullmatch(notification.raw["realprice"])
    for location in returns:
        assert location is not None
        assert location.startswith(base + "/r?")
        query = dict(parse_qsl(urlsplit(location).query, keep_blank_values=True))
        assert two_decimals.fullmatch(query["price"]), location
        assert read_return(query, appkey="k", appsecret="s").price == Decimal(query["price"])


def test_sandbox_retries_until_the_shop_answers_success(tmp_path):
    from gatepay_wsgi.sandbox import Sandbox

    answers = iter([b"fail", b"fail"])
    waiting_page_seen = threading.Event()

    def flaky_shop(environ, start_response):
        start_response("200 OK", [])
        answer = next(answers, None)
        if answer is None:  # the third try: once the test saw the buyer still waiting
            waiting_page_seen.wait(10)
        return [answer or b"success"]

    with serving(flaky_shop) as base:
        sandbox = Sandbox(
            appkey="k",
            appsecret="s",
            notify_url=base + "/n",
            return_url=base + "/r",
            retry_interval=0.1,
        )
        with serving(sandbox) as gateway_url:
            try:
                payment = GatePayClient(gateway_url, "k", "s").create(
                    price="1", type="alipay", out_order_id="R1"
                )
                _, _, location = http("POST", payment.pay_url + "/pay")
                assert location.endswith(f"/pay/{order_id_of(payment)}")  # the buyer waits
                assert "waiting for the shop" in http("GET", payment.pay_url)[1]
                waiting_page_seen.set()
                deadline = time.monotonic() + 5
                while not sandbox.orders[order_id_of(payment)].acknowledged:
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
                kinds = [(a.kind, a.body) for a in sandbox.orders[order_id_of(payment)].attempts]
                assert kinds == [("auto", "fail"), ("retry", "fail"), ("retry", "success")]
                assert http("GET", payment.pay_url)[2].startswith(base + "/r?")
            finally:
                sandbox.close()


@pytest.mark.parametrize(
    "refusing_status", ["400 Bad Request", "403 Forbidden", "503 Service Unavailable"]
)
def test_sandbox_retries_a_shop_that_answers_fail_with_an_error_status(refusing_status, tmp_path):
    """The library itself answers ``fail`` with 4xx/5xx: each must be recorded and retried."""
    from gatepay_wsgi import GatePayMiddleware, Notify
    from gatepay_wsgi.sandbox import Sandbox

    answers = iter([refusing_status, refusing_status])

    def flaky(n):  # the shop's handler: fails twice (the library answers 503), then works
        return True

    def shop(environ, start_response):
        status = next(answers, None)
        if status is None:
            return library(environ, start_response)
        start_response(status, [("Content-Type", "text/plain; charset=utf-8")])
        return [b"fail"]

    library = GatePayMiddleware(
        lambda e, s: [], appkey="k", appsecret="s", paths={"/n": Notify(flaky)}
    )
    with serving(shop) as base:
        sandbox = Sandbox(
            appkey="k",
            appsecret="s",
            notify_url=base + "/n",
            return_url=base + "/r",
            retry_interval=0.1,
        )
        with serving(sandbox) as gateway_url:
            try:
                payment = GatePayClient(gateway_url, "k", "s").create(price="1", type="alipay")
                status, _, _ = http("POST", payment.pay_url + "/pay")
                assert status == 303
                deadline = time.monotonic() + 5
                while not sandbox.orders[order_id_of(payment)].acknowledged:
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
                code = int(refusing_status.split()[0])
                attempts = [
                    (a.kind, a.status, a.body)
                    for a in sandbox.orders[order_id_of(payment)].attempts
                ]
                assert attempts == [
                    ("auto", code, "fail"),
                    ("retry", code, "fail"),
                    ("retry", 200, "success"),
                ]
                console = http("GET", gateway_url + "/console")[1]
                assert f"{code} <code>fail</code>" in console
                assert "Error" not in console
            finally:
                sandbox.close()


def test_sandbox_says_connection_refused_in_plain_words(tmp_path):
    from gatepay_wsgi.sandbox import Sandbox

    port = free_port()  # nothing listens there
    sandbox = Sandbox(
        appkey="k",
        appsecret="s",
        notify_url=f"http://127.0.0.1:{port}/n",
        return_url=f"http://127.0.0.1:{port}/r",
        retry_interval=0.1,
        retries=1,
    )
    with serving(sandbox) as gateway_url:
        try:
            payment = GatePayClient(gateway_url, "k", "s").create(price="1", type="alipay")
            assert http("POST", payment.pay_url + "/pay")[0] == 303
            deadline = time.monotonic() + 5
            while len(sandbox.orders[order_id_of(payment)].attempts) < 2:
                assert time.monotonic() < deadline
                time.sleep(0.05)
            errors = [a.error for a in sandbox.orders[order_id_of(payment)].attempts]
            assert errors == ["connection refused", "connection refused"]
            console = http("GET", gateway_url + "/console")[1]
            assert "connection refused" in console
            assert "Errno" not in console
            assert "URLError" not in console
        finally:
            sandbox.close()

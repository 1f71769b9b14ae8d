"""The offline loop: testing kit, gateway client, sandbox, demo and the dev commands."""

from __future__ import annotations

import hashlib
import json
import random
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from urllib.parse import parse_qs, parse_qsl, urlsplit

import pytest

from gatepay_wsgi import GatePayMiddleware, Notify
from gatepay_wsgi.cli import main
from gatepay_wsgi.client import (
    OUT_ORDER_ID_LENGTH,
    GatePayClient,
    GatewayError,
    money,
    new_out_order_id,
)
from gatepay_wsgi.messages import read_return
from gatepay_wsgi.signing import create_sign
from gatepay_wsgi.testing import BAD_SIGN, return_url, send_notify, signed_notify

from .gateway import APPKEY, APPSECRET, Recorder, md5
from .servers import free_port, http, serving


def shop(environ, start_response):
    start_response("200 OK", [])
    return [b"shop"]


# -- the testing kit ---------------------------------------------------------------------


def test_signed_notify_is_accepted_and_a_bad_sign_is_not():
    handler = Recorder()
    app = GatePayMiddleware(
        shop,
        appkey=APPKEY,
        appsecret=APPSECRET,
        paths={"/gatepay/notify": Notify(handler)},
        inbox="memory://",
    )
    answer = send_notify(app, signed_notify(APPKEY, APPSECRET, out_order_id="GP1", price="9.50"))
    assert (answer.status, answer.body) == (200, "success")
    assert (handler.calls[0].out_order_id, str(handler.calls[0].realprice)) == ("GP1", "9.50")
    forged = send_notify(app, signed_notify(APPKEY, APPSECRET, sign=BAD_SIGN))
    assert (forged.status, forged.body) == (403, "fail")
    by_get = send_notify(app, signed_notify(APPKEY, APPSECRET), method="GET")
    assert by_get.body == "success"


def test_return_url_is_signed_like_the_gateway_does():
    url = return_url(
        "https://shop.example/r?x=1",
        APPKEY,
        APPSECRET,
        order_id="5",
        out_order_id="GP5",
        price="2.00",
    )
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query, keep_blank_values=True).items()}
    inner = md5(APPKEY + "2.00" + "alipay" + "" + "5" + "GP5")
    assert query["sign"] == md5(inner + APPSECRET)
    assert url.startswith("https://shop.example/r?x=1&")


@pytest.fixture
def gatepay_credentials():
    return (APPKEY, APPSECRET)


def test_pytest_plugin_fixture(gatepay_notify):
    handler = Recorder()
    app = GatePayMiddleware(
        shop,
        appkey=APPKEY,
        appsecret=APPSECRET,
        paths={"/pay/n": Notify(handler)},
        inbox="memory://",
    )
    assert gatepay_notify(app, path="/pay/n", out_order_id="GP9").body == "success"
    assert gatepay_notify(app, path="/pay/n", sign=BAD_SIGN).body == "fail"
    assert [n.out_order_id for n in handler.calls] == ["GP9"]


# -- the demo: shop + sandbox over real HTTP ---------------------------------------------


@pytest.fixture
def demo(tmp_path) -> Iterator:
    from gatepay_wsgi.demo import Demo

    with Demo(tmp_path, port=0, retry_interval=0.2) as running:
        yield running


def buy(demo, product="tea", pay_type="alipay") -> str:
    status, _, pay_url = http(
        "POST", demo.shop_url + "/orders", {"product": product, "type": pay_type}
    )
    assert status == 303
    assert pay_url.startswith(demo.gateway_url + "/pay/")
    return pay_url


def test_buy_pay_and_return_to_a_paid_order(demo):
    pay_url = buy(demo)
    assert "Pay 10.00 yuan" in http("GET", pay_url)[1]
    status, _, back = http("POST", pay_url + "/pay")
    assert status == 303
    assert back.startswith(demo.shop_url + "/gatepay/return?")
    status, page, _ = http("GET", back)
    assert status == 200
    assert "<b>paid</b>" in page
    order_id = int(pay_url.rsplit("/", 1)[1])
    state = json.loads(http("GET", f"{demo.gateway_url}/api/orders/{order_id}")[1])
    assert [(a["kind"], a["body"]) for a in state["attempts"]] == [("auto", "success")]


def test_time_out_then_a_manual_re_send_is_handled_once(demo):
    pay_url = buy(demo)
    order_id = int(pay_url.rsplit("/", 1)[1])
    _, _, closed = http("POST", pay_url + "/timeout")
    assert closed.startswith(demo.shop_url + "/gatepay/timeout?")
    assert "pending" in http("GET", closed)[1]
    for _ in range(2):  # "I have received this payment", pressed twice
        assert http("POST", f"{demo.gateway_url}/console/{order_id}/resend")[0] == 303
    state = json.loads(http("GET", f"{demo.gateway_url}/api/orders/{order_id}")[1])
    assert [(a["kind"], a["body"]) for a in state["attempts"]] == [
        ("manual", "success"),
        ("manual", "success"),
    ]
    from gatepay_wsgi.inbox import open_inbox

    (record,) = open_inbox(demo.inbox).get(order_id)
    assert (record.status, record.attempts) == ("done", 1)
    assert "<b>paid</b>" in http("GET", closed)[1]
    assert "console" in http("GET", demo.gateway_url + "/console")[1].lower()


def order_id_of(payment) -> int:
    """The sandbox's order id: the last part of its pay link (``/pay/<order_id>``)."""
    return int(payment.pay_url.rsplit("/", 1)[1])


def test_sandbox_realprice_tells_equal_amounts_apart_by_a_cent(demo):
    client = GatePayClient(demo.gateway_url, demo.appkey, demo.appsecret)
    first = client.create(price="10", type="wechat", out_order_id="A1")
    second = client.create(price="10.00", type="wechat", out_order_id="A2")
    details = [json.loads(http("GET", p.api_url)[1])["data"] for p in (first, second)]
    assert [d["realprice"] for d in details] == ["10.00", "9.99"]  # told apart by a cent
    again = client.create(price="10.00", type="wechat", out_order_id="A1")  # a retried create
    assert order_id_of(again) == order_id_of(first)
    with pytest.raises(GatewayError) as refused:
        GatePayClient(demo.gateway_url, demo.appkey, "wrong").create(
            price="1", type="alipay", out_order_id="B"
        )
    assert (refused.value.code, refused.value.message) == (104, "无效的签名")
    with pytest.raises(GatewayError) as refused:
        GatePayClient(demo.gateway_url, "other", "x").create(
            price="1", type="alipay", out_order_id="B"
        )
    assert refused.value.code == 102
    _, body, _ = http("POST", demo.gateway_url + "/api/anypay/create", {"appkey": demo.appkey})
    assert (json.loads(body)["code"], json.loads(body)["msg"]) == (103, "秘钥已过期 / 签名必须")


def test_client_errors():
    with pytest.raises(GatewayError) as unreachable:
        GatePayClient("http://127.0.0.1:9", "k", "s", timeout=2).create(
            price="1", type="alipay", out_order_id="X"
        )
    assert unreachable.value.code == 0
    with pytest.raises(ValueError, match="http"):
        GatePayClient("file:///etc/passwd", "k", "s")
    with pytest.raises(ValueError, match="type"):
        GatePayClient("http://x", "k", "s").create(price="1", type="paypal", out_order_id="X")
    assert money("10") == "10.00"
    with pytest.raises(ValueError, match="positive"):
        money("-1")


@pytest.mark.parametrize(
    ("price", "sent"),
    [("10", "10.00"), (10, "10.00"), ("10.5", "10.50"), (Decimal("10.500"), "10.50")],
)
def test_money_is_always_two_decimals(price, sent):
    assert money(price) == sent


@pytest.mark.parametrize("price", ["10.005", "0.001", Decimal("1.999"), "1e-3"])
def test_money_with_more_than_two_decimals_is_refused_not_rounded(price):
    with pytest.raises(ValueError, match="two decimals"):
        money(price)


@pytest.mark.parametrize("price", ["0", "0.00", "1e12", "NaN", "Infinity", "ten"])
def test_money_out_of_range_is_refused(price):
    with pytest.raises(ValueError, match="amount"):
        money(price)


# -- generated out_order_ids -------------------------------------------------------------

ID_ENDS = re.compile(r"[A-Z]{2}.*[A-Z]", re.DOTALL)


def looks_generated(text: str) -> bool:
    """The shape every ``new_out_order_id()`` has: its length, letters at both ends."""
    return len(text) == OUT_ORDER_ID_LENGTH and ID_ENDS.fullmatch(text) is not None


def test_new_out_order_id_has_a_fixed_length_and_letter_ends():
    ids = {new_out_order_id() for _ in range(2000)}
    assert len(ids) == 2000  # random: no repeats
    for out_order_id in ids:
        assert re.fullmatch(r"GP[A-Z2-7]{12}[A-Z]", out_order_id), out_order_id
        assert looks_generated(out_order_id)
        assert len(out_order_id) == OUT_ORDER_ID_LENGTH == 15


def test_no_boundary_shift_turns_a_generated_id_into_one_of_that_shape():
    # The notify's sign input is ... + order_id + out_order_id + price + ...: a forger may
    # move the order_id's trailing digits onto the id's front (front > 0) or the id's
    # first characters into order_id (front < 0), and the price's leading characters onto
    # the id's end (end > 0) or the id's last characters into price (end < 0). Even the
    # shifts the order_id and money formats refuse never yield an id of the issued shape.
    rng = random.Random(11)  # noqa: S311  # test data, not a secret
    for _ in range(2000):
        out_order_id = new_out_order_id()
        order_id = str(rng.randrange(1, 10 ** rng.randint(1, 19)))
        price = f"{rng.randrange(0, 10 ** rng.randint(1, 14)) / 100:.2f}"
        joined = order_id + out_order_id + price
        for front in range(-len(out_order_id), len(order_id) + 1):
            for end in range(-len(out_order_id), len(price) + 1):
                start = len(order_id) - front
                stop = len(order_id) + len(out_order_id) + end
                if (front, end) == (0, 0) or stop <= start:
                    continue
                shifted = joined[start:stop]
                assert not looks_generated(shifted), (order_id, out_order_id, price, shifted)


def test_create_without_an_out_order_id_generates_one(demo):
    client = GatePayClient(demo.gateway_url, demo.appkey, demo.appsecret)
    payment = client.create(price="3.00", type="alipay", custom="buyer 7")
    assert re.fullmatch(r"GP[A-Z2-7]{12}[A-Z]", payment.out_order_id)
    assert f"<code>{payment.out_order_id}</code>" in http("GET", payment.pay_url)[1]
    given = client.create(price="3.00", type="alipay", out_order_id="MINE-1")
    assert given.out_order_id == "MINE-1"


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

    answers = iter([b"fail", b"fail", b"success"])

    def flaky_shop(environ, start_response):
        start_response("200 OK", [])
        return [next(answers, b"success")]

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


# -- the dev commands --------------------------------------------------------------------


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_sign_command(capsys):
    fields = [
        "order_id=1",
        "out_order_id=A",
        "price=1.00",
        "realprice=1.00",
        "type=alipay",
        "paytime=1700000000",
        "extend=",
    ]
    code, out, _ = run(capsys, "sign", "notify", "--appkey", "k", "--appsecret", "s", *fields)
    expected = md5(md5("k1A1.001.00alipay1700000000") + "s")
    assert (code, out.strip()) == (0, expected)
    code, _, err = run(capsys, "sign", "notify", "--appkey", "k", "--appsecret", "s", "price=1")
    assert code == 2
    assert "missing field" in err


def test_sign_needs_credentials(capsys, monkeypatch):
    monkeypatch.delenv("GATEPAY_APPKEY", raising=False)
    monkeypatch.delenv("GATEPAY_APPSECRET", raising=False)
    code, _, err = run(capsys, "sign", "return", "price=1")
    assert code == 2
    assert "GATEPAY_APPKEY" in err


def test_send_notify_to_a_running_shop(demo, capsys):
    pay_url = buy(demo)
    out_order_id = http("GET", pay_url)[1].split("<code>")[1].split("</code>")[0]
    url = demo.shop_url + "/gatepay/notify"
    keys = ["--appkey", demo.appkey, "--appsecret", demo.appsecret]
    code, out, _ = run(
        capsys,
        "send",
        "notify",
        "--url",
        url,
        *keys,
        f"out_order_id={out_order_id}",
        "price=10.00",
        "realprice=10.00",
        "extend=demo buyer",  # the custom the demo shop sent for the order
    )
    assert code == 0
    assert out.splitlines()[0] == f"POST {url}"
    assert out.splitlines()[-2:] == ["-> 200 OK", "success"]
    code, out, _ = run(
        capsys, "send", "notify", "--url", url, "--get", "--appkey", "k", "--appsecret", "wrong"
    )
    assert code == 1
    assert out.splitlines()[-2:] == ["-> 403 Forbidden", "fail"]
    code, out, _ = run(
        capsys,
        "send",
        "timeout",
        "--url",
        demo.shop_url + "/gatepay/timeout",
        f"out_order_id={out_order_id}",
    )
    assert code == 0
    assert "<b>paid</b>" in out
    code, _, err = run(capsys, "send", "notify", "--url", "ftp://x", *keys)
    assert code == 2
    assert "http" in err


def test_demo_command_starts_prints_and_stops(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "gatepay_wsgi.cli", "demo", "--port", "0", "--dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(60, process.kill)  # a hung demo must not hang the suite
    watchdog.start()
    try:
        lines = [process.stdout.readline() for _ in range(6)]
        shop_url = re.search(r"open the shop:\s+(\S+)", "".join(lines)).group(1)
        assert http("GET", shop_url)[0] == 200
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
        watchdog.cancel()
    assert process.returncode == 0, err
    assert "stopping" in out
    assert (tmp_path / "gatepay-inbox.sqlite3").exists()


def test_sandbox_command_needs_urls(capsys):
    code, _, err = run(capsys, "sandbox", "--appkey", "k", "--appsecret", "s")
    assert code == 2
    assert "--notify-url" in err


def test_md5_helper_matches_hashlib():
    assert md5("a") == hashlib.md5(b"a").hexdigest()

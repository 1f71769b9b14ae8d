"""The order-creation API as the gateway's api.md documents it: the client and the sandbox.

The client is tried against a stub that answers as the page does (success is code 100,
each refusal its documented code) and against failures of the network; the sandbox is
checked field by field against the documented answer, and each of its codes is reached
by the condition the page names.
"""

from __future__ import annotations

import base64
import json
import socket
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import parse_qs, urlsplit

import pytest
from werkzeug.test import Client

from gatepay_wsgi.client import GatePayClient, GatewayError
from gatepay_wsgi.gateway_codes import ANYPAY, GROUPPAY, STABLEPAY
from gatepay_wsgi.sandbox import CloudSessions, Sandbox

from ..gateway import md5
from ..servers import free_port, http, serving

KEY, SECRET = "demo-key", "demo-secret"

#: The success answer as the page shows it (values as a gateway would fill them in).
PAGE_SUCCESS = {
    "code": 100,
    "msg": "请求成功",
    "time": "1700000000",
    "data": {
        "pay_url": "https://gateway.example/pay/5001",
        "api_url": "https://gateway.example/pay/5001?format=json",
        "qrcode_url": "https://gateway.example/qrcode/5001.png",
        "qrcode_body": "data:image/png;base64,iVBORw0KGgo=",
        "params": {"appkey": KEY, "price": "10.00", "type": "alipay"},
    },
}


class Stub:
    """A gateway that answers every create with ``body`` (and ``status``), and keeps the
    requests it got."""

    def __init__(self, body: bytes, status: str = "200 OK", kind: str = "application/json"):
        self.body, self.status, self.kind = body, status, kind
        self.requests: list[tuple[str, dict[str, str]]] = []

    def __call__(self, environ, start_response):
        size = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"]
        form = {
            k: v[0] for k, v in parse_qs(body.read(size).decode(), keep_blank_values=True).items()
        }
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        form.update({k: v[0] for k, v in query.items()})  # a GET's fields
        self.requests.append((environ["PATH_INFO"], form))
        start_response(self.status, [("Content-Type", self.kind)])
        return [self.body]


def sign(order: tuple[str, ...], form: dict[str, str]) -> str:
    """The page's formula, written out: md5(md5(appkey + fields in order) + appsecret)."""
    return md5(md5(KEY + "".join(form[name] for name in order)) + SECRET)


def test_create_reads_the_pages_success_answer_byte_for_byte():
    stub = Stub(json.dumps(PAGE_SUCCESS, ensure_ascii=False).encode())
    with serving(stub) as url:
        payment = GatePayClient(url, KEY, SECRET).create(
            price="10", type="alipay", out_order_id="GPABC", custom="buyer 7"
        )
    assert payment.pay_url == "https://gateway.example/pay/5001"
    assert payment.api_url.endswith("?format=json")
    assert payment.qrcode_url == "https://gateway.example/qrcode/5001.png"
    assert payment.qrcode_body.startswith("data:image/png;base64,")
    assert payment.params["price"] == "10.00"
    assert payment.answer == PAGE_SUCCESS
    assert payment.out_order_id == "GPABC"
    ((path, form),) = stub.requests
    assert path == "/api/anypay/create"
    assert form == {
        "appkey": KEY,
        "price": "10.00",
        "type": "alipay",
        "out_order_id": "GPABC",
        "custom": "buyer 7",
        "sign": sign(("price", "type", "out_order_id", "custom"), form),
    }


def test_group_and_product_creates_send_their_own_fields_and_signs():
    stub = Stub(json.dumps(PAGE_SUCCESS).encode())
    with serving(stub) as url:
        client = GatePayClient(url, KEY, SECRET)
        client.create_group(products={8: 1, 7: 2}, type="wechat", out_order_id="G1")
        client.create_group(products="3:1", type="alipay", out_order_id="G2", custom="c")
        client.create_for_product(product_id=8, type="alipay", out_order_id="P1")
    (group_path, group), (_, group2), (product_path, product) = stub.requests
    assert group_path == "/api/grouppay/create"
    assert group["fields"] == "8:1,7:2"
    assert group["sign"] == sign(("fields", "type", "out_order_id", "custom"), group)
    assert group2["fields"] == "3:1"
    assert product_path == "/api/stablepay/create"
    assert product["sign"] == sign(("product_id", "type", "out_order_id", "custom"), product)
    assert set(product) == {"appkey", "product_id", "type", "out_order_id", "custom", "sign"}
    with pytest.raises(ValueError, match="count"):
        client.create_group(products={8: 0}, type="wechat")
    with pytest.raises(ValueError, match="8:1"):
        client.create_group(products="8;1", type="wechat")
    with pytest.raises(ValueError, match="numeric"):
        client.create_for_product(product_id="tea", type="wechat")


@pytest.mark.parametrize(
    ("method", "codes"),
    [("create", ANYPAY), ("create_group", GROUPPAY), ("create_for_product", STABLEPAY)],
)
def test_every_documented_code_is_a_gateway_error_with_its_own_words(method, codes):
    arguments = {
        "create": {"price": "10.00"},
        "create_group": {"products": {1: 1}},
        "create_for_product": {"product_id": 1},
    }[method]
    for code, (message, english) in codes.items():
        stub = Stub(json.dumps({"code": code, "msg": message}, ensure_ascii=False).encode())
        with serving(stub) as url, pytest.raises(GatewayError) as refused:
            getattr(GatePayClient(url, KEY, SECRET), method)(type="alipay", **arguments)
        assert (refused.value.code, refused.value.message) == (code, message)
        assert refused.value.explanation == english
        assert english in str(refused.value)


def test_an_undocumented_code_says_so():
    stub = Stub(json.dumps({"code": 200, "msg": "success", "data": {"pay_url": "x"}}).encode())
    with serving(stub) as url, pytest.raises(GatewayError) as refused:
        GatePayClient(url, KEY, SECRET).create(price="1", type="alipay")
    assert refused.value.code == 200  # not success: the gateway's success is 100
    assert "not documented" in refused.value.explanation


@pytest.mark.parametrize("code", [99, 1, 0, -1, -100, "100.5", None])
def test_a_code_other_than_100_is_never_a_payment_even_with_a_pay_link(code):
    """Only 100 is success: a code below it (or negative, or not a number) that still
    carries ``data.pay_url`` is an error, never a ``Payment`` the shop sends a buyer to."""
    body = {"code": code, "msg": "?", "data": {"pay_url": "https://gatepay.io/pay/x"}}
    stub = Stub(json.dumps(body).encode())
    with serving(stub) as url, pytest.raises(GatewayError) as refused:
        GatePayClient(url, KEY, SECRET).create(price="1.00", type="alipay")
    assert refused.value.code != 100


def test_a_proxys_html_error_page_is_a_clear_gateway_error():
    page = b"<html><body><h1>502 Bad Gateway</h1></body></html>"
    stub = Stub(page, "502 Bad Gateway", "text/html")
    with serving(stub) as url, pytest.raises(GatewayError) as refused:
        GatePayClient(url, KEY, SECRET).create(price="1", type="alipay")
    assert refused.value.code == 0
    assert "HTTP 502 with an HTML page (text/html), not its JSON" in refused.value.message


def test_a_success_code_without_a_pay_link_is_refused():
    stub = Stub(b'{"code": 100, "msg": "ok", "data": []}')
    with serving(stub) as url, pytest.raises(GatewayError, match=r"no data\.pay_url"):
        GatePayClient(url, KEY, SECRET).create(price="1", type="alipay")


@contextmanager
def silent_server(says: bytes = b"") -> Iterator[int]:
    """Accepts connections and never answers (or says ``says`` at once and hangs up)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                connection = listener.accept()[0]
                if says:
                    connection.sendall(says)
                    connection.close()
                else:
                    held.append(connection)
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield listener.getsockname()[1]
    finally:
        stop.set()
        thread.join(2)
        for connection in held:
            connection.close()
        listener.close()


def test_a_timeout_a_refused_connection_and_a_tls_failure_each_say_what_happened():
    with silent_server() as port, pytest.raises(GatewayError) as waited:
        GatePayClient(f"http://127.0.0.1:{port}", KEY, SECRET, timeout=0.5).create(
            price="1", type="alipay"
        )
    assert (waited.value.code, waited.value.message) == (
        0,
        "no answer from the gateway within 0.5 s",
    )
    with pytest.raises(GatewayError) as refused:
        GatePayClient(f"http://127.0.0.1:{free_port()}", KEY, SECRET).create(
            price="1", type="alipay"
        )
    assert refused.value.message == "the gateway refused the connection"
    plain_http = b"HTTP/1.0 400 Bad Request\r\nContent-Length: 0\r\n\r\n"
    with silent_server(plain_http) as port, pytest.raises(GatewayError) as tls:
        GatePayClient(f"https://127.0.0.1:{port}", KEY, SECRET, timeout=5).create(
            price="1", type="alipay"
        )  # TLS spoken to a plain-HTTP server
    assert tls.value.message.startswith("TLS with the gateway failed: ")


def test_quick_pay_link():
    client = GatePayClient("https://gateway.example", KEY, SECRET)
    link = client.quick_pay_url(token="T0K", price="9.9", custom="u7", stable=True)
    assert link.startswith("https://gateway.example/pay/any?")
    assert parse_qs(urlsplit(link).query) == {
        "appkey": [KEY],
        "token": ["T0K"],
        "price": ["9.90"],
        "custom": ["u7"],
        "skin": ["0"],
        "stable": ["1"],
    }
    assert "price" not in client.quick_pay_url(token="T0K")


# -- the sandbox answers as the page documents ---------------------------------------


def sandbox(**options) -> tuple[Sandbox, Client]:
    gateway = Sandbox(
        appkey=KEY,
        appsecret=SECRET,
        notify_url="http://127.0.0.1:9/n",
        return_url="http://127.0.0.1:9/r",
        **options,
    )
    return gateway, Client(gateway)


SIGNED = {
    "anypay": ("price", "type", "out_order_id", "custom"),
    "cloudpay": ("price", "type", "out_order_id", "custom"),
    "grouppay": ("fields", "type", "out_order_id", "custom"),
    "stablepay": ("product_id", "type", "out_order_id", "custom"),
}
WHAT = {
    "anypay": {"price": "10.00"},
    "cloudpay": {"price": "10.00"},
    "grouppay": {"fields": "1:2"},
    "stablepay": {"product_id": "1"},
}


def create(client: Client, api: str = "anypay", drop=(), **overrides: str) -> dict:
    form = {"appkey": KEY, **WHAT[api], "type": "alipay", "out_order_id": "GPX1", "custom": "c"}
    form.update(overrides)
    if "sign" not in overrides:
        form["sign"] = sign(SIGNED[api], form)
    for name in drop:
        form.pop(name)
    answer = json.loads(client.post(f"/api/{api}/create", data=form).get_data())
    assert set(answer) >= {"code", "msg", "time"}
    assert answer["time"].isdigit()
    return answer


@pytest.mark.parametrize("api", ["anypay", "grouppay", "stablepay"])
def test_the_sandbox_success_answer_has_the_documented_shape(api):
    _, client = sandbox()
    answer = create(client, api)
    assert (answer["code"], answer["msg"]) == (100, "请求成功")
    assert set(answer) == {"code", "msg", "time", "data"}
    data = answer["data"]
    assert set(data) == {"pay_url", "api_url", "qrcode_url", "qrcode_body", "params"}
    assert data["api_url"] == data["pay_url"] + "?format=json"
    assert data["params"]["out_order_id"] == "GPX1"
    details = json.loads(client.get(urlsplit(data["api_url"]).path + "?format=json").get_data())
    assert details["code"] == 100
    assert details["data"]["status"] == "open"


def test_a_real_qr_code_of_the_pay_link():
    segno = pytest.importorskip("segno")
    _, client = sandbox()
    data = create(client)["data"]
    assert data["qrcode_body"] == segno.make(data["pay_url"], error="m").png_data_uri(scale=4)
    assert data["qrcode_body"].startswith("data:image/png;base64,")
    png = base64.b64decode(data["qrcode_body"].split(",", 1)[1])
    assert png.startswith(b"\x89PNG")
    image = client.get(urlsplit(data["qrcode_url"]).path)
    assert (image.status_code, image.content_type, image.get_data()) == (200, "image/png", png)


def test_without_segno_the_qr_code_is_empty_and_its_url_says_why(monkeypatch):
    monkeypatch.setitem(sys.modules, "segno", None)  # an import of segno now fails
    _, client = sandbox()
    data = create(client)["data"]
    assert data["qrcode_body"] == ""
    image = client.get(urlsplit(data["qrcode_url"]).path)
    assert image.status_code == 404
    assert b"gatepay_wsgi[sandbox]" in image.get_data()


def set_rules(gateway: Sandbox, **changes) -> None:
    for name, value in changes.items():
        setattr(gateway.rules, name, value)


@pytest.mark.parametrize(
    ("api", "code", "arrange"),
    [
        ("anypay", 101, lambda g, c: create(c, drop=("appkey",))),
        ("anypay", 102, lambda g, c: create(c, appkey="someone-else")),
        ("anypay", 103, lambda g, c: create(c, drop=("sign",))),
        ("anypay", 104, lambda g, c: create(c, sign="0" * 32)),
        ("anypay", 105, lambda g, c: create(c, drop=("price",))),
        ("anypay", 106, lambda g, c: create(c, timeout_url="http://evil")),
        ("anypay", 107, lambda g, c: (set_rules(g, api_open=False), create(c))[1]),
        ("anypay", 108, lambda g, c: (setattr(g, "return_url", ""), create(c))[1]),
        ("anypay", 109, lambda g, c: (setattr(g, "notify_url", ""), create(c))[1]),
        ("anypay", 110, lambda g, c: (set_rules(g, quota=0), create(c))[1]),
        ("anypay", 201, lambda g, c: create(c, price="10.001")),
        ("anypay", 202, lambda g, c: create(c, type="paypal")),
        ("anypay", 203, lambda g, c: (set_rules(g, closed_types={"alipay"}), create(c))[1]),
        ("anypay", 204, lambda g, c: (g.sessions.take_offline(1), create(c))[1]),
        ("grouppay", 201, lambda g, c: create(c, "grouppay", type="paypal")),
        (
            "grouppay",
            202,
            lambda g, c: (set_rules(g, closed_types={"alipay"}), create(c, "grouppay"))[1],
        ),
        ("grouppay", 203, lambda g, c: (g.sessions.take_offline(1), create(c, "grouppay"))[1]),
        ("grouppay", 204, lambda g, c: create(c, "grouppay", fields="2:4")),  # 3 in stock
        ("stablepay", 205, lambda g, c: create(c, "stablepay", product_id="4")),  # withdrawn
        ("stablepay", 206, lambda g, c: create(c, "stablepay", product_id="3")),  # sold out
    ],
)
def test_each_code_for_the_condition_the_page_names(api, code, arrange):
    gateway, client = sandbox()
    answer = arrange(gateway, client)
    expected = {"anypay": ANYPAY, "grouppay": GROUPPAY, "stablepay": STABLEPAY}[api][code][0]
    assert (answer["code"], answer["msg"]) == (code, expected)
    assert "data" not in answer


def test_the_quota_and_the_stock_are_used_up_by_orders():
    gateway, client = sandbox()
    set_rules(gateway, quota=1)
    assert create(client)["code"] == 100
    assert create(client, out_order_id="GPX2")["code"] == 110
    set_rules(gateway, quota=None)
    assert create(client, "stablepay", product_id="2", out_order_id="S1")["code"] == 100
    assert create(client, "grouppay", fields="2:2", out_order_id="S2")["code"] == 100
    assert create(client, "stablepay", product_id="2", out_order_id="S3")["code"] == 206


def test_a_product_named_twice_in_a_group_counts_against_its_stock_once_in_total():
    gateway, client = sandbox()  # product 2: 3 in stock; "2:2,2:2" wants 4
    answer = create(client, "grouppay", fields="2:2,2:2", out_order_id="S1")
    assert answer["code"] == 204
    assert gateway.rules.products[2].stock == 3  # nothing taken by a refused order
    assert create(client, "grouppay", fields="2:1,2:2", out_order_id="S2")["code"] == 100
    assert gateway.rules.products[2].stock == 0


def test_the_console_settings_reach_each_code():
    _, client = sandbox()
    client.post("/console/settings", data={"notify_url": "", "return_url": "", "quota": "0"})
    assert create(client)["code"] == 107  # the API switch is off (checkbox not sent)
    client.post("/console/settings", data={"api_open": "on", "type_alipay": "on"})
    assert create(client)["code"] == 108
    console = client.get("/console").get_data(as_text=True)
    assert "Quick-pay link" in console
    assert "not on sale" in console


def test_a_stablepay_order_returns_with_its_product_id(tmp_path):
    gateway, client = sandbox()
    data = create(client, "stablepay", product_id="1")["data"]
    order_id = int(data["pay_url"].rsplit("/", 1)[1])
    order = gateway.orders[order_id]
    assert (order.price, order.product_id) == ("10.00", "1")
    location = gateway.return_url_for(order)
    query = parse_qs(urlsplit(location).query)
    assert query["product_id"] == ["1"]
    fields = {
        name: query[name][0] for name in ("price", "type", "product_id", "order_id", "out_order_id")
    }
    assert query["sign"] == [
        sign(("price", "type", "product_id", "order_id", "out_order_id"), fields)
    ]


def test_the_quick_pay_link_opens_an_order():
    gateway, client = sandbox(sessions=CloudSessions())
    link = GatePayClient("http://sandbox", KEY, SECRET).quick_pay_url(
        token=gateway.quick_pay_token, price="12.5", custom="u7", stable=True
    )
    response = client.get(urlsplit(link).path + "?" + urlsplit(link).query)
    assert response.status_code == 303
    order = gateway.orders[int(response.headers["Location"].rsplit("/", 1)[1])]
    assert (order.price, order.custom) == ("12.50", "u7")
    assert "Link not valid" in client.get("/pay/any?appkey=demo-key&token=wrong").get_data(
        as_text=True
    )
    form = client.get(f"/pay/any?appkey={KEY}&token={gateway.quick_pay_token}")
    assert "Amount" in form.get_data(as_text=True)


def test_the_shop_works_unchanged_against_the_sandbox_over_http(tmp_path):
    gateway, _ = sandbox()
    with serving(gateway) as url:
        payment = GatePayClient(url, KEY, SECRET).create(price="3", type="alipay")
        status, body, _ = http("GET", payment.api_url)
    assert status == 200
    assert json.loads(body)["data"]["price"] == "3.00"

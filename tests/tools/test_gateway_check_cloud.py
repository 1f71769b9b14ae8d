"""The payment-result query and the cloud create API, and every code of every API, as the
gateway's newest page (api.md, cloud.md) documents them: the client against a stub that
answers the page's own examples byte for byte, and the sandbox through a real server.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest

from gatepay_wsgi.client import GatePayClient, GatewayError, OrderCheck
from gatepay_wsgi.errors import ConfigError
from gatepay_wsgi.gateway_codes import (
    ANYPAY,
    CHECK,
    CLOUDPAY,
    CODES,
    GROUPPAY,
    STABLEPAY,
    explain,
    message,
)
from gatepay_wsgi.sandbox import Sandbox

from ..gateway import md5
from ..servers import free_port, http, serving
from .test_gateway_api import KEY, SECRET, Stub, create, sandbox, set_rules, silent_server

PAGE = Path(__file__).parent / "gateway_page"  # the page's examples, copied byte for byte


def page_example(name: str) -> bytes:
    return (PAGE / f"{name}.json").read_bytes()


# -- the page's tables, as gateway_codes has them -------------------------------------

#: Each API's own codes (201 on), typed from the newest api.md.
PAGE_CODES = {
    "anypay": "价格无效 无效的支付方式 当前支付方式已关闭 无可用支付方式 "
    "分类创建错误 产品创建错误 库存创建错误 队列创建错误",
    "cloudpay": "价格无效 无效的支付方式 当前支付方式已关闭 无可用支付方式 "
    "分类创建错误 产品创建错误 库存创建错误 队列创建错误 非代理用户",
    "grouppay": "无效的支付方式 当前支付方式已关闭 无可用支付方式 组合内无有效库存商品 "
    "分类创建错误 产品创建错误 库存创建错误 队列创建错误",
    "stablepay": "无效的支付方式 当前支付方式已关闭 无可用支付方式 队列创建错误 "
    "产品不可获得 当前产品无库存",
    "check": "订单不存在",
}


@pytest.mark.parametrize("api", list(PAGE_CODES))
def test_every_api_has_exactly_the_pages_codes_in_its_words(api):
    own = {code: words for code, (words, _) in CODES[api].items() if code > 200}
    assert own == dict(enumerate(PAGE_CODES[api].split(), start=201))
    shared = {code: words for code, (words, _) in CODES[api].items() if code < 200}
    assert (shared[101], shared[110], shared[199]) == ("秘钥必须", "套餐已超额", "未知错误")
    assert shared[103] == "秘钥已过期 / 签名必须"  # the page lists both under 103
    assert set(shared) == {*range(101, 111), 199}
    for code in CODES[api]:
        assert message(api, code) == CODES[api][code][0]
        assert explain(api, code) == CODES[api][code][1]
    assert explain(api, 250) == f"code 250 is not documented for {api}"


# -- the client against the page's own examples ---------------------------------------


@pytest.mark.parametrize(
    ("example", "method", "arguments"),
    [
        ("anypay", "create", {"price": "0.82"}),
        ("grouppay", "create_group", {"products": "8:2,7:3,10:1"}),
        ("stablepay", "create_for_product", {"product_id": 8}),
    ],
)
def test_the_pages_success_examples_are_read_as_they_are_printed(example, method, arguments):
    """anypay's example ends ``params`` with a comma (not strict JSON): read all the same."""
    body = page_example(example)
    with serving(Stub(body)) as url:
        client = GatePayClient(url, KEY, SECRET)
        payment = getattr(client, method)(type="wechat", out_order_id="X1", **arguments)
    assert payment.pay_url.startswith("https://gatepay.io/pay/api?id=")
    assert payment.qrcode_body.startswith("data:image/")
    assert payment.answer["time"].isdigit()
    assert payment.params["type"] == "wechat"


def test_the_cloud_api_posts_to_the_cloud_host_signed_as_anypay():
    main_stub = Stub(b"{}")
    with serving(Stub(page_example("cloudpay"))) as cloud, serving(main_stub) as main:
        client = GatePayClient(main, KEY, SECRET, cloud_url=cloud + "/")
        payment = client.create_cloud(price="0.82", type="alipay", custom="test_user")
    assert payment.pay_url == "https://cloud.gatepay.io/pay/api?id=5cc75a6a0b418&type=alipay"
    assert payment.qrcode_body == ""  # the cloud API sends no picture
    assert payment.params["custom"] == "test_user"
    assert not main_stub.requests  # the cloud host only
    with serving(stub := Stub(page_example("cloudpay_cloud_md"))) as cloud:
        GatePayClient("https://gatepay.io", KEY, SECRET, cloud_url=cloud).create_cloud(
            price="10", type="alipay", out_order_id="GPC1"
        )
    ((path, form),) = stub.requests
    assert path == "/api/cloudpay/create"
    inputs = KEY + "10.00" + "alipay" + "GPC1" + ""
    assert form == {
        "appkey": KEY,
        "price": "10.00",
        "type": "alipay",
        "out_order_id": "GPC1",
        "custom": "",
        "sign": md5(md5(inputs) + SECRET),
    }


def test_a_trailing_comma_is_dropped_only_outside_the_strings():
    body = (
        b'{"code": 100, "msg": "ok", "data": {"pay_url": "https://g/p", '
        b'"params": {"custom": "say \\"a,}\\" ,]", "out_order_id": "X1",},}}'
    )
    with serving(Stub(body)) as url:
        payment = GatePayClient(url, KEY, SECRET).create(price="1", type="alipay")
    assert payment.params == {"custom": 'say "a,}" ,]', "out_order_id": "X1"}


def test_the_cloud_api_needs_its_host():
    client = GatePayClient("https://gatepay.io", KEY, SECRET)
    with pytest.raises(ConfigError, match="cloud_url"):
        client.create_cloud(price="1", type="alipay")
    with pytest.raises(ConfigError, match="cloud_url must be an http"):
        GatePayClient("https://gatepay.io", KEY, SECRET, cloud_url="file:///etc/passwd")


def test_check_reads_the_pages_example_and_sends_the_pages_sign():
    with serving(stub := Stub(page_example("check"))) as url:
        found = GatePayClient(url, KEY, SECRET).check("5cc75a6a0b418")
    assert found == OrderCheck(
        order_id=522,
        order_name="任意金额支付:1.88元",
        order_price=Decimal("1.88"),
        order_type="alipay",
        order_status="expired",
        answer=json.loads(page_example("check")),
    )
    assert found.expired
    ((path, fields),) = stub.requests
    assert path == "/api/order/check"
    assert fields == {
        "appkey": KEY,
        "out_order_id": "5cc75a6a0b418",
        "sign": md5(md5(KEY + "5cc75a6a0b418") + SECRET),
    }


@pytest.mark.parametrize(
    ("method", "arguments", "codes"),
    [
        ("create", {"price": "10.00", "type": "alipay"}, ANYPAY),
        ("create_group", {"products": {1: 1}, "type": "alipay"}, GROUPPAY),
        ("create_for_product", {"product_id": 1, "type": "alipay"}, STABLEPAY),
        ("create_cloud", {"price": "10.00", "type": "alipay"}, CLOUDPAY),
        ("check", {"out_order_id": "GP1"}, CHECK),
    ],
)
def test_every_documented_code_of_every_api_is_a_gateway_error_in_its_words(
    method, arguments, codes
):
    for code, (words, english) in codes.items():
        body = json.dumps({"code": code, "msg": words, "time": "1557056209"}, ensure_ascii=False)
        with serving(Stub(body.encode())) as url:
            client = GatePayClient(url, KEY, SECRET, cloud_url=url)
            with pytest.raises(GatewayError) as refused:
                getattr(client, method)(**arguments)
        assert (refused.value.code, refused.value.message) == (code, words)
        assert refused.value.explanation == english


def check_answer(data: object) -> bytes:
    return json.dumps({"code": 100, "msg": "请求成功", "time": "1", "data": data}).encode()


GOOD = {
    "order_id": 522,
    "order_name": "n",
    "order_price": "1.88",
    "order_type": "alipay",
    "order_status": "expired",
}


@pytest.mark.parametrize(
    "data",
    [
        None,
        [],
        {**GOOD, "order_id": None},
        {**GOOD, "order_id": True},
        {**GOOD, "order_id": 0},
        {**GOOD, "order_id": "52a"},
        {**GOOD, "order_id": 5.5},
        {**GOOD, "order_price": "1.888"},
        {**GOOD, "order_price": "-1.00"},
        {**GOOD, "order_price": "NaN"},
        {**GOOD, "order_price": True},
        {**GOOD, "order_price": None},
        {**GOOD, "order_status": None},
        {**GOOD, "order_name": 7},
        {k: v for k, v in GOOD.items() if k != "order_type"},
    ],
)
def test_a_check_answer_that_is_not_the_documented_one_is_never_an_order(data):
    with serving(Stub(check_answer(data))) as url, pytest.raises(GatewayError) as refused:
        GatePayClient(url, KEY, SECRET).check("GP1")
    assert refused.value.code == 0
    assert "success answer has no" in refused.value.message


def test_a_status_the_page_does_not_document_is_kept_and_never_read_as_expired():
    answer = check_answer({**GOOD, "order_id": "523", "order_price": 2, "order_status": "已支付"})
    with serving(Stub(answer)) as url:
        found = GatePayClient(url, KEY, SECRET).check("GP1")
    assert (found.order_id, found.order_price, found.order_status) == (523, Decimal(2), "已支付")
    assert not found.expired
    assert not hasattr(found, "paid")  # the page names no paid status: none is guessed


def test_check_says_why_no_answer_came_and_refuses_an_empty_id():
    page = b"<html><h1>502 Bad Gateway</h1></html>"
    with (
        serving(Stub(page, "502 Bad Gateway", "text/html")) as url,
        pytest.raises(GatewayError, match="HTTP 502 with an HTML page"),
    ):
        GatePayClient(url, KEY, SECRET).check("GP1")
    with silent_server() as port, pytest.raises(GatewayError, match=r"within 0\.5 s"):
        GatePayClient(f"http://127.0.0.1:{port}", KEY, SECRET, timeout=0.5).check("GP1")
    with pytest.raises(GatewayError, match="refused the connection"):
        GatePayClient(f"http://127.0.0.1:{free_port()}", KEY, SECRET).check("GP1")
    with pytest.raises(ValueError, match="out_order_id"):
        GatePayClient("http://127.0.0.1:1", KEY, SECRET).check("")


# -- the sandbox, through a real server -----------------------------------------------


def real_sandbox(**options) -> Sandbox:
    return Sandbox(
        appkey=KEY,
        appsecret=SECRET,
        notify_url="http://127.0.0.1:9/n",
        return_url="http://127.0.0.1:9/r",
        retries=0,
        notify_timeout=0.5,
        **options,
    )


def test_the_sandbox_answers_the_query_with_each_orders_state():
    gateway = real_sandbox()
    with serving(gateway) as url:
        client = GatePayClient(url, KEY, SECRET, cloud_url=url)
        paid = client.create(price="1.88", type="alipay")
        timed_out = client.create_for_product(product_id=1, type="wechat")
        waiting = client.create_group(products={1: 2}, type="alipay")
        assert http("POST", paid.pay_url + "/pay")[0] == 303
        assert http("POST", timed_out.pay_url + "/timeout")[0] == 303
        first = client.check(paid.out_order_id)
        assert (first.order_name, first.order_price, first.order_type) == (
            "任意金额支付:1.88元",
            Decimal("1.88"),
            "alipay",
        )
        assert first.order_id == int(paid.pay_url.rsplit("/", 1)[1])
        assert first.order_status == "paid"
        expired = client.check(timed_out.out_order_id)
        assert (expired.order_status, expired.expired) == ("expired", True)
        assert expired.order_name == "固定商品支付:10.00元"
        assert client.check(waiting.out_order_id).order_status == "unpaid"
        with pytest.raises(GatewayError) as unknown:
            client.check("GPNEVERCREATED")
        assert (unknown.value.code, unknown.value.message) == (201, "订单不存在")
        with pytest.raises(GatewayError) as wrong_secret:
            GatePayClient(url, KEY, "not-the-secret").check(paid.out_order_id)
        assert (wrong_secret.value.code, wrong_secret.value.message) == (104, "无效的签名")
    gateway.close()


@pytest.mark.parametrize(
    ("code", "query"),
    [
        (101, "out_order_id=GP1&sign=x"),
        (102, "appkey=other&out_order_id=GP1&sign=x"),
        (103, f"appkey={KEY}&out_order_id=GP1"),
        (105, f"appkey={KEY}&sign=x"),
        (106, f"appkey={KEY}&out_order_id=GP1&sign=x&notify_url=http://evil"),
        (104, f"appkey={KEY}&out_order_id=GP1&sign=" + "0" * 32),
    ],
)
def test_each_query_code_for_the_condition_the_page_names(code, query):
    gateway = real_sandbox()
    with serving(gateway) as url:
        status, body, _ = http("GET", f"{url}/api/order/check?{query}")
    answer = json.loads(body)
    assert (status, answer["code"], answer["msg"]) == (200, code, message("check", code))
    assert "data" not in answer


def test_the_query_is_refused_while_the_api_is_switched_off():
    gateway = real_sandbox()
    set_rules(gateway, api_open=False)
    with serving(gateway) as url, pytest.raises(GatewayError) as refused:
        GatePayClient(url, KEY, SECRET).check("GP1")
    assert refused.value.code == 107


def test_the_sandbox_cloud_api_answers_as_its_page_shows():
    gateway = real_sandbox()
    with serving(gateway) as url:
        client = GatePayClient("https://gatepay.io", KEY, SECRET, cloud_url=url)
        payment = client.create_cloud(price="3.5", type="alipay", custom="test_user")
        assert set(payment.answer["data"]) == {"pay_url", "qrcode_url", "params"}
        assert payment.pay_url.startswith(url + "/pay/")
        order = gateway.orders[int(payment.pay_url.rsplit("/", 1)[1])]
        assert (order.price, order.name) == ("3.50", "任意金额支付:3.50元")
        set_rules(gateway, agent=False)
        with pytest.raises(GatewayError) as not_agent:
            client.create_cloud(price="3.5", type="alipay")
        assert (not_agent.value.code, not_agent.value.message) == (209, "非代理用户")


@pytest.mark.parametrize(
    ("api", "code", "arrange"),
    [
        ("cloudpay", 201, lambda g, c: create(c, "cloudpay", price="-1")),
        ("cloudpay", 202, lambda g, c: create(c, "cloudpay", type="paypal")),
        (
            "cloudpay",
            203,
            lambda g, c: (set_rules(g, closed_types={"alipay"}), create(c, "cloudpay"))[1],
        ),
        ("cloudpay", 204, lambda g, c: (g.sessions.take_offline(1), create(c, "cloudpay"))[1]),
        ("stablepay", 201, lambda g, c: create(c, "stablepay", type="paypal")),
        (
            "stablepay",
            202,
            lambda g, c: (set_rules(g, closed_types={"alipay"}), create(c, "stablepay"))[1],
        ),
        ("stablepay", 203, lambda g, c: (g.sessions.take_offline(1), create(c, "stablepay"))[1]),
    ],
)
def test_the_pay_type_codes_of_the_cloud_and_the_product_apis(api, code, arrange):
    gateway, client = sandbox()
    answer = arrange(gateway, client)
    assert (answer["code"], answer["msg"]) == (code, CODES[api][code][0])


@pytest.mark.parametrize(
    ("fault", "codes"),
    [
        ("category", {"anypay": 205, "grouppay": 205, "cloudpay": 205, "stablepay": 100}),
        ("product", {"anypay": 206, "grouppay": 206, "cloudpay": 206, "stablepay": 100}),
        ("stock", {"anypay": 207, "grouppay": 207, "cloudpay": 207, "stablepay": 100}),
        ("queue", {"anypay": 208, "grouppay": 208, "cloudpay": 208, "stablepay": 204}),
    ],
)
def test_the_gateways_own_faults_answer_each_apis_code_and_take_nothing(fault, codes):
    gateway, client = sandbox()
    client.post(
        "/console/settings",
        data={
            "api_open": "on",
            "type_alipay": "on",
            "type_wechat": "on",
            "agent": "on",
            "fault": fault,
            "notify_url": "http://127.0.0.1:9/n",
            "return_url": "http://127.0.0.1:9/r",
            "stock_2": "3",
        },
    )
    assert gateway.rules.fault == fault
    for api, code in codes.items():
        what = {"grouppay": {"fields": "2:1"}, "stablepay": {"product_id": "2"}}.get(api, {})
        answer = create(client, api, out_order_id=f"F-{api}", **what)
        assert answer["code"] == code, api
        if code != 100:
            assert answer["msg"] == CODES[api][code][0]
    taken = 1 if codes["stablepay"] == 100 else 0
    assert gateway.rules.products[2].stock == 3 - taken  # a fault takes no stock
    page = client.get("/console").get_data(as_text=True)
    assert f"<option value='{fault}' selected>" in page
    client.post("/console/settings", data={"fault": "not-a-fault"})
    assert (gateway.rules.fault, gateway.rules.agent) == ("", False)


def _break(gateway, method):
    def broken(*args, **kwargs):
        raise RuntimeError("the sandbox's own bug")

    setattr(gateway.book, method, broken)


CALLS = {
    "anypay": ("create", {"price": "10.00"}),
    "grouppay": ("create_group", {"products": {1: 1}}),
    "stablepay": ("create_for_product", {"product_id": 1}),
    "cloudpay": ("create_cloud", {"price": "10.00"}),
}


@pytest.mark.parametrize("api", list(CALLS))
@pytest.mark.parametrize(
    ("code", "arrange", "credentials"),
    [
        (102, None, ("someone-else", SECRET)),
        (104, None, (KEY, "not-the-secret")),
        (107, lambda g: set_rules(g, api_open=False), None),
        (108, lambda g: setattr(g, "return_url", ""), None),
        (109, lambda g: setattr(g, "notify_url", ""), None),
        (110, lambda g: set_rules(g, quota=0), None),
        (199, lambda g: _break(g, "open"), None),
        ("type_off", lambda g: set_rules(g, closed_types={"alipay"}), None),
        ("no_account", lambda g: g.sessions.take_offline(1), None),
        ("queue", lambda g: set_rules(g, fault="queue"), None),
    ],
)
def test_the_client_meets_each_code_the_sandbox_answers_through_a_real_server(
    api, code, arrange, credentials
):
    """What a shop written against the real gateway sees: the sandbox's code, in the
    page's words, as a ``GatewayError`` from the same client."""
    expected = {
        "type_off": {"anypay": 203, "cloudpay": 203}.get(api, 202),
        "no_account": {"anypay": 204, "cloudpay": 204}.get(api, 203),
        "queue": {"stablepay": 204}.get(api, 208),
    }.get(code, code)
    gateway = real_sandbox()
    if arrange is not None:
        arrange(gateway)
    key, secret = credentials or (KEY, SECRET)
    method, arguments = CALLS[api]
    with serving(gateway) as url:
        client = GatePayClient(url, key, secret, cloud_url=url)
        with pytest.raises(GatewayError) as refused:
            getattr(client, method)(type="alipay", **arguments)
    assert (refused.value.code, refused.value.message) == (expected, message(api, expected))
    assert refused.value.explanation == explain(api, expected)
    gateway.close()


def test_the_query_answers_199_for_the_sandboxs_own_failure():
    gateway = real_sandbox()
    _break(gateway, "newest_for")
    with serving(gateway) as url, pytest.raises(GatewayError) as refused:
        GatePayClient(url, KEY, SECRET).check("GP1")
    assert (refused.value.code, refused.value.message) == (199, "未知错误")


# -- what the spec-only suite found -----------------------------------------------------


@pytest.mark.parametrize("api", ["anypay", "grouppay", "stablepay", "cloudpay"])
def test_custom_is_required_though_it_may_be_empty(api):
    _, client = sandbox()
    assert create(client, api, drop=("custom",))["code"] == 105  # 必选: absent is missing
    assert create(client, api, custom="", out_order_id="E1")["code"] == 100


def test_an_orders_own_urls_are_taken_where_the_page_lists_them():
    received = []

    def shop_app(environ, start_response):
        received.append(environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"success"]

    gateway = real_sandbox()
    gateway.notify_url, gateway.return_url = "", ""  # the console has none: 108, 109 ...
    with serving(shop_app) as shop_url, serving(gateway) as url:
        client = GatePayClient(url, KEY, SECRET, cloud_url=url)
        with pytest.raises(GatewayError) as no_urls:
            client.create(price="1", type="alipay")
        assert no_urls.value.code == 108
        own = {"notify_url": shop_url + "/own/notify", "return_url": shop_url + "/own/return"}
        for method, arguments in (
            ("create", {"price": "1"}),
            ("create_group", {"products": {1: 1}}),
            ("create_for_product", {"product_id": 1}),
        ):
            payment = getattr(client, method)(type="alipay", **arguments, **own)
            status, _, location = http("POST", payment.pay_url + "/pay")
            assert status == 303
            assert location.startswith(shop_url + "/own/return?")
        assert received == ["/own/notify"] * 3
        with pytest.raises(TypeError):  # the cloud API's page lists no URLs: no such options
            client.create_cloud(price="1", type="alipay", **own)


def test_the_cloud_api_refuses_an_orders_urls_and_the_others_a_url_it_cannot_use():
    _, client = sandbox()
    assert create(client, "cloudpay", notify_url="http://127.0.0.1:9/n")["code"] == 106
    answer = create(client, "anypay", notify_url="file:///etc/passwd")
    assert (answer["code"], answer["msg"]) == (199, "未知错误")
    with pytest.raises(ValueError, match="notify_url"):
        GatePayClient("https://gatepay.io", KEY, SECRET).create(
            price="1", type="alipay", notify_url="file:///etc/passwd"
        )


@pytest.mark.parametrize("code", ["100", 100])
def test_the_success_code_is_the_number_100_or_its_digits(code):
    body = json.dumps({"code": code, "msg": "请求成功", "data": {"pay_url": "https://g/p"}})
    with serving(Stub(body.encode())) as url:
        payment = GatePayClient(url, KEY, SECRET).create(price="1", type="alipay")
    assert payment.pay_url == "https://g/p"


@pytest.mark.parametrize("code", [100.0, "1_00", " 100", "100 ", "0100", True, "+100"])
def test_a_code_that_only_looks_like_100_is_not_the_gateways_answer(code):
    body = json.dumps({"code": code, "msg": "请求成功", "data": {"pay_url": "https://g/p"}})
    with serving(Stub(body.encode())) as url, pytest.raises(GatewayError) as refused:
        GatePayClient(url, KEY, SECRET).create(price="1", type="alipay")
    assert refused.value.code == 0


@pytest.mark.parametrize("status", ["500 Internal Server Error", "404 Not Found"])
def test_a_success_under_an_error_status_is_no_success_and_a_refusal_still_is_one(status):
    with serving(Stub(page_example("check"), status)) as url, pytest.raises(GatewayError) as bad:
        GatePayClient(url, KEY, SECRET).check("GP1")
    assert (bad.value.code, bad.value.message) == (
        0,
        f"the gateway answered HTTP {status[:3]} with code 100",
    )
    refusal = json.dumps({"code": 201, "msg": "订单不存在"}, ensure_ascii=False).encode()
    with serving(Stub(refusal, status)) as url, pytest.raises(GatewayError) as refused:
        GatePayClient(url, KEY, SECRET).check("GP1")
    assert refused.value.code == 201


@pytest.mark.parametrize(("given", "read"), [("522", 522), (522, 522)])
def test_the_order_id_is_a_number_or_its_digits(given, read):
    with serving(Stub(check_answer({**GOOD, "order_id": given}))) as url:
        assert GatePayClient(url, KEY, SECRET).check("GP1").order_id == read


@pytest.mark.parametrize(
    "data",
    [{**GOOD, "order_id": "0522"}, {**GOOD, "order_price": "01.88"}, {**GOOD, "order_id": " 5"}],
)
def test_a_number_with_a_leading_zero_or_a_space_is_not_read(data):
    with serving(Stub(check_answer(data))) as url, pytest.raises(GatewayError) as refused:
        GatePayClient(url, KEY, SECRET).check("GP1")
    assert refused.value.code == 0


def test_message_knows_the_success_and_refuses_an_unlisted_code():
    assert [message(api, 100) for api in CODES] == ["请求成功"] * len(CODES)
    with pytest.raises(KeyError):
        message("anypay", 250)
    with pytest.raises(KeyError):
        message("paypal", 100)

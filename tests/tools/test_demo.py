"""The demo over real HTTP: the shop and the sandbox gateway, buying, paying, timing out."""

from __future__ import annotations

import html
import json
import re
import urllib.request

import pytest

from gatepay_wsgi.client import (
    GatePayClient,
    GatewayError,
)

from ..gateway import order_id_of
from ..servers import buy, http


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


def test_create_without_an_out_order_id_generates_one(demo):
    client = GatePayClient(demo.gateway_url, demo.appkey, demo.appsecret)
    payment = client.create(price="3.00", type="alipay", custom="buyer 7")
    assert re.fullmatch(r"GP[A-Z2-7]{12}[A-Z]", payment.out_order_id)
    assert f"<code>{payment.out_order_id}</code>" in http("GET", payment.pay_url)[1]
    given = client.create(price="3.00", type="alipay", out_order_id="MINE-1")
    assert given.out_order_id == "MINE-1"


def _get(url: str, **headers: str) -> tuple[str, str]:
    """GET with headers: (body, Set-Cookie)."""
    request = urllib.request.Request(url, headers=headers)
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.read().decode(), response.headers.get("Set-Cookie") or ""


def test_the_shop_speaks_the_buyers_language_and_remembers_a_choice(demo):
    chinese, _ = _get(demo.shop_url + "/", **{"Accept-Language": "zh-CN,zh;q=0.9"})
    assert "<html lang=zh-CN>" in chinese
    assert "购买一壶茶（10.00 元）" in chinese
    english, _ = _get(demo.shop_url + "/", **{"Accept-Language": "en-US"})
    assert "Buy A pot of tea for 10.00 yuan" in english
    switched, cookie = _get(demo.shop_url + "/?lang=zh", **{"Accept-Language": "en-US"})
    assert "演示商店" in switched
    assert cookie.startswith("demo_shop_lang=zh")
    kept, _ = _get(
        demo.shop_url + "/", **{"Accept-Language": "en-US", "Cookie": "demo_shop_lang=zh"}
    )
    assert "演示商店" in kept


def test_an_order_the_gateway_refused_says_so_instead_of_pending_for_ever(demo):
    demo.sandbox.sessions.take_offline(1)  # no alipay account online: code 204
    status, page, _ = http("POST", demo.shop_url + "/orders", {"product": "tea", "type": "alipay"})
    assert status == 400
    assert "refused this order" in page
    home, _ = _get(demo.shop_url + "/")
    assert "<b>refused</b>" in home
    assert "<b>pending</b>" not in home
    (out_order_id,) = re.findall(r"/orders/(GP\w+)'", home)
    order, _ = _get(f"{demo.shop_url}/orders/{out_order_id}")
    assert "<b>refused</b> by the payment service (" in order
    assert "204: no account of this pay type is online" in order
    assert "nothing was paid" in order


def test_the_timeout_page_tells_the_buyer_what_to_do(demo):
    pay_url = buy(demo)
    _, _, closed = http("POST", pay_url + "/timeout")
    page, _ = _get(closed)
    assert "If you paid, you need do nothing" in page
    assert "If you did not pay, buy again" in page
    chinese, _ = _get(closed, **{"Accept-Language": "zh"})
    assert "支付已超时" in chinese
    assert "如果您已付款，无需任何操作" in chinese


def test_the_language_switch_of_a_return_page_keeps_its_signed_link(demo):
    pay_url = buy(demo)
    _, _, back = http("POST", pay_url + "/pay")
    page, _ = _get(back)
    switch = re.search(r"<nav><a href='([^']+)'>中文</a>", page).group(1)
    assert switch.startswith("/gatepay/return?")
    switched, cookie = _get(demo.shop_url + html.unescape(switch))
    assert "谢谢" in switched  # still a verified return, now in Chinese
    assert "已支付" in switched
    assert cookie.startswith("demo_shop_lang=zh")


def test_the_gateways_words_and_an_order_id_are_shown_as_escapes(tmp_path):
    from werkzeug.test import Client

    from gatepay_wsgi.demo.shop import make_shop
    from gatepay_wsgi.demo.store import Orders

    database = str(tmp_path / "shop.sqlite3")
    shop = Client(make_shop(database=database, inbox="memory://", appkey="k", appsecret="s"))
    bought = shop.post("/orders", data={"product": "tea", "type": "alipay"})
    out_order_id = bought.headers["Location"].rsplit("/", 1)[1]
    Orders(database).refuse(out_order_id, "\x1b[2J204: \u202eenilffo\x9b")
    for path in ("/", f"/orders/{out_order_id}"):
        page = shop.get(path).get_data(as_text=True)
        assert not {"\x1b", "\u202e", "\x9b"} & set(page), path
    order = shop.get(f"/orders/{out_order_id}").get_data(as_text=True)
    assert "(\\x1b[2J204: \\u202eenilffo\\x9b)" in order

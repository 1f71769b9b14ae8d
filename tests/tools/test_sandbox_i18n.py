"""The sandbox's pages in Chinese and English, on a phone's width (issue 16).

The language follows ``Accept-Language`` (Chinese for ``zh*``, else English) until a
``?lang=`` link picks one; the cookie it sets wins from then on. English stays word for
word as it was; every page links to both languages and carries the viewport tag.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
from werkzeug.test import Client

from gatepay_wsgi.sandbox import CloudSessions, Sandbox
from gatepay_wsgi.signing import create_sign

KEY, SECRET = "demo-key", "demo-secret"
ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}
EN = {"Accept-Language": "en-US,en;q=0.9"}
COOKIE = "gatepay_sandbox_lang"

#: The Chinese console's main labels, and the English words they replace.
CONSOLE_ZH = ["控制台", "云端会话", "积分：", "扫码上线", "订单", "设置", "保存", "快捷收款链接"]
CONSOLE_EN_ONLY = [
    "<h1>Console</h1>",
    "<h2>Sessions</h2>",
    "<h2>Orders</h2>",
    "<h2>Settings</h2>",
    "Points:",
    "Scan to go online",
    "Take offline",
    "I have received this payment",
    "Notify URL",
    "Return URL",
    "create API on",
    "pay types on",
    "not on sale",
    "Quick-pay link",
    "Merchant appkey",
    "shop&#39;s id",
    ">Save<",
    "GatePay sandbox",
]


@pytest.fixture
def gateway() -> Iterator[Sandbox]:
    sandbox = Sandbox(
        appkey=KEY,
        appsecret=SECRET,
        notify_url="http://127.0.0.1:9/n",  # nothing listens: connection refused
        return_url="http://127.0.0.1:9/r",
        retries=0,
        notify_timeout=2,
        sessions=CloudSessions(),
    )
    yield sandbox
    sandbox.close()


def create(client: Client, out_order_id: str = "GP1", price: str = "10.00") -> int:
    form = {"appkey": KEY, "price": price, "type": "alipay", "out_order_id": out_order_id}
    form.update(custom="c", sign=create_sign({**form, "custom": "c"}, KEY, SECRET))
    answer = json.loads(client.post("/api/anypay/create", data=form).get_data())
    assert answer["code"] == 100, answer
    return int(answer["data"]["pay_url"].rsplit("/", 1)[1])


def text(client: Client, path: str, headers: dict[str, str] | None = None) -> str:
    response = client.get(path, headers=headers or {})
    assert response.status_code == 200, response.status
    return response.get_data(as_text=True)


# -- the language of each page ---------------------------------------------------------


def test_the_pay_page_is_in_chinese_for_a_chinese_browser(gateway):
    client = Client(gateway)
    order_id = create(client)
    page = text(client, f"/pay/{order_id}", ZH)
    assert "<html lang=zh-CN>" in page
    assert "<title>支付 10.00 元（支付宝）</title>" in page
    assert "<button id=pay>支付 10.00 元（支付宝）</button>" in page
    assert "<button id=timeout>让订单超时</button>" in page
    assert "网关订单" in page
    for english in ("Pay 10.00", "Let it time out", "at the shop", "gateway order", "yuan"):
        assert english not in page


@pytest.mark.parametrize("accept", [None, "en-US,en;q=0.9", "fr-FR,de;q=0.8", "zh;q=0"])
def test_the_pay_page_is_in_english_otherwise_word_for_word(gateway, accept):
    client = Client(gateway)
    order_id = create(client)
    page = text(client, f"/pay/{order_id}", {"Accept-Language": accept} if accept else {})
    assert "<html lang=en>" in page
    assert "<title>Pay 10.00 yuan (alipay)</title>" in page
    assert "<button id=pay>Pay 10.00 yuan (alipay)</button>" in page
    assert "<button id=timeout>Let it time out</button>" in page
    assert f"Order <code>GP1</code> at the shop, gateway order {order_id}." in page
    assert "支付宝" not in page
    assert "让订单超时" not in page


def test_the_closed_and_waiting_pages_follow_the_language(gateway):
    client = Client(gateway)
    closed, paid = create(client, "GP1"), create(client, "GP2", "20.00")
    client.post(f"/pay/{closed}/timeout")
    assert "此订单已超时，未支付。" in text(client, f"/pay/{closed}", ZH)
    assert "This order timed out unpaid." in text(client, f"/pay/{closed}", EN)
    client.post(f"/pay/{paid}/pay")  # the shop cannot be reached: the page waits
    waiting = text(client, f"/pay/{paid}", ZH)
    assert "<title>已支付：等待商店确认</title>" in waiting
    assert "您已支付 20.00 元（支付宝）" in waiting
    assert "You paid" not in waiting
    assert "You paid 20.00 yuan (alipay). The shop has not confirmed yet (notify 1 of 1)" in text(
        client, f"/pay/{paid}", EN
    )


def test_the_quick_pay_pages_follow_the_language(gateway):
    client = Client(gateway)
    form = text(client, f"/pay/any?appkey={KEY}&token={gateway.quick_pay_token}", ZH)
    assert "金额（元）" in form
    assert "<option value=alipay>支付宝</option>" in form
    assert "<button id=quick-pay>继续</button>" in form
    assert "Amount (yuan)" not in form
    assert "链接无效" in text(client, "/pay/any?appkey=demo-key&token=wrong", ZH)
    assert "Link not valid" in text(client, "/pay/any?appkey=demo-key&token=wrong", EN)


def test_the_console_is_in_chinese_with_no_english_labels_left(gateway):
    client = Client(gateway)
    order_id = create(client)
    client.post(f"/console/{order_id}/resend")  # paid by hand; the notify is refused
    page = text(client, "/console", ZH)
    assert "<html lang=zh-CN>" in page
    for label in CONSOLE_ZH:
        assert label in page, label
    for english in CONSOLE_EN_ONLY:
        assert english not in page, english
    assert f"<button id=resend-{order_id}>我已收到这笔付款</button>" in page
    assert "<td class=state>在线</td>" in page
    assert "<td class=status>已支付</td>" in page
    assert "手动：连接被拒绝" in page  # the notify's kind and why it got no answer
    assert "manual: connection refused" not in page
    for element in ("id=points", "id=scan", "id=save-settings", f"id=order-{order_id}"):
        assert element in page


def test_the_english_console_keeps_its_words(gateway):
    client = Client(gateway)
    order_id = create(client)
    client.post(f"/console/{order_id}/resend")
    page = text(client, "/console", EN)
    assert "<html lang=en>" in page
    for english in CONSOLE_EN_ONLY:
        assert english in page, english
    assert "Points: <b id=points>1000</b> (100 points = 1 yuan; a scan costs 200)" in page
    assert "manual: connection refused" in page
    assert "<td class=state>online</td>" in page
    for chinese in ("控制台", "云端会话", "我已收到这笔付款", "设置"):
        assert chinese not in page


def test_the_gateways_own_words_stay_as_they_are(gateway):
    client = Client(gateway)
    settings = {"notify_url": "", "return_url": "", "api_open": "on", "type_alipay": "on"}
    client.post("/console/settings?lang=en", data=settings)
    form = {"appkey": KEY, "price": "1", "type": "alipay", "out_order_id": "X", "custom": ""}
    form["sign"] = create_sign(form, KEY, SECRET)
    answer = json.loads(
        client.post("/api/anypay/create", data=form, headers=EN).get_data(as_text=True)
    )
    assert answer["code"] in (108, 109)
    assert re.search(r"[\u4e00-\u9fff]", answer["msg"])  # Chinese, whatever the browser


# -- choosing a language: ?lang= and its cookie ----------------------------------------


def test_lang_overrides_the_browser_and_its_cookie_wins_afterwards(gateway):
    client = Client(gateway)
    chosen = client.get("/console?lang=zh", headers=EN)
    assert "<h1>控制台</h1>" in chosen.get_data(as_text=True)
    (header,) = chosen.headers.getlist("Set-Cookie")
    assert header.startswith(f"{COOKIE}=zh;")
    assert "Path=/" in header
    assert "SameSite=Lax" in header
    cookie = client.get_cookie(COOKIE)
    assert cookie is not None
    assert cookie.value == "zh"
    # From now on Chinese, though the browser asks for English, on every page.
    assert "<h1>控制台</h1>" in text(client, "/console", EN)
    order_id = create(client)
    assert "让订单超时" in text(client, f"/pay/{order_id}", EN)
    # And back: English, though the browser asks for Chinese.
    back = client.get(f"/pay/{order_id}?lang=en", headers=ZH)
    assert "Let it time out" in back.get_data(as_text=True)
    assert back.headers["Set-Cookie"].startswith(f"{COOKIE}=en;")
    assert "<h1>Console</h1>" in text(client, "/console", ZH)


def test_an_unknown_lang_is_ignored_and_sets_no_cookie(gateway):
    client = Client(gateway)
    response = client.get("/console?lang=fr", headers=ZH)
    assert "<h1>控制台</h1>" in response.get_data(as_text=True)
    assert "Set-Cookie" not in response.headers
    client.set_cookie(COOKIE, "xx")
    assert "<h1>Console</h1>" in text(client, "/console", EN)


def test_every_page_links_to_both_languages_keeping_its_query(gateway):
    client = Client(gateway)
    order_id = create(client)
    console = text(client, "/console", EN)
    assert "href='/console?lang=zh'" in console
    assert "href='/console?lang=en'" in console
    assert re.search(r">中文</a> \| <a [^>]*>English</a>", console)
    pay = text(client, f"/pay/{order_id}?lang=zh", EN)
    assert f"href='/pay/{order_id}?lang=en'" in pay
    quick = text(client, f"/pay/any?appkey={KEY}&token={gateway.quick_pay_token}", ZH)
    assert f"href='/pay/any?appkey={KEY}&amp;token={gateway.quick_pay_token}&amp;lang=en'" in quick


def test_the_forms_redirect_as_before_and_land_in_the_chosen_language(gateway):
    client = Client(gateway)
    client.get("/console?lang=zh")
    order_id = create(client)
    paid = client.post(f"/pay/{order_id}/pay")
    assert (paid.status_code, paid.headers["Location"]) == (303, f"/pay/{order_id}")
    assert "已支付：等待商店确认" in text(client, paid.headers["Location"])
    saved = client.post("/console/settings", data={"notify_url": "", "api_open": "on"})
    assert (saved.status_code, saved.headers["Location"]) == (
        303,
        "/console?message=settings+saved",
    )
    assert "设置已保存" in text(client, saved.headers["Location"])
    refused = client.post("/console/sessions/scan", data={"type": "paypal"})
    assert refused.headers["Location"].startswith("/console?message=unknown+payment+type")
    assert "未知的支付方式" in text(client, refused.headers["Location"])


# -- the paid amount, the phone's width, escaping --------------------------------------


def test_the_console_shows_a_paid_amount_only_for_a_paid_order(gateway):
    client = Client(gateway)
    open_id, closed_id = create(client, "GP1"), create(client, "GP2")
    client.post(f"/pay/{closed_id}/timeout")
    for headers in (EN, ZH):
        page = text(client, "/console", headers)
        assert "(paid" not in page
        assert "实付" not in page
        row = re.search(rf"<tr id=order-{open_id}>.*?</tr>", page)
        assert row is not None
        assert "10.00" in row.group()
    paid_id = create(client, "GP3", "7.00")
    client.post(f"/console/{paid_id}/resend")
    english = text(client, "/console", EN)
    assert "7.00 (paid 7.00) alipay" in english
    assert english.count("(paid") == 1
    chinese = text(client, "/console", ZH)
    assert "7.00 （实付 7.00） 支付宝" in chinese
    assert chinese.count("实付") == 1


@pytest.mark.parametrize("headers", [EN, ZH])
def test_every_page_is_laid_out_for_a_phone(gateway, headers):
    client = Client(gateway)
    order_id = create(client)
    pages = [
        "/console",
        f"/pay/{order_id}",
        f"/pay/{order_id}?unwatched=1",
        f"/pay/any?appkey={KEY}&token={gateway.quick_pay_token}",
    ]
    for path in pages:
        page = text(client, path, headers)
        assert "<meta name=viewport content='width=device-width, initial-scale=1'>" in page
        assert "max-width:" in page
        assert "min-height:44px" in page  # buttons a finger can hit
        assert "PingFang SC" in page  # a Chinese font first on Apple phones
    console = text(client, "/console", headers)
    # Each table scrolls sideways in its own box, never widening the page.
    assert ".scroll{max-width:100%;overflow-x:auto" in console
    assert console.count("<div class=scroll><table>") == console.count("<table") == 3


def test_values_stay_escaped_in_chinese(gateway):
    client = Client(gateway)
    create(client, "<script>x</script>")
    page = text(client, "/console?message=<b>hi</b>", ZH)
    assert "<script>x" not in page
    assert "&lt;script&gt;x&lt;/script&gt;" in page
    assert "&lt;b&gt;hi&lt;/b&gt;" in page


def test_both_languages_have_every_text():
    from gatepay_wsgi.sandbox.texts import TEXTS

    assert TEXTS["zh"].keys() == TEXTS["en"].keys()
    # Every label the console shows reads differently in Chinese.
    same = [k for k in TEXTS["en"] if TEXTS["zh"][k] == TEXTS["en"][k]]
    assert same == []


def test_a_shops_id_and_a_notice_show_control_and_bidi_characters_as_escapes(gateway):
    client = Client(gateway)
    order_id = create(client, "GP\u202e00.01\x85")
    notice = urlencode({"message": "\x1b[2J\u2066hi\u2069"})
    hidden = {"\x1b", "\x85", "\u202e", "\u2066", "\u2069"}
    for path in ("/console?" + notice, f"/pay/{order_id}"):
        page = text(client, path, ZH)
        assert not hidden & set(page), path
        assert "GP\\u202e00.01\\x85" in page, path
    assert "\\x1b[2J\\u2066hi\\u2069" in text(client, "/console?" + notice)

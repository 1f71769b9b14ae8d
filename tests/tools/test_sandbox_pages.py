"""The sandbox's HTML (layout.py, pay_page.py, merchant_console.py): every value is escaped
as it is filled in, so none can open a tag."""

from __future__ import annotations

from decimal import Decimal
from html.parser import HTMLParser

import pytest
from markupsafe import Markup

from gatepay_wsgi.buyer_pages import LANGUAGES
from gatepay_wsgi.sandbox.cloud_sessions import CloudSessions
from gatepay_wsgi.sandbox.create import CreateRules, Product
from gatepay_wsgi.sandbox.layout import language_switch, page, say, type_name
from gatepay_wsgi.sandbox.merchant_console import (
    console_body,
    quick_pay_link,
    sessions_section,
    settings_form,
)
from gatepay_wsgi.sandbox.orders import OPEN, PAID, Attempt, AttemptKind, SandboxOrder
from gatepay_wsgi.sandbox.pay_page import pay_body, quick_pay_body, waiting_body

#: Breaks out of text, of a '...' and a "..." attribute, and of a comment.
HOSTILE = "'\"><script>alert(1)</script><img src=x onerror=alert(2)><!--"


class Parsed(HTMLParser):
    """The tags and attributes a browser would see, and the text and values as it reads them."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[str] = []
        self.attrs: list[tuple[str, str]] = []
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        self.attrs += [(name, value or "") for name, value in attrs]
        self.elements.append((tag, {name: value or "" for name, value in attrs}))

    def handle_data(self, data):
        self.text.append(data)

    def handle_comment(self, data):
        self.tags.append("!--")


def assert_inert(html: str, *, as_text: int = 0, as_value: int = 0) -> Parsed:
    """No script, img, comment or on* handler; HOSTILE read back whole where it was put."""
    parsed = Parsed(html)
    assert not {"script", "img", "!--"} & set(parsed.tags)
    assert not [name for name, _ in parsed.attrs if name.startswith("on")]
    assert "".join(parsed.text).count(HOSTILE) == as_text
    assert sum(value.count(HOSTILE) for _, value in parsed.attrs) == as_value
    return parsed


def order(status=PAID) -> SandboxOrder:
    hostile = SandboxOrder(7, HOSTILE, HOSTILE, HOSTILE, HOSTILE, HOSTILE, 0.0, status=status)
    hostile.attempts += [
        Attempt(0.0, AttemptKind.AUTO, 500, HOSTILE),
        Attempt(0.0, AttemptKind.RETRY, None, "", error="refused", error_words={"zh": HOSTILE}),
    ]
    return hostile


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_console_escapes_the_shops_values_and_the_notify_answers(lang):
    html = console_body(lang, HOSTILE, HOSTILE, [order()], Markup(""), Markup(""))
    # appkey, notify URL; shop's id, price, paid, type; the answer's body (and zh's error)
    assert_inert(html, as_text=7 + (lang == "zh"))
    assert ("refused" in html) is (lang == "en")  # the error in the page's words if known
    assert "<tr id=order-7>" in html
    assert "<button id=resend-7>" in html


def test_only_a_paid_order_shows_a_paid_amount():
    def row(status):
        plain = SandboxOrder(8, "S-8", "10.00", "9.98", "alipay", "", 0.0, status=status)
        return console_body("en", "key", "http://127.0.0.1/n", [plain], Markup(""), Markup(""))

    assert "10.00 (paid 9.98) alipay" in row(PAID)
    assert "9.98" not in row(OPEN)
    empty = console_body("zh", "key", "http://127.0.0.1/n", [], Markup(""), Markup(""))
    assert "还没有订单。" in empty
    assert "<table>" not in empty


@pytest.mark.parametrize("lang", LANGUAGES)
def test_the_buyers_pages_escape_the_shop_and_the_buyer(lang):
    assert_inert(pay_body(lang, order(), HOSTILE), as_text=2)  # shop's id, amount
    assert_inert(waiting_body(lang, HOSTILE, 1, 5), as_text=1)
    values = dict.fromkeys(("appkey", "token", "custom", "price"), HOSTILE)
    form = assert_inert(quick_pay_body(lang, values), as_value=4)
    assert ("value", "") in form.attrs  # the skin left out is empty, not "None"


@pytest.mark.parametrize("lang", LANGUAGES)
def test_sessions_and_settings_escape_labels_names_urls_and_the_notice(lang):
    sessions = CloudSessions()
    sessions.scan("alipay", HOSTILE)
    assert_inert(sessions_section(lang, sessions, message=HOSTILE), as_text=2)
    rules = CreateRules("key", "secret", products={9: Product(9, HOSTILE, Decimal("1.00"), 2)})
    # the product's name and the quick-pay link's text; both URLs and the link's href
    assert_inert(settings_form(lang, rules, HOSTILE, HOSTILE, HOSTILE), as_text=2, as_value=3)


def test_a_page_escapes_its_title_and_follows_the_language():
    switch = language_switch("zh", "/console", [("lang", "en"), ("q", "a&b")])
    response = page(HOSTILE, say("zh", "pay", amount=HOSTILE), "zh", switch, refresh=3)
    assert response.content_type == "text/html; charset=utf-8"
    assert {"accept-language", "cookie"} <= {v.lower() for v in response.vary}
    html = response.get_data(as_text=True)
    parsed = assert_inert(html, as_text=3)  # <title>, <h1>, the body
    assert ("lang", "zh-CN") in parsed.attrs
    links = {a["id"]: a for tag, a in parsed.elements if tag == "a" and "id" in a}
    assert links["lang-zh"]["href"] == "/console?q=a%26b&lang=zh"  # lang=en replaced
    assert links["lang-en"]["href"] == "/console?q=a%26b&lang=en"
    assert "aria-current" in links["lang-zh"]
    assert "aria-current" not in links["lang-en"]
    assert "<meta http-equiv=refresh content=3>" in html


def test_type_names_and_the_quick_pay_link():
    assert [type_name("zh", "alipay"), type_name("en", "alipay")] == ["支付宝", "alipay"]
    assert type_name("zh", HOSTILE) == HOSTILE  # unknown: as it is (escaped where shown)
    assert quick_pay_link("a&b=c", "t t#'") == "/pay/any?appkey=a%26b%3Dc&token=t+t%23%27"


def test_the_console_shows_a_shops_answer_and_labels_as_escapes():
    sneaky = "\x1b[2J\u202e00.01\x9b"
    shown = "\\x1b[2J\\u202e00.01\\x9b"
    hidden = {"\x1b", "\u202e", "\x9b"}
    one = SandboxOrder(7, sneaky, "10.00", "10.00", "alipay", "c", 0.0, status=PAID)
    one.attempts.append(Attempt(0.0, AttemptKind.AUTO, 200, sneaky))
    html = console_body("en", "key", "http://shop/n", [one], Markup(""), Markup(""))
    assert not hidden & set(html)
    assert html.count(shown) == 2  # the shop's id and its answer
    sessions = CloudSessions()
    sessions.scan("alipay", sneaky)
    html = sessions_section("en", sessions, message=sneaky)
    assert not hidden & set(html)
    assert html.count(shown) == 2  # the account's label and the notice

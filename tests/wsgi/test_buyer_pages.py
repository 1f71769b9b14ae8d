"""buyer_pages.py: the library's own pages for a buyer, in Chinese or English."""

from __future__ import annotations

import pytest
from werkzeug.test import Client

from gatepay_wsgi import GatePayMiddleware, Notify, Return, Timeout
from gatepay_wsgi.buyer_pages import KINDS, buyer_language, buyer_page
from gatepay_wsgi.errors import ConfigError

from ..gateway import APPKEY, APPSECRET, Recorder, return_fields, shop


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh"),
        ("zh-TW", "zh"),
        ("ZH", "zh"),
        ("en-US,en;q=0.9,zh-CN;q=0.8", "en"),
        ("en;q=0.5,zh;q=0.9", "zh"),  # by q, not by position
        ("zh;q=0, en", "en"),  # q=0: not acceptable
        ("fr-FR,zh;q=0.3", "zh"),  # the first of Chinese and English
        ("fr-FR", "en"),
        ("", "en"),
        ("zh;q=oops", "en"),
    ],
)
def test_the_language_follows_accept_language(header, language):
    assert buyer_language({"HTTP_ACCEPT_LANGUAGE": header}) == language


def test_a_forced_language_wins():
    assert buyer_language({"HTTP_ACCEPT_LANGUAGE": "en"}, "zh") == "zh"
    with pytest.raises(ConfigError, match="zh, en"):
        Return(lambda v: "", language="fr")


@pytest.mark.parametrize("kind", KINDS)
def test_every_page_reads_on_a_phone_and_leads_back_to_the_shop(kind):
    page = buyer_page(kind, {"HTTP_ACCEPT_LANGUAGE": "zh-CN", "SCRIPT_NAME": "/shop"})
    assert "<meta name=viewport content='width=device-width, initial-scale=1'>" in page
    assert "<html lang=zh-CN>" in page
    assert "href='/shop/'" in page  # the root of the mount by default
    assert "返回商店" in page
    english = buyer_page(kind, {}, shop_url="https://shop.example/orders")
    assert "href='https://shop.example/orders'" in english
    assert "Back to the shop" in english
    assert "<html lang=en>" in english


def test_a_shop_url_path_is_taken_inside_the_mount():
    page = buyer_page("not_valid", {"SCRIPT_NAME": "/legacy"}, shop_url="/orders?x='1'")
    assert "href='/legacy/orders?x=&#39;1&#39;'" in page  # escaped


def _app(**options):
    def broken(visit):
        raise RuntimeError("template missing")

    return GatePayMiddleware(
        shop,
        appkey=APPKEY,
        appsecret=APPSECRET,
        paths={
            "/n": Notify(Recorder()),
            "/r": Return(lambda visit: "thanks", **options),
            "/broken": Return(broken, **options),
            "/t": Timeout(lambda visit: "closed", **options),
        },
    )


def test_a_forged_return_link_gets_the_buyers_language():
    client = Client(_app())
    forged = {**return_fields(), "price": "0.01"}
    chinese = client.get("/r", query_string=forged, headers={"Accept-Language": "zh-CN,zh"})
    assert chinese.status_code == 400
    assert "支付链接无效" in chinese.get_data(as_text=True)
    english = client.get("/r", query_string=forged, headers={"Accept-Language": "en-GB"})
    assert "Payment link not valid" in english.get_data(as_text=True)
    assert client.get("/r", query_string=return_fields()).get_data(as_text=True) == "thanks"


def test_a_wrong_method_and_a_failed_handler_get_their_own_pages():
    client = Client(_app(language="zh", shop_url="/"))
    posted = client.post("/t", headers={"Accept-Language": "en"})
    assert posted.status_code == 405
    assert "页面无法打开" in posted.get_data(as_text=True)  # forced Chinese
    failed = client.get("/broken", query_string=return_fields())
    assert failed.status_code == 500
    assert "出错了" in failed.get_data(as_text=True)
    assert "template missing" not in failed.get_data(as_text=True)

"""testing.py and the pytest plugin: signed callbacks as the gateway builds them."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from gatepay_wsgi import GatePayMiddleware, Notify
from gatepay_wsgi.testing import BAD_SIGN, return_url, send_notify, signed_notify

from ..gateway import APPKEY, APPSECRET, Recorder, md5, shop


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

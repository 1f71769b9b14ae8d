"""Sign vectors computed by hand (hex literals worked out once with md5sum-style code)."""

from __future__ import annotations

import pytest

from gatepay_wsgi import signing
from gatepay_wsgi.errors import AppkeyMismatch, BadSignature, InvalidField, MissingField

from ..gateway import APPKEY, APPSECRET, md5

# md5(md5("key123" + "100001" + "SHOP-1" + "100.00" + "99.98" + "alipay" + "1763776800"
#         + "张三") + "secret456"), UTF-8 bytes
NOTIFY = {
    "order_id": "100001",
    "out_order_id": "SHOP-1",
    "price": "100.00",
    "realprice": "99.98",
    "type": "alipay",
    "paytime": "1763776800",
    "extend": "张三",
}
NOTIFY_SIGN = "e36c8aafa7d3cef20bdcfc5e259adfc1"
# md5(md5("key123" + "10.23" + "wechat" + "P-9" + "100001" + "SHOP-1") + "secret456")
RETURN = {
    "price": "10.23",
    "type": "wechat",
    "product_id": "P-9",
    "order_id": "100001",
    "out_order_id": "SHOP-1",
}
RETURN_SIGN = "3020e9d4ed4e55b66cab449634bb61f7"
# whole yuan without decimals, an empty extend
SHORT = {
    "order_id": "7",
    "out_order_id": "A7",
    "price": "10",
    "realprice": "0.01",
    "type": "wechat",
    "paytime": "1763776800",
    "extend": "",
}
SHORT_SIGN = "7d82fe4b1c12a4edafbe350f50572ca7"


def test_notify_sign_matches_hand_computed_vector():
    assert signing.notify_sign(NOTIFY, APPKEY, APPSECRET) == NOTIFY_SIGN


def test_notify_sign_is_the_documented_formula():
    inner = md5("key123100001SHOP-1100.0099.98alipay1763776800张三")
    assert md5(inner + "secret456") == NOTIFY_SIGN


def test_return_sign_matches_hand_computed_vector():
    assert signing.return_sign(RETURN, APPKEY, APPSECRET) == RETURN_SIGN


def test_short_fields_and_empty_extend():
    assert signing.notify_sign(SHORT, APPKEY, APPSECRET) == SHORT_SIGN


def test_raw_strings_are_signed_as_received():
    assert signing.notify_sign({**NOTIFY, "price": "100.0"}, APPKEY, APPSECRET) != NOTIFY_SIGN


def test_create_sign_formula():
    fields = {"price": "1.00", "type": "alipay", "out_order_id": "X", "custom": "c"}
    expected = md5(md5("key1231.00alipayXc") + "secret456")
    assert signing.create_sign(fields, APPKEY, APPSECRET) == expected


@pytest.mark.parametrize("sign", [NOTIFY_SIGN, NOTIFY_SIGN.upper()])
def test_verify_accepts_either_hex_case(sign):
    signing.verify_notify({**NOTIFY, "sign": sign}, APPKEY, APPSECRET)


def test_verify_return():
    signing.verify_return({**RETURN, "sign": RETURN_SIGN}, APPKEY, APPSECRET)


@pytest.mark.parametrize(
    ("appkey", "appsecret"),
    [("", APPSECRET), (APPKEY, ""), ("", "")],
    ids=["key", "secret", "both"],
)
def test_verify_fails_closed_on_empty_credentials(appkey, appsecret):
    fields = {**NOTIFY, "sign": signing.notify_sign(NOTIFY, appkey, appsecret)}
    with pytest.raises(BadSignature):
        signing.verify_notify(fields, appkey, appsecret)


def test_verify_rejects_wrong_secret_and_tampering():
    with pytest.raises(BadSignature):
        signing.verify_notify({**NOTIFY, "sign": NOTIFY_SIGN}, APPKEY, "other")
    with pytest.raises(BadSignature):
        signing.verify_notify({**NOTIFY, "price": "1.00", "sign": NOTIFY_SIGN}, APPKEY, APPSECRET)


def test_verify_checks_an_appkey_field():
    signing.verify_notify({**NOTIFY, "sign": NOTIFY_SIGN, "appkey": APPKEY}, APPKEY, APPSECRET)
    with pytest.raises(AppkeyMismatch) as caught:
        signing.verify_notify({**NOTIFY, "sign": NOTIFY_SIGN, "appkey": "k2"}, APPKEY, APPSECRET)
    assert isinstance(caught.value, BadSignature)
    assert caught.value.reason == "appkey_mismatch"


def test_missing_field_is_named():
    fields = {k: v for k, v in NOTIFY.items() if k != "extend"}
    with pytest.raises(MissingField) as caught:
        signing.notify_sign(fields, APPKEY, APPSECRET)
    assert caught.value.field == "extend"
    with pytest.raises(MissingField):
        signing.verify_notify(NOTIFY, APPKEY, APPSECRET)  # no sign


def test_gbk_sign_hashes_gbk_bytes():
    import hashlib

    inner = hashlib.md5("key123张三".encode("gbk")).hexdigest()
    expected = hashlib.md5((inner + "s").encode()).hexdigest()
    got = signing.sign_fields({"extend": "张三"}, ("extend",), "key123", "s", encoding="gbk")
    assert got == expected


@pytest.mark.parametrize("sign", ["\udcff", "\u4e2d" * 32, NOTIFY_SIGN + " "])
def test_odd_signs_are_bad_signatures_not_crashes(sign):
    with pytest.raises(BadSignature):
        signing.verify_notify({**NOTIFY, "sign": sign}, APPKEY, APPSECRET)


@pytest.mark.parametrize(("extend", "encoding"), [("\udcff", "utf-8"), ("张三", "latin-1")])
def test_unencodable_fields_are_invalid_fields(extend, encoding):
    with pytest.raises(InvalidField):
        signing.notify_sign({**NOTIFY, "extend": extend}, APPKEY, APPSECRET, encoding=encoding)


def test_the_md5_in_use_and_its_openssl_fallback_give_the_gateways_digest(monkeypatch):
    import hashlib
    import importlib

    from gatepay_wsgi import signing

    texts = [b"", b"key123100001SHOP-1100.0099.98alipay", "张三".encode(), b"x" * 1000]
    for data in texts:
        assert signing._fastest_md5()(data).hexdigest() == hashlib.md5(data).hexdigest()

    def no_builtin(name):
        raise ImportError(name)

    monkeypatch.setattr(importlib, "import_module", no_builtin)
    fallback = signing._fastest_md5()
    for data in texts:
        assert fallback(data).hexdigest() == hashlib.md5(data).hexdigest()

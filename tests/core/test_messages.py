"""Strict formats and typed values of the core readers (no WSGI involved)."""

from __future__ import annotations

import time
from datetime import datetime, timezone
from decimal import Decimal

import pytest

from gatepay_wsgi.errors import BadSignature, GatePayError, InvalidField, MissingField
from gatepay_wsgi.messages import read_notification, read_return, read_timeout

from ..gateway import APPKEY, APPSECRET, notify_fields, return_fields


def read(fields, **kwargs):
    return read_notification(fields, appkey=APPKEY, appsecret=APPSECRET, **kwargs)


def test_notification_is_typed():
    fields = notify_fields(paytime="1763776800", price="100.00", realprice="99.98")
    n = read(fields)
    assert n.order_id == 100001
    assert n.out_order_id == "SHOP-1"
    assert n.price == Decimal("100.00")
    assert isinstance(n.price, Decimal)
    assert n.realprice == Decimal("99.98")
    assert n.type == "alipay"
    assert n.paytime == 1763776800
    assert n.paid_at == datetime(2025, 11, 22, 2, 0, tzinfo=timezone.utc)
    assert n.extend == "张三 13800138000"
    assert n.appkey == APPKEY
    assert dict(n.raw) == fields


def test_notification_is_frozen_and_raw_is_read_only():
    n = read(notify_fields())
    with pytest.raises(AttributeError):
        n.price = Decimal(0)  # type: ignore[misc]
    with pytest.raises(TypeError):
        n.raw["price"] = "0"  # type: ignore[index]


@pytest.mark.parametrize("price", ["0.01", "0.00", "10.50", "100.00", "999999999999.99"])
def test_canonical_money_is_accepted(price):
    assert read(notify_fields(price=price)).price == Decimal(price)


@pytest.mark.parametrize(
    "price",
    [
        ".01",
        "01.00",
        "00",
        "10.",
        "10.001",
        "-1.00",
        "+1.00",
        "1e3",
        "1,00",
        " 1.00",
        "1.00 ",
        "\uff11.00",
        "NaN",
        "Infinity",
        "",
        "1_000",
    ],
)
def test_non_canonical_money_is_refused_even_when_signed(price):
    with pytest.raises(InvalidField) as caught:
        read(notify_fields(price=price))
    assert caught.value.field == "price"
    assert caught.value.reason == "invalid_field"


NOT_TWO_DECIMALS = ["10", "10.0", "10.000", ".50", "010.00", "1e1", "-1.00", "+1.00", "10.5"]
TWO_DECIMALS = ["0.00", "10.00", "123456789012.99"]


def _read_money_field(where: str, value: str):
    if where == "return price":
        return read_return(return_fields(price=value), appkey=APPKEY, appsecret=APPSECRET).price
    name = where.split()[1]
    return getattr(read(notify_fields(**{name: value})), name)


MONEY_FIELDS = ["notify price", "notify realprice", "return price"]


@pytest.mark.parametrize("where", MONEY_FIELDS)
@pytest.mark.parametrize("value", NOT_TWO_DECIMALS)
def test_money_without_exactly_two_decimals_is_refused_even_when_signed(where, value):
    with pytest.raises(InvalidField) as caught:
        _read_money_field(where, value)
    assert caught.value.field == where.split()[1]
    assert caught.value.reason == "invalid_field"
    assert "exactly 2 decimals" in str(caught.value)


@pytest.mark.parametrize("where", MONEY_FIELDS)
@pytest.mark.parametrize("value", TWO_DECIMALS)
def test_money_with_exactly_two_decimals_is_accepted(where, value):
    assert _read_money_field(where, value) == Decimal(value)


@pytest.mark.parametrize(
    ("price", "realprice", "refused"),
    [("10.0", "59.98", "price"), ("10.059", ".98", "price"), ("10.05998", "", "price")],
)
def test_boundary_shift_between_price_and_realprice_is_refused(price, realprice, refused):
    # "10.05" + "9.98" is the sign input of every split: the sign still verifies
    genuine = notify_fields(price="10.05", realprice="9.98")
    shifted = {**genuine, "price": price, "realprice": realprice}
    assert read(genuine).price == Decimal("10.05")
    with pytest.raises(InvalidField) as caught:
        read(shifted)
    assert caught.value.field == refused


def test_boundary_shift_into_type_is_refused():
    genuine = notify_fields(realprice="0.01", type="alipay")
    shifted = {**genuine, "realprice": "0.01a", "type": "lipay"}
    with pytest.raises(InvalidField):
        read(shifted)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("order_id", "12a"),
        ("order_id", "-1"),
        ("order_id", ""),
        ("order_id", "99999999999999999999"),
        ("order_id", "9223372036854775808"),
        ("order_id", "0100001"),
        ("paytime", "01763776800"),
        ("paytime", "17637768OO"),
        ("paytime", ""),
        ("type", "ali pay"),
        ("type", "alipay1"),
        ("type", ""),
        ("out_order_id", ""),
        ("out_order_id", "A\n1"),
        ("out_order_id", "x" * 256),
        ("out_order_id", "A\x1b[2J"),  # C0
        ("out_order_id", "A\x7f"),  # DEL
        ("out_order_id", "A\x85"),  # C1: next line
        ("out_order_id", "\x9b31mA"),  # C1: a one-byte CSI to some terminals
    ],
)
def test_malformed_fields_are_refused(name, value):
    with pytest.raises(InvalidField) as caught:
        read(notify_fields(**{name: value}))
    assert caught.value.field == name


@pytest.mark.parametrize(
    "out_order_id",
    ["GP\u202e00.01", "طلب-١٢", "\u05d4\u05d6\u05de\u05e0\u05d4\u200f7", "订单\u2066x\u2069"],
)
def test_bidi_marks_and_right_to_left_ids_are_accepted_and_shown_by_printable(out_order_id):
    # The gateway allows any text: a shop's id may be Arabic or Hebrew, with its marks.
    assert read(notify_fields(out_order_id=out_order_id)).out_order_id == out_order_id


def test_largest_order_id_is_accepted():
    assert read(notify_fields(order_id="9223372036854775807")).order_id == 2**63 - 1


def test_paytime_in_the_future_beyond_skew_is_refused():
    now = time.time()
    read(notify_fields(paytime=str(int(now) + 500)), now=now, clock_skew=600)
    with pytest.raises(InvalidField) as caught:
        read(notify_fields(paytime=str(int(now) + 700)), now=now, clock_skew=600)
    assert caught.value.field == "paytime"


@pytest.mark.parametrize("paytime", ["253402300800", "999999999999"])
def test_paytime_beyond_the_calendar_is_invalid_not_a_crash(paytime):
    with pytest.raises(InvalidField, match="paytime"):
        read(notify_fields(paytime=paytime), clock_skew=10**13)


def test_old_paytime_is_fine_late_resends_are_normal():
    assert read(notify_fields(paytime="1500000000")).paytime == 1500000000


@pytest.mark.parametrize("missing", ["order_id", "extend", "sign", "paytime"])
def test_missing_field(missing):
    fields = notify_fields()
    del fields[missing]
    with pytest.raises(MissingField) as caught:
        read(fields)
    assert caught.value.field == missing


@pytest.mark.parametrize("sign", ["", "abc", "g" * 32, "0" * 33])
def test_sign_must_be_32_hex(sign):
    with pytest.raises(InvalidField):
        read({**notify_fields(), "sign": sign})


def test_forged_sign_is_bad_signature():
    fields = notify_fields(appkey=APPKEY, secret="guess")
    with pytest.raises(BadSignature) as caught:
        read(fields)
    assert "guess" not in str(caught.value)
    assert fields["sign"] not in str(caught.value)


def test_every_error_has_a_stable_reason_code():
    with pytest.raises(GatePayError) as caught:
        read({})
    assert caught.value.reason == "missing_field"


def test_return_visit_is_typed():
    visit = read_return(return_fields(price="10.23"), appkey=APPKEY, appsecret=APPSECRET)
    assert visit.price == Decimal("10.23")
    assert visit.order_id == 100001
    assert visit.product_id == "P-9"
    assert visit.out_order_id == "SHOP-1"


def test_return_with_empty_product_id():
    visit = read_return(return_fields(product_id=""), appkey=APPKEY, appsecret=APPSECRET)
    assert visit.product_id == ""


def test_return_forged():
    with pytest.raises(BadSignature):
        read_return(return_fields(secret="x"), appkey=APPKEY, appsecret=APPSECRET)


def test_timeout_visit_keeps_every_field():
    visit = read_timeout({"out_order_id": "A1", "x": "y"})
    assert visit.out_order_id == "A1"
    assert dict(visit.fields) == {"out_order_id": "A1", "x": "y"}
    assert read_timeout({}).out_order_id is None


def test_a_parsed_notification_is_the_dataclass_built_the_usual_way():
    import dataclasses

    from gatepay_wsgi.callbacks import Notification
    from gatepay_wsgi.messages import parse_notification

    parsed = parse_notification(notify_fields(), appkey=APPKEY)
    usual = Notification(**{f.name: getattr(parsed, f.name) for f in dataclasses.fields(parsed)})
    assert parsed == usual
    assert repr(parsed) == repr(usual)
    assert vars(parsed) == vars(usual)
    with pytest.raises(dataclasses.FrozenInstanceError):
        parsed.price = parsed.realprice  # type: ignore[misc]
    assert dataclasses.replace(parsed, extend="x").extend == "x"


# -- the notify in the gateway's own form (the hot path) ----------------------------------


def gateway_form(fields):
    """The body as the gateway sends it: the fields in its page's order, nothing encoded."""
    return "&".join(f"{name}={value}" for name, value in fields.items())


def read_form(text, **kwargs):
    from gatepay_wsgi.messages import read_gateway_notify

    return read_gateway_notify(text, appkey=APPKEY, appsecret=APPSECRET, **kwargs)


def test_the_gateway_form_reads_as_the_general_way():
    fields = notify_fields(extend="bench 13800138000", out_order_id="SHOP-1.a_b~c")
    fast = read_form(gateway_form(fields))
    general = read(fields)
    assert fast is not None
    assert fast == general
    assert dict(fast.raw) == dict(general.raw) == fields
    for name in ("price", "realprice", "paid_at", "order_id", "paytime", "extend", "appkey"):
        assert getattr(fast, name) == getattr(general, name)
        assert type(getattr(fast, name)) is type(getattr(general, name))


def test_an_upper_case_sign_is_read_the_gateway_way_too():
    fields = notify_fields()
    fields["sign"] = fields["sign"].upper()
    assert read_form(gateway_form({**fields, "extend": ""})) is None  # extend changed: bad sign
    fields = notify_fields(extend="x")
    fields["sign"] = fields["sign"].upper()
    notification = read_form(gateway_form(fields))
    assert notification is not None
    assert notification.raw["sign"] == fields["sign"]


@pytest.mark.parametrize(
    "shape",
    [
        "reordered",
        "percent",
        "plus",
        "extra_field",
        "appkey_field",
        "bad_sign",
        "future_paytime",
        "order_id_too_large",
        "paytime_too_large",
        "bad_money",
        "leading_zero",
        "empty_out_order_id",
        "control_character",
        "c1_control_character",
        "duplicate",
    ],
)
def test_any_other_shape_is_left_to_the_general_way(shape):
    fields = notify_fields(extend="x")
    if shape == "reordered":
        body = gateway_form(dict(reversed(list(fields.items()))))
    elif shape == "percent":
        body = gateway_form(notify_fields(extend="%41"))
    elif shape == "plus":
        body = gateway_form(notify_fields(extend="a+b"))
    elif shape == "extra_field":
        body = gateway_form(fields) + "&x=1"
    elif shape == "appkey_field":
        body = gateway_form(fields) + f"&appkey={APPKEY}"
    elif shape == "bad_sign":
        body = gateway_form({**fields, "sign": "0" * 32})
    elif shape == "future_paytime":
        body = gateway_form(notify_fields(paytime=str(int(time.time()) + 3600)))
    elif shape == "order_id_too_large":
        body = gateway_form(notify_fields(order_id=str(2**63)))
    elif shape == "paytime_too_large":
        body = gateway_form(notify_fields(paytime="999999999999"))
    elif shape == "bad_money":
        body = gateway_form(notify_fields(price="10.5"))
    elif shape == "leading_zero":
        body = gateway_form(notify_fields(order_id="0100001"))
    elif shape == "empty_out_order_id":
        body = gateway_form(notify_fields(out_order_id=""))
    elif shape == "control_character":
        body = gateway_form(notify_fields(out_order_id="A\x01"))
    elif shape == "c1_control_character":
        body = gateway_form(notify_fields(out_order_id="A\x9b"))
    else:
        body = gateway_form(fields) + "&sign=" + fields["sign"]
    assert read_form(body) is None


def test_the_gateway_form_fails_closed_without_credentials():
    from gatepay_wsgi.messages import read_gateway_notify

    body = gateway_form(notify_fields())
    assert read_gateway_notify(body, appkey=APPKEY, appsecret="") is None
    assert read_gateway_notify(body, appkey="", appsecret=APPSECRET) is None

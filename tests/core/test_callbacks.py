"""callbacks.py: what a handler gets (typed once, read-only, copyable, picklable), and
``printable``, how a received string is shown."""

from __future__ import annotations

from datetime import datetime, timezone
from decimal import Decimal

import pytest

from gatepay_wsgi.callbacks import Notification, printable
from gatepay_wsgi.messages import read_gateway_notify, read_notification, read_return

from ..gateway import APPKEY, APPSECRET, notify_fields, return_fields


def read(fields):
    return read_notification(fields, appkey=APPKEY, appsecret=APPSECRET)


def read_form(fields):
    """A notify read in the gateway's own form: its fields in order, nothing encoded."""
    text = "&".join(f"{name}={value}" for name, value in fields.items())
    return read_gateway_notify(text, appkey=APPKEY, appsecret=APPSECRET)


def test_typed_values_are_made_once_when_first_read_and_survive_copies():
    import copy

    notification = read_form(notify_fields(price="12.30", paytime="1763776800"))
    for made in (copy.copy(notification), notification):
        assert made.price == Decimal("12.30")
        assert isinstance(made.price, Decimal)
        assert made.paid_at == datetime(2025, 11, 22, 2, 0, tzinfo=timezone.utc)
        assert made.price is made.price  # kept, not made again
    assert copy.copy(notification) == notification
    assert hash(notification) == hash(copy.copy(notification))
    assert "price=Decimal('12.30')" in repr(notification)


def test_a_notification_built_by_hand_keeps_the_values_it_was_given():
    import dataclasses

    made = Notification(
        order_id=1,
        out_order_id="A",
        price=Decimal("1.00"),
        realprice=Decimal("2.00"),
        type="alipay",
        paytime=0,
        paid_at=datetime(2000, 1, 1, tzinfo=timezone.utc),
        extend="",
        appkey="k",
        raw={},
    )
    assert made.realprice == Decimal("2.00")
    assert made.paid_at.year == 2000
    assert dataclasses.asdict(made)["price"] == Decimal("1.00")
    assert dataclasses.replace(made, price=Decimal("3.00")).price == Decimal("3.00")


def test_a_notification_can_be_copied_pickled_and_turned_into_a_dict():
    """Handlers hand notifications to task queues (pickle) and logs (asdict, JSON)."""
    import copy
    import dataclasses
    import json
    import pickle

    notification = read_form(notify_fields(extend="x"))
    general = read(notify_fields())

    def round_trip(value):
        return pickle.loads(pickle.dumps(value))  # noqa: S301  # our own bytes, in memory

    for made in (notification, general):
        assert copy.deepcopy(made) == made
        assert round_trip(made) == made
        assert dict(round_trip(made).raw) == dict(made.raw)
        as_dict = dataclasses.asdict(made)
        assert as_dict["raw"] == dict(made.raw)
        assert json.loads(json.dumps(as_dict["raw"])) == dict(made.raw)
        with pytest.raises(TypeError):
            made.raw["price"] = "0.01"  # type: ignore[index]
        with pytest.raises(TypeError):
            made.raw.update(price="0.01")  # type: ignore[attr-defined]
        with pytest.raises(TypeError):
            del made.raw["price"]  # type: ignore[attr-defined]
        with pytest.raises(TypeError):
            round_trip(made).raw["price"] = "0.01"
    visit = read_return(return_fields(), appkey=APPKEY, appsecret=APPSECRET)
    assert round_trip(visit.raw) == visit.raw


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("GP\u202e00.01", "GP\\u202e00.01"),  # reads "GP10.00" raw
        ("\u202a\u202b\u202c\u202d", "\\u202a\\u202b\\u202c\\u202d"),  # embeddings, overrides
        ("\u2066\u2067\u2068\u2069", "\\u2066\\u2067\\u2068\\u2069"),  # isolates
        ("\u200e\u200f\u061c", "\\u200e\\u200f\\u061c"),  # marks
        ("a\u200bb\u00adc\ufeff", "a\\u200bb\\xadc\\ufeff"),  # zero width, soft hyphen, BOM
        ("\U000e0041", "\\U000e0041"),  # a tag character
        ("a\u2028b\u2029", "a\\u2028b\\u2029"),  # line and paragraph separators
        ("\x1b[31m\x07", "\\x1b[31m\\x07"),  # C0: an escape sequence, the bell
        ("a\tb\nc\rd\x00", "a\\x09b\\x0ac\\x0dd\\x00"),
        ("\x7f\x85\x9b31m", "\\x7f\\x85\\x9b31m"),  # DEL and C1
        ("a\ud800", "a\\ud800"),  # a lone surrogate, which no terminal can print
        ("张三 13800138000 é\xa0\u3000", "张三 13800138000 é\xa0\u3000"),  # spaces kept
        ("😀 👍🏽 <b>&amp;</b> a\\b", "😀 👍🏽 <b>&amp;</b> a\\b"),  # emoji, markup: kept
        ("", ""),
    ],
)
def test_printable_writes_every_hidden_or_reordering_character_as_an_escape(stored, shown):
    assert printable(stored) == shown

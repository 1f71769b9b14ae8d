"""client.py: money with exactly two decimals, generated out_order_ids, errors."""

from __future__ import annotations

import random
import re
from decimal import Decimal

import pytest

from gatepay_wsgi.client import (
    OUT_ORDER_ID_LENGTH,
    GatePayClient,
    GatewayError,
    money,
    new_out_order_id,
)


def test_client_errors():
    with pytest.raises(GatewayError) as unreachable:
        GatePayClient("http://127.0.0.1:9", "k", "s", timeout=2).create(
            price="1", type="alipay", out_order_id="X"
        )
    assert unreachable.value.code == 0
    with pytest.raises(ValueError, match="http"):
        GatePayClient("file:///etc/passwd", "k", "s")
    with pytest.raises(ValueError, match="type"):
        GatePayClient("http://x", "k", "s").create(price="1", type="paypal", out_order_id="X")
    assert money("10") == "10.00"
    with pytest.raises(ValueError, match="positive"):
        money("-1")


def test_a_gateway_error_carries_its_code_message_and_explanation():
    error = GatewayError(104, "无效的签名", "the sign does not match")
    assert (error.code, error.message, error.explanation) == (
        104,
        "无效的签名",
        "the sign does not match",
    )
    assert str(error) == "无效的签名 (code 104: the sign does not match)"


@pytest.mark.parametrize(
    ("price", "sent"),
    [("10", "10.00"), (10, "10.00"), ("10.5", "10.50"), (Decimal("10.500"), "10.50")],
)
def test_money_is_always_two_decimals(price, sent):
    assert money(price) == sent


@pytest.mark.parametrize("price", ["10.005", "0.001", Decimal("1.999"), "1e-3"])
def test_money_with_more_than_two_decimals_is_refused_not_rounded(price):
    with pytest.raises(ValueError, match="two decimals"):
        money(price)


@pytest.mark.parametrize("price", ["0", "0.00", "1e12", "NaN", "Infinity", "ten"])
def test_money_out_of_range_is_refused(price):
    with pytest.raises(ValueError, match="amount"):
        money(price)


ID_ENDS = re.compile(r"[A-Z]{2}.*[A-Z]", re.DOTALL)


def looks_generated(text: str) -> bool:
    """The shape every ``new_out_order_id()`` has: its length, letters at both ends."""
    return len(text) == OUT_ORDER_ID_LENGTH and ID_ENDS.fullmatch(text) is not None


def test_new_out_order_id_has_a_fixed_length_and_letter_ends():
    ids = {new_out_order_id() for _ in range(2000)}
    assert len(ids) == 2000  # random: no repeats
    for out_order_id in ids:
        assert re.fullmatch(r"GP[A-Z2-7]{12}[A-Z]", out_order_id), out_order_id
        assert looks_generated(out_order_id)
        assert len(out_order_id) == OUT_ORDER_ID_LENGTH == 15


def test_no_boundary_shift_turns_a_generated_id_into_one_of_that_shape():
    # The notify's sign input is ... + order_id + out_order_id + price + ...: a forger may
    # move the order_id's trailing digits onto the id's front (front > 0) or the id's
    # first characters into order_id (front < 0), and the price's leading characters onto
    # the id's end (end > 0) or the id's last characters into price (end < 0). Even the
    # shifts the order_id and money formats refuse never yield an id of the issued shape.
    rng = random.Random(11)  # noqa: S311  # test data, not a secret
    for _ in range(2000):
        out_order_id = new_out_order_id()
        order_id = str(rng.randrange(1, 10 ** rng.randint(1, 19)))
        price = f"{rng.randrange(0, 10 ** rng.randint(1, 14)) / 100:.2f}"
        joined = order_id + out_order_id + price
        for front in range(-len(out_order_id), len(order_id) + 1):
            for end in range(-len(out_order_id), len(price) + 1):
                start = len(order_id) - front
                stop = len(order_id) + len(out_order_id) + end
                if (front, end) == (0, 0) or stop <= start:
                    continue
                shifted = joined[start:stop]
                assert not looks_generated(shifted), (order_id, out_order_id, price, shifted)

"""inbox/records.py: what the inbox hands back, and the stored form of a notify's fields."""

from __future__ import annotations

import dataclasses
import json

import pytest

from gatepay_wsgi.inbox import Claim, ClaimOutcome
from gatepay_wsgi.inbox.records import dump_fields, dump_signed, stored_fields

from ..gateway import notify_fields


def test_a_run_claim_is_the_dataclass_built_the_usual_way():
    fast = Claim.run("key", 7, "token", took_over=True)
    assert fast == Claim(ClaimOutcome.RUN, "key", 7, "token", took_over=True)
    assert vars(fast) == vars(Claim(ClaimOutcome.RUN, "key", 7, "token", took_over=True))
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.token = "other"  # type: ignore[misc]
    assert dataclasses.replace(fast, new_delivery=True).new_delivery is True


def test_only_signed_fields_and_a_lower_case_sign_are_stored():
    fields = {**notify_fields(), "junk": "x", "appkey": "k"}
    fields["sign"] = fields["sign"].upper()
    kept = stored_fields(fields)
    assert "junk" not in kept
    assert kept["sign"] == fields["sign"].lower()
    assert "appkey" not in kept  # unsigned (checked equal to the merchant's): README
    assert json.loads(dump_fields(fields)) == kept
    assert dump_fields(fields) == dump_fields(dict(reversed(list(fields.items()))))


def test_the_signed_values_in_sign_order():
    fields = notify_fields()
    order = ("order_id", "out_order_id", "price", "realprice", "type", "paytime", "extend")
    assert json.loads(dump_signed(fields)) == [fields[name] for name in order]


@pytest.mark.parametrize("wrap", [dict, __import__("types").MappingProxyType])
def test_fields_already_in_the_stored_form_are_kept_as_a_copy(wrap):
    fields = notify_fields()
    source = dict(fields)
    kept = stored_fields(wrap(source))
    assert kept == fields
    assert type(kept) is dict
    kept["price"] = "0.01"
    assert source["price"] == fields["price"]  # a copy: the notify's fields are untouched
    upper = {**fields, "sign": fields["sign"].upper()}
    assert stored_fields(wrap(upper))["sign"] == fields["sign"]
    assert stored_fields(wrap({**fields, "x": "1"})) == fields

"""dotted_names.py: handlers named as package.module:function, every mistake a ConfigError."""

from __future__ import annotations

import json

import pytest

from gatepay_wsgi.dotted_names import load_handler, load_object
from gatepay_wsgi.errors import ConfigError


def test_a_handler_is_found_by_module_and_attribute():
    assert load_handler("json:dumps", "--handler") is json.dumps
    assert load_object("json.decoder.JSONDecoder", "gatepay.notify") is json.JSONDecoder


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        ("json:nothing", "json has no 'nothing'"),
        ("no_such_module_here:f", "cannot import no_such_module_here"),
        (".payments:mark_paid", "is relative"),
        ("json", "is not package.module:function"),
        ("json:__name__", "is not callable"),
    ],
)
def test_each_mistake_names_the_setting(spec, says):
    with pytest.raises(ConfigError, match="--handler") as refused:
        load_handler(spec, "--handler")
    assert says in str(refused.value)

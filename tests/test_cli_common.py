"""cli/common.py: what the commands print is aligned, dated in UTC and safe for a terminal."""

from __future__ import annotations

import json

import pytest

from gatepay_wsgi.cli.common import print_json, shown, table, when


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        ("\x1b[2J\x07", "\\x1b[2J\\x07"),  # C0: escape sequences and the bell
        ("a\tb\nc\rd\x00", "a\\x09b\\x0ac\\x0dd\\x00"),
        ("\x7f\x85\x9b31m", "\\x7f\\x85\\x9b31m"),  # DEL and C1 (0x9b is a one-byte CSI)
        ("张三 13800138000 é\xa0", "张三 13800138000 é\xa0"),  # printable text is kept
        (None, "None"),
        (12.5, "12.5"),
    ],
)
def test_shown_escapes_control_characters_only(value, printed):
    assert shown(value) == printed


def test_table_aligns_columns_under_a_rule_without_trailing_spaces():
    out = table(("order_id", "status", "note"), [[1, "done", ""], [100001, "failed", "no"]])
    assert out.splitlines() == [
        "order_id  status  note",
        "--------  ------  ----",
        "1         done",
        "100001    failed  no",
    ]


def test_table_cells_are_shown_escaped_and_measured_as_shown():
    out = table(("id", "error"), [["\x1b]0;x\x07", "ok"], ["2", "bad"]])
    assert "\x1b" not in out
    assert "\x07" not in out
    assert out.splitlines() == [
        "id            error",
        "------------  -----",
        "\\x1b]0;x\\x07  ok",  # 12 characters wide, as printed
        "2             bad",
    ]


def test_table_with_no_rows_is_its_header():
    assert table(("status", "notifies"), []) == "status  notifies\n------  --------"


def test_when_is_utc_and_none_is_a_dash():
    assert when(None) == "-"
    assert when(0) == "1970-01-01 00:00:00Z"
    assert when(1700000000.9) == "2023-11-14 22:13:20Z"


def test_print_json_sorts_keys_and_keeps_chinese(capsys):
    print_json({"b": [1, None], "a": "张三"})
    out = capsys.readouterr().out
    assert out == '{\n  "a": "张三",\n  "b": [\n    1,\n    null\n  ]\n}\n'
    assert json.loads(out) == {"a": "张三", "b": [1, None]}

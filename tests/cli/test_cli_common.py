"""cli/common.py: what the commands print is aligned, dated in UTC and safe for a terminal."""

from __future__ import annotations

import json

import pytest

from gatepay_wsgi.cli.common import print_json, table, when


@pytest.mark.parametrize(
    ("value", "printed"),
    [
        ("\x1b[2J\x07", "\\x1b[2J\\x07"),  # C0: escape sequences and the bell
        ("a\tb\nc\rd\x00", "a\\x09b\\x0ac\\x0dd\\x00"),
        ("\x7f\x85\x9b31m", "\\x7f\\x85\\x9b31m"),  # DEL and C1 (0x9b is a one-byte CSI)
        ("GP\u202e00.01\u2066", "GP\\u202e00.01\\u2066"),  # bidi controls
        ("张三 13800138000 \xa0é", "张三 13800138000 \xa0é"),  # printable text is kept
        (None, "None"),
        (12.5, "12.5"),
    ],
)
def test_a_cell_is_printed_as_printable_shows_it(value, printed):
    assert table(("cell",), [[value]]).splitlines()[2] == printed


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


def test_print_json_writes_c1_and_bidi_controls_as_json_escapes(capsys):
    data = {"id": "GP\u202e00.01", "extend": "\x9b31m\x7f\u2028", "张": "\x1b"}
    print_json(data)
    out = capsys.readouterr().out
    assert '"id": "GP\\u202e00.01"' in out
    assert '"extend": "\\u009b31m\\u007f\\u2028"' in out
    assert '"张": "\\u001b"' in out
    assert json.loads(out) == data

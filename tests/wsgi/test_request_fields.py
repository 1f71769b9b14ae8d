"""request_fields.py: a callback's fields from a WSGI environ, strictly and within limits."""

from __future__ import annotations

import io
from urllib.parse import parse_qsl

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from werkzeug.test import EnvironBuilder

from gatepay_wsgi.errors import (
    DuplicateField,
    MalformedRequest,
    PayloadTooLarge,
    UnsupportedMediaType,
)
from gatepay_wsgi.request_fields import (
    MAX_FIELDS,
    body_fields,
    parse_urlencoded,
    query_fields,
)


def environ(body: bytes = b"", content_type: str | None = None, query: str = "", **extra):
    built = EnvironBuilder(method="POST", query_string=query, data=body).get_environ()
    if content_type is None:
        built.pop("CONTENT_TYPE", None)
    else:
        built["CONTENT_TYPE"] = content_type
    built.update(extra)
    return built


@pytest.mark.parametrize(
    "data",
    [b"a=1&b=%E5%BC%A0", b"a=&b=x+y", b"x=%2B%26%3D&y=1", b"only", b"a=1&&b=2"],
)
def test_parse_urlencoded_reads_as_the_standard_library_does(data):
    assert parse_urlencoded(data) == dict(parse_qsl(data.decode(), keep_blank_values=True))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="ab1=&+%2", max_size=24))
def test_parse_urlencoded_agrees_with_the_standard_library_on_any_form(text):
    # Both ways (pairs split in C when nothing is quoted, or one by one) read alike.
    try:
        expected = parse_qsl(text, keep_blank_values=True, strict_parsing=False, errors="strict")
    except UnicodeDecodeError:
        return
    names = [name for name, _ in expected]
    if len(set(names)) < len(names):
        with pytest.raises(DuplicateField):
            parse_urlencoded(text.encode())
    else:
        assert parse_urlencoded(text.encode()) == dict(expected)


def test_parse_urlencoded_refuses_duplicates_bad_bytes_and_too_many_fields():
    with pytest.raises(DuplicateField) as duplicate:
        parse_urlencoded(b"price=1.00&price=2.00")
    assert duplicate.value.field == "price"
    with pytest.raises(DuplicateField):
        parse_urlencoded(b"price=1.00&pric%65=2.00")  # the same name, quoted
    with pytest.raises(MalformedRequest, match="not valid utf-8"):
        parse_urlencoded(b"a=%E5%BC")
    with pytest.raises(MalformedRequest, match="not valid utf-8"):
        parse_urlencoded(b"a=\xff")
    with pytest.raises(MalformedRequest, match="more than"):
        parse_urlencoded(b"&".join(b"f%d=1" % i for i in range(MAX_FIELDS + 1)))
    assert parse_urlencoded(b"a=%D5%C5", "gbk") == {"a": "张"}


def test_the_query_string_is_read_as_pep_3333_carries_it():
    assert query_fields({"QUERY_STRING": "a=1&b=%E5%BC%A0"}) == ({"a": "1", "b": "张"}, "utf-8")
    with pytest.raises(MalformedRequest, match="not a byte string"):
        query_fields({"QUERY_STRING": "a=张"})  # a server that decoded it itself


def test_a_body_without_a_type_is_urlencoded_and_an_empty_one_reads_the_query():
    assert body_fields(environ(b"a=1"), 100) == ({"a": "1"}, "utf-8")
    assert body_fields(environ(b"", query="q=2"), 100) == ({"q": "2"}, "utf-8")


def test_declared_charsets_are_honoured_or_refused():
    gbk = environ(b"a=%D5%C5", "application/x-www-form-urlencoded; charset=GBK")
    assert body_fields(gbk, 100) == ({"a": "张"}, "gbk")
    with pytest.raises(UnsupportedMediaType, match="charset"):
        body_fields(environ(b"a=1", "application/x-www-form-urlencoded; charset=koi8-r"), 100)
    with pytest.raises(UnsupportedMediaType, match="not a form"):
        body_fields(environ(b"{}", "application/json"), 100)


def test_the_body_limit_holds_with_and_without_a_length():
    with pytest.raises(PayloadTooLarge):
        body_fields(environ(b"a=" + b"1" * 200), 100)
    chunked = environ(b"", "application/x-www-form-urlencoded")
    chunked.pop("CONTENT_LENGTH", None)
    chunked.update({"wsgi.input": io.BytesIO(b"a=" + b"1" * 200), "wsgi.input_terminated": True})
    with pytest.raises(PayloadTooLarge):
        body_fields(chunked, 100)
    chunked["wsgi.input"] = io.BytesIO(b"a=1")
    assert body_fields(chunked, 100) == ({"a": "1"}, "utf-8")


def test_a_short_body_is_malformed_not_waited_for_forever():
    short = environ(b"a=1", "application/x-www-form-urlencoded", CONTENT_LENGTH="10")
    with pytest.raises(MalformedRequest, match="before Content-Length"):
        body_fields(short, 100)


def test_multipart_forms_are_read_and_files_refused():
    built = EnvironBuilder(method="POST", data={"a": "1", "b": "张"}).get_environ()
    assert body_fields(built, 10_000) == ({"a": "1", "b": "张"}, "utf-8")
    with_file = EnvironBuilder(
        method="POST", data={"a": "1", "f": (io.BytesIO(b"x"), "f.txt")}
    ).get_environ()
    with pytest.raises(MalformedRequest, match="no files"):
        body_fields(with_file, 10_000)

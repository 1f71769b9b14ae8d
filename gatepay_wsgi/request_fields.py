"""Read a callback's fields from a WSGI environ: ``fields, encoding = query_fields(environ)``.

The urlencoded and query-string paths are the hot path: a bounded read and
``urllib.parse.parse_qsl``, no request object. werkzeug does what it is best at:
bounded input streams and multipart. Every key must appear once; a form that cannot be
decoded, that has too many fields, or whose body is over the limit is refused.
"""

from __future__ import annotations

import codecs
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.formparser import FormDataParser
from werkzeug.http import parse_options_header
from werkzeug.wsgi import LimitedStream, get_content_length, get_input_stream

from .errors import DuplicateField, MalformedRequest, PayloadTooLarge, UnsupportedMediaType

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIEnvironment

#: More fields than any callback has, with room for a few the gateway may add.
MAX_FIELDS = 64
#: Charsets a form may declare; anything else is refused rather than guessed.
ALLOWED_CHARSETS = frozenset({"utf-8", "ascii", "gbk", "gb2312", "gb18030"})
_FORM_TYPES = ("application/x-www-form-urlencoded", "")
_MULTIPART = "multipart/form-data"


def _unique(pairs: list[tuple[str, str]]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for key, value in pairs:
        if key in fields:
            raise DuplicateField(f"field {key!r} appears more than once", field=key)
        fields[key] = value
    return fields


def parse_urlencoded(data: bytes, encoding: str = "utf-8") -> dict[str, str]:
    """``parse_urlencoded(b"a=1&b=%E5%BC%A0")`` -> ``{"a": "1", "b": "张"}``, strictly."""
    try:
        text = data.decode(encoding)
        pairs = parse_qsl(
            text,
            keep_blank_values=True,
            encoding=encoding,
            errors="strict",
            max_num_fields=MAX_FIELDS,
        )
    except UnicodeError:
        raise MalformedRequest(f"form is not valid {encoding}") from None
    except ValueError:
        raise MalformedRequest(f"form has more than {MAX_FIELDS} fields") from None
    return _unique(pairs)


def query_fields(environ: WSGIEnvironment) -> tuple[dict[str, str], str]:
    """``query_fields(environ)`` -> the query string's fields and their encoding (UTF-8)."""
    try:
        # PEP 3333: a native string whose code points are the request's bytes.
        data = environ.get("QUERY_STRING", "").encode("latin-1")
    except UnicodeEncodeError:
        raise MalformedRequest("query string is not a byte string") from None
    return parse_urlencoded(data), "utf-8"


def _charset(options: dict[str, str]) -> str:
    declared = options.get("charset", "utf-8")
    try:
        name = codecs.lookup(declared).name
    except LookupError:
        name = ""
    if name not in ALLOWED_CHARSETS:
        raise UnsupportedMediaType(f"charset {declared[:32]!r} is not supported")
    return name


def _read_body(environ: WSGIEnvironment, max_body_size: int) -> bytes:
    stream = environ["wsgi.input"]
    length = get_content_length(environ)
    if length is not None:
        if length > max_body_size:
            raise PayloadTooLarge(f"Content-Length {length} is over {max_body_size} bytes")
        if length == 0:
            return b""
        try:
            return LimitedStream(stream, length).read()
        except HTTPException:
            raise MalformedRequest("body ended before Content-Length") from None
    # A chunked body, from a server that ends the stream (wsgi.input_terminated): read
    # one byte past the limit to tell "at" from "over".
    data = LimitedStream(stream, max_body_size + 1, is_max=True).read()
    if len(data) > max_body_size:
        raise PayloadTooLarge(f"body is over {max_body_size} bytes")
    return data


def _multipart_fields(
    environ: WSGIEnvironment, options: dict[str, str], max_body_size: int
) -> dict[str, str]:
    parser = FormDataParser(
        max_content_length=max_body_size,
        max_form_memory_size=max_body_size,
        max_form_parts=MAX_FIELDS,
        silent=False,
    )
    try:
        stream = get_input_stream(environ, max_content_length=max_body_size)
        _, form, files = parser.parse(stream, _MULTIPART, get_content_length(environ), options)
    except RequestEntityTooLarge:
        raise PayloadTooLarge(f"body is over {max_body_size} bytes") from None
    except (HTTPException, ValueError):
        raise MalformedRequest("multipart body cannot be parsed") from None
    if files:
        for _, upload in files.items(multi=True):
            upload.close()
        raise MalformedRequest("a callback carries no files")
    pairs = list(form.items(multi=True))
    if any("\ufffd" in value for _, value in pairs):  # werkzeug replaced undecodable bytes
        raise MalformedRequest("multipart form is not valid utf-8")
    return _unique(pairs)


def body_fields(environ: WSGIEnvironment, max_body_size: int) -> tuple[dict[str, str], str]:
    """``body_fields(environ, 65536)`` -> a POST form's fields and their encoding.

    When the body is empty the query string is read instead (one source, never both):
    some senders POST with the fields in the URL. A missing content type is read as
    urlencoded, as browsers and most HTTP clients mean it.
    """
    length = get_content_length(environ)
    if length == 0 or (length is None and "wsgi.input_terminated" not in environ):
        # No body, or none that can be read safely (no length, and a server that does
        # not end the stream): the fields can only be in the URL.
        return query_fields(environ)
    mimetype, options = parse_options_header(environ.get("CONTENT_TYPE", ""))
    mimetype = mimetype.lower()  # media types are case-insensitive
    if mimetype == _MULTIPART:
        return _multipart_fields(environ, options, max_body_size), "utf-8"
    if mimetype not in _FORM_TYPES:
        raise UnsupportedMediaType(f"content type {mimetype[:64]!r} is not a form")
    encoding = _charset(options)
    data = _read_body(environ, max_body_size)
    if not data:
        return query_fields(environ)
    return parse_urlencoded(data, encoding), encoding

"""Read a callback's fields from a WSGI environ: ``fields, encoding = query_fields(environ)``.

The urlencoded and query-string paths are the hot path: a bounded read and a small
urlencoded parser, no request object. werkzeug does what it is best at:
bounded input streams and multipart. Every key must appear once; a form that cannot be
decoded, that has too many fields, or whose body is over the limit is refused.
"""

from __future__ import annotations

import codecs
import itertools
from typing import TYPE_CHECKING
from urllib.parse import unquote_plus

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
_URLENCODED = "application/x-www-form-urlencoded"
_FORM_TYPES = (_URLENCODED, "")
_MULTIPART = "multipart/form-data"
_EQUALS, _ONCE = itertools.repeat("="), itertools.repeat(1)  # str.split's sep and maxsplit


def _unique(pairs: list[tuple[str, str]]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for key, value in pairs:
        if key in fields:
            raise DuplicateField(f"field {key!r} appears more than once", field=key)
        fields[key] = value
    return fields


def parse_urlencoded(data: bytes, encoding: str = "utf-8") -> dict[str, str]:
    """``parse_urlencoded(b"a=1&b=%E5%BC%A0")`` -> ``{"a": "1", "b": "张"}``, strictly.

    What ``urllib.parse.parse_qsl(keep_blank_values=True)`` does, in a third of the time
    (it is the notify's hot path): only pairs with a ``%`` or ``+`` are unquoted.
    """
    try:
        text = data.decode(encoding)
    except UnicodeError:
        raise MalformedRequest(f"form is not valid {encoding}") from None
    if not text:
        return {}
    pairs = text.split("&")
    if len(pairs) > MAX_FIELDS:
        raise MalformedRequest(f"form has more than {MAX_FIELDS} fields")
    if "%" not in text and "+" not in text:  # nothing to unquote: split every pair in C
        try:
            fields = dict(map(str.split, pairs, _EQUALS, _ONCE))
        except ValueError:
            pass  # a pair without "=" or an empty one: the loop below reads it
        else:
            if len(fields) == len(pairs):
                return fields
            # else a key appears twice: the loop below names it
    fields = {}
    for pair in pairs:
        if not pair:
            continue
        name, _, value = pair.partition("=")
        if "%" in pair or "+" in pair:
            try:
                name = unquote_plus(name, encoding, "strict")
                value = unquote_plus(value, encoding, "strict")
            except UnicodeError:
                raise MalformedRequest(f"form is not valid {encoding}") from None
        if name in fields:
            raise DuplicateField(f"field {name!r} appears more than once", field=name)
        fields[name] = value
    return fields


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


def _read_body(environ: WSGIEnvironment, length: int | None, max_body_size: int) -> bytes:
    stream = environ["wsgi.input"]
    if length is not None:
        if length > max_body_size:
            raise PayloadTooLarge(f"Content-Length {length} is over {max_body_size} bytes")
        # Bounded by construction: never more than Content-Length, itself under the limit.
        data = stream.read(length)
        while len(data) < length:  # a server may hand the body over in pieces
            more = stream.read(length - len(data))
            if not more:
                raise MalformedRequest("body ended before Content-Length")
            data += more
        return bytes(data)
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


def gateway_body(environ: WSGIEnvironment, max_body_size: int) -> bytes | None:
    """``gateway_body(environ, 65536)``: the body of a POST sent the gateway's way (urlencoded,
    UTF-8, a Content-Length), read within the limit; ``None``, nothing read, for a request
    of any other shape or an empty body (``body_fields`` reads those).
    """
    if environ.get("REQUEST_METHOD") != "POST" or environ.get("CONTENT_TYPE") != _URLENCODED:
        return None
    length = _plain_length(environ)
    if not length:  # none declared plainly, or an empty body
        return None
    return _read_body(environ, length, max_body_size)


def _plain_length(environ: WSGIEnvironment) -> int | None:
    """The Content-Length when it is plain ASCII digits and no Transfer-Encoding overrides
    it (the common case, without werkzeug's general parser); ``None`` otherwise."""
    text = environ.get("CONTENT_LENGTH")
    if text and text.isdigit() and text.isascii() and "HTTP_TRANSFER_ENCODING" not in environ:
        return int(text)
    return None


def body_fields(environ: WSGIEnvironment, max_body_size: int) -> tuple[dict[str, str], str]:
    """``body_fields(environ, 65536)`` -> a POST form's fields and their encoding.

    When the body is empty the query string is read instead (one source, never both):
    some senders POST with the fields in the URL. A missing content type is read as
    urlencoded, as browsers and most HTTP clients mean it.
    """
    length = _plain_length(environ)
    if length is None:
        length = get_content_length(environ)
    if length == 0 or (length is None and "wsgi.input_terminated" not in environ):
        # No body, or none that can be read safely (no length, and a server that does
        # not end the stream): the fields can only be in the URL.
        return query_fields(environ)
    content_type = environ.get("CONTENT_TYPE", "")
    if content_type == _URLENCODED:  # what the gateway sends: skip the header parser
        encoding = "utf-8"
    else:
        mimetype, options = parse_options_header(content_type)
        mimetype = mimetype.lower()  # media types are case-insensitive
        if mimetype == _MULTIPART:
            return _multipart_fields(environ, options, max_body_size), "utf-8"
        if mimetype not in _FORM_TYPES:
            raise UnsupportedMediaType(f"content type {mimetype[:64]!r} is not a form")
        encoding = _charset(options)
    data = _read_body(environ, length, max_body_size)
    if not data:
        return query_fields(environ)
    return parse_urlencoded(data, encoding), encoding

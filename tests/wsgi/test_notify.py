"""The async notify through real WSGI calls (werkzeug's test client)."""

from __future__ import annotations

import io
import logging
from urllib.parse import urlencode

import pytest
from werkzeug.test import Client, EnvironBuilder, encode_multipart

from gatepay_wsgi import GatePayMiddleware, Notify

from ..gateway import APPKEY, APPSECRET, NOTIFY_ORDER, Recorder, gateway_sign, notify_fields

PATH = "/gatepay/notify"


def shop(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"shop"]


def make_client(handler, **notify_options) -> Client:
    app = GatePayMiddleware(
        shop,
        appkey=APPKEY,
        appsecret=APPSECRET,
        paths={PATH: Notify(handler, **notify_options)},
        inbox="memory://",
    )
    return Client(app)


def post(client: Client, fields, **kwargs):
    return client.post(
        PATH,
        data=urlencode(fields),
        content_type=kwargs.pop("content_type", "application/x-www-form-urlencoded"),
        **kwargs,
    )


def test_valid_post_answers_exactly_success(recorder):
    response = post(make_client(recorder), notify_fields())
    assert response.status_code == 200
    assert response.get_data() == b"success"
    assert response.headers["Content-Length"] == "7"
    assert len(recorder.calls) == 1
    assert recorder.calls[0].order_id == 100001


def test_valid_get_from_the_older_page_with_appkey_field(recorder):
    fields = {**notify_fields(), "appkey": APPKEY}
    response = make_client(recorder).get(PATH, query_string=urlencode(fields))
    assert (response.status_code, response.get_data()) == (200, b"success")
    assert recorder.calls[0].extend == "张三 13800138000"


def test_valid_multipart(recorder):
    client = make_client(recorder)
    response = client.post(PATH, data=notify_fields(), content_type="multipart/form-data")
    assert response.request.content_type.startswith("multipart/form-data")
    assert response.get_data() == b"success"
    assert len(recorder.calls) == 1


def test_gbk_form_with_declared_charset(recorder):
    fields = notify_fields()
    body = urlencode(fields, encoding="gbk")
    response = make_client(recorder).post(
        PATH, data=body, content_type="application/x-www-form-urlencoded; charset=GBK"
    )
    # the gateway hashed the UTF-8 text, so GBK bytes do not verify: refused, not crashed
    assert response.get_data() == b"fail"
    assert response.status_code == 403
    assert recorder.calls == []


def test_post_with_fields_only_in_the_url(recorder):
    response = make_client(recorder).post(PATH, query_string=urlencode(notify_fields()))
    assert response.get_data() == b"success"


def test_post_body_and_query_are_never_merged(recorder):
    fields = notify_fields()
    body = {k: v for k, v in fields.items() if k != "extend"}
    response = make_client(recorder).post(
        PATH,
        data=urlencode(body),
        query_string=urlencode({"extend": fields["extend"]}),
        content_type="application/x-www-form-urlencoded",
    )
    assert response.get_data() == b"fail"
    assert recorder.calls == []


def _rejections():
    valid = notify_fields()
    yield "duplicate_key", urlencode(valid) + "&price=1.00", 400, "duplicate_field"
    yield "duplicate_unknown_key", urlencode(valid) + "&x=1&x=2", 400, "duplicate_field"
    missing = {k: v for k, v in valid.items() if k != "paytime"}
    yield "missing", urlencode(missing), 400, "missing_field"
    yield "bad_format", urlencode({**valid, "order_id": "1x"}), 400, "invalid_field"
    c0 = notify_fields(out_order_id="GP\x1b[2J")  # signed: only the format refuses it
    yield "c0_in_out_order_id", urlencode(c0), 400, "invalid_field"
    c1 = notify_fields(out_order_id="GP\x9b31m")
    yield "c1_in_out_order_id", urlencode(c1), 400, "invalid_field"
    yield "bad_sign", urlencode({**valid, "sign": "0" * 32}), 403, "bad_signature"
    yield "tampered", urlencode({**valid, "price": "1.00"}), 403, "bad_signature"
    yield "wrong_secret", urlencode(notify_fields(secret="other")), 403, "bad_signature"
    yield "appkey_field", urlencode({**valid, "appkey": "other"}), 403, "appkey_mismatch"
    yield "empty", "", 400, "missing_field"
    yield "garbage", "%%%&&&===", 400, "missing_field"
    yield "invalid_utf8", urlencode(valid) + "&x=%FF%FE", 400, "malformed_request"
    yield "too_many_fields", "&".join(f"f{i}=1" for i in range(100)), 400, "malformed_request"
    yield (
        "boundary_shift",
        urlencode({**notify_fields(price="10.05"), "price": "10.059", "realprice": "9.98"}),
        400,
        "invalid_field",
    )


@pytest.mark.parametrize(("name", "body", "status", "reason"), list(_rejections()))
def test_rejections_answer_fail_without_calling_the_handler(
    recorder, caplog, name, body, status, reason
):
    caplog.set_level(logging.WARNING, logger="gatepay_wsgi")
    response = make_client(recorder).post(
        PATH, data=body, content_type="application/x-www-form-urlencoded"
    )
    assert (response.status_code, response.get_data()) == (status, b"fail")
    assert recorder.calls == []
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1
    assert f"reason={reason}" in lines[0]
    assert APPSECRET not in lines[0]


def test_money_re_split_with_one_decimal_is_refused_before_the_handler(recorder, caplog):
    # "10.05" + "9.98" and "10.0" + "59.98" are the same sign input: the gateway's sign
    # verifies both. Only "exactly two decimals" tells the forged split from the genuine.
    genuine = notify_fields(price="10.05", realprice="9.98")
    forged = {**genuine, "price": "10.0", "realprice": "59.98"}
    assert gateway_sign(forged, NOTIFY_ORDER) == genuine["sign"]
    caplog.set_level(logging.WARNING, logger="gatepay_wsgi")
    response = post(make_client(recorder), forged)
    assert (response.status_code, response.get_data()) == (400, b"fail")
    assert recorder.calls == []
    (line,) = [r.getMessage() for r in caplog.records]
    assert "reason=invalid_field" in line


@pytest.mark.parametrize("method", ["PUT", "DELETE", "HEAD", "OPTIONS", "PATCH"])
def test_other_methods_are_405(recorder, method):
    response = make_client(recorder).open(PATH, method=method, data=urlencode(notify_fields()))
    assert response.status_code == 405
    assert response.headers["Allow"] == "GET, POST"
    assert recorder.calls == []


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "text/xml"])
def test_non_form_bodies_are_415(recorder, content_type):
    response = make_client(recorder).post(
        PATH, data=urlencode(notify_fields()), content_type=content_type
    )
    assert (response.status_code, response.get_data()) == (415, b"fail")


def test_unknown_charset_is_415(recorder):
    response = make_client(recorder).post(
        PATH,
        data=urlencode(notify_fields()),
        content_type="application/x-www-form-urlencoded; charset=rot13",
    )
    assert response.status_code == 415


def test_log_line_has_ids_and_a_sign_prefix_only(recorder, caplog):
    fields = notify_fields(secret="forged")
    with caplog.at_level(logging.WARNING, logger="gatepay_wsgi"):
        post(make_client(recorder), fields, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    (line,) = [r.getMessage() for r in caplog.records]
    assert "order_id='100001'" in line
    assert "out_order_id='SHOP-1'" in line
    assert "remote=203.0.113.9" in line
    assert fields["sign"][:6] in line
    assert fields["sign"] not in line
    assert fields["sign"][:7] not in line


def test_log_line_cannot_be_split_by_a_hostile_value(recorder, caplog):
    fields = {**notify_fields(), "out_order_id": "A\nFAKE LOG LINE"}
    with caplog.at_level(logging.WARNING, logger="gatepay_wsgi"):
        post(make_client(recorder), fields)
    (line,) = [r.getMessage() for r in caplog.records]
    assert "\n" not in line


def _environ_with_body(body: bytes, **extra):
    environ = EnvironBuilder(path=PATH, method="POST").get_environ()
    environ.update(
        {"CONTENT_TYPE": "application/x-www-form-urlencoded", "wsgi.input": io.BytesIO(body)}
    )
    environ.pop("CONTENT_LENGTH", None)
    environ.update(extra)
    return environ


class CountingStream(io.BytesIO):
    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.bytes_read = 0

    def read(self, size=-1):
        data = super().read(size)
        self.bytes_read += len(data)
        return data

    def readinto(self, buffer):
        count = super().readinto(buffer)
        self.bytes_read += count
        return count


def call(app, environ):
    captured = {}

    def start_response(status, headers, exc_info=None):
        captured["status"] = status
        captured["headers"] = headers

    body = b"".join(app(environ, start_response))
    return captured["status"], body


def test_oversized_content_length_is_refused_before_reading(recorder):
    app = GatePayMiddleware(
        shop, appkey=APPKEY, appsecret=APPSECRET, paths={PATH: Notify(recorder, max_body_size=1024)}
    )
    stream = CountingStream(b"a=" + b"x" * 5000)
    environ = _environ_with_body(b"", CONTENT_LENGTH="5002")
    environ["wsgi.input"] = stream
    status, body = call(app, environ)
    assert (status, body) == ("413 Content Too Large", b"fail")
    assert stream.bytes_read == 0
    assert recorder.calls == []


def test_body_at_the_limit_is_read(recorder):
    body = urlencode(notify_fields()).encode()
    app = GatePayMiddleware(
        shop,
        appkey=APPKEY,
        appsecret=APPSECRET,
        paths={PATH: Notify(recorder, max_body_size=len(body))},
    )
    status, answer = call(app, _environ_with_body(body, CONTENT_LENGTH=str(len(body))))
    assert (status, answer) == ("200 OK", b"success")


def test_chunked_body_is_read_up_to_the_limit_only(recorder):
    app = GatePayMiddleware(
        shop, appkey=APPKEY, appsecret=APPSECRET, paths={PATH: Notify(recorder, max_body_size=1024)}
    )
    stream = CountingStream(b"a=" + b"x" * 1_000_000)
    environ = _environ_with_body(b"", **{"wsgi.input_terminated": True})
    environ["wsgi.input"] = stream
    assert call(app, environ) == ("413 Content Too Large", b"fail")
    assert stream.bytes_read <= 1024 + 64 * 1024  # one bounded chunk, not the megabyte
    assert recorder.calls == []


def test_chunked_valid_notify_is_accepted(recorder):
    body = urlencode(notify_fields()).encode()
    app = GatePayMiddleware(
        shop, appkey=APPKEY, appsecret=APPSECRET, paths={PATH: Notify(recorder)}
    )
    environ = _environ_with_body(body, **{"wsgi.input_terminated": True})
    assert call(app, environ) == ("200 OK", b"success")


def test_chunked_without_a_terminating_server_is_not_read(recorder):
    app = GatePayMiddleware(
        shop, appkey=APPKEY, appsecret=APPSECRET, paths={PATH: Notify(recorder)}
    )
    stream = CountingStream(urlencode(notify_fields()).encode())
    environ = _environ_with_body(b"", HTTP_TRANSFER_ENCODING="chunked")
    environ["wsgi.input"] = stream
    status, body = call(app, environ)
    assert body == b"fail"
    assert status.startswith("4")
    assert stream.bytes_read == 0


def test_body_shorter_than_content_length(recorder):
    app = GatePayMiddleware(
        shop, appkey=APPKEY, appsecret=APPSECRET, paths={PATH: Notify(recorder)}
    )
    environ = _environ_with_body(b"order_id=1", CONTENT_LENGTH="500")
    assert call(app, environ) == ("400 Bad Request", b"fail")


def test_oversized_multipart_is_413(recorder):
    client = make_client(recorder, max_body_size=512)
    data = {**notify_fields(), "extend": "x" * 2000}
    response = client.post(PATH, data=data, content_type="multipart/form-data")
    assert (response.status_code, response.get_data()) == (413, b"fail")


def test_multipart_with_a_file_is_refused(recorder):
    data = {**notify_fields(), "upload": (io.BytesIO(b"x"), "x.txt")}
    response = make_client(recorder).post(PATH, data=data)
    assert (response.status_code, response.get_data()) == (400, b"fail")


def test_multipart_that_is_not_utf8_is_malformed(recorder, caplog):
    boundary = "xyz"
    parts = [(k, v.encode("gbk")) for k, v in notify_fields().items()]
    body = (
        b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n'.encode()
            + v
            + b"\r\n"
            for k, v in parts
        )
        + f"--{boundary}--\r\n".encode()
    )
    with caplog.at_level(logging.WARNING, logger="gatepay_wsgi"):
        response = make_client(recorder).post(
            PATH, data=body, content_type=f"multipart/form-data; boundary={boundary}"
        )
    assert (response.status_code, response.get_data()) == (400, b"fail")
    assert "reason=malformed_request" in caplog.text


def test_multipart_duplicate_key_is_refused(recorder):
    from werkzeug.datastructures import MultiDict

    data = MultiDict([*notify_fields().items(), ("price", "1.00")])
    response = make_client(recorder).post(PATH, data=data, content_type="multipart/form-data")
    assert (response.status_code, response.get_data()) == (400, b"fail")
    assert recorder.calls == []


@pytest.mark.parametrize("answer", [None, True, 1, "ok", {}])
def test_anything_but_false_is_success(answer):
    response = post(make_client(Recorder(answer=answer)), notify_fields())
    assert response.get_data() == b"success"


def test_returning_false_answers_fail_with_5xx(caplog):
    with caplog.at_level(logging.WARNING, logger="gatepay_wsgi"):
        response = post(make_client(Recorder(answer=False)), notify_fields())
    assert (response.status_code, response.get_data()) == (500, b"fail")
    assert "reason=handler_declined" in caplog.text


def test_raising_answers_fail_logs_traceback_and_next_request_works(caplog):
    handler = Recorder(error=RuntimeError("database is down"))
    client = make_client(handler)
    with caplog.at_level(logging.ERROR, logger="gatepay_wsgi"):
        response = post(client, notify_fields())
    assert (response.status_code, response.get_data()) == (500, b"fail")
    (record,) = caplog.records
    assert "reason=handler_error" in record.getMessage()
    assert record.exc_info is not None
    assert "database is down" in caplog.text
    handler.error = None
    assert post(client, notify_fields()).get_data() == b"success"
    assert len(handler.calls) == 2


def test_base_exceptions_are_not_swallowed():
    handler = Recorder(error=KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        post(make_client(handler), notify_fields())


def test_paytime_beyond_configured_skew(recorder):
    import time

    client = make_client(recorder, clock_skew=0)
    response = post(client, notify_fields(paytime=str(int(time.time()) + 120)))
    assert response.get_data() == b"fail"
    assert recorder.calls == []


def test_an_internal_error_on_odd_input_answers_fail_not_a_traceback(recorder, monkeypatch, caplog):
    import gatepay_wsgi.notify

    def broken(*args, **kwargs):
        raise RuntimeError("a bug of ours")

    monkeypatch.setattr(gatepay_wsgi.notify, "read_notification", broken)
    with caplog.at_level(logging.ERROR, logger="gatepay_wsgi"):
        response = post(make_client(recorder), notify_fields())
    assert (response.status_code, response.get_data()) == (500, b"fail")
    assert "reason=internal_error" in caplog.text
    assert recorder.calls == []


def test_notify_used_alone_keeps_a_memory_inbox_and_says_so(recorder, caplog):
    endpoint = Notify(recorder, appkey=APPKEY, appsecret=APPSECRET)
    with caplog.at_level(logging.WARNING, logger="gatepay_wsgi"):
        client = Client(endpoint)
        for _ in range(2):
            response = client.post(
                PATH,
                data=urlencode(notify_fields()),
                content_type="application/x-www-form-urlencoded",
            )
            assert response.get_data() == b"success"
    assert caplog.text.count("memory only") == 1
    assert len(recorder.calls) == 1


@pytest.mark.parametrize(
    "content_type",
    [
        "APPLICATION/X-WWW-FORM-URLENCODED",
        "application/x-www-form-urlencoded; charset=UTF-8",
        "",
    ],
)
def test_form_content_types_are_case_insensitive_and_may_be_absent(recorder, content_type):
    response = make_client(recorder).post(
        PATH, data=urlencode(notify_fields()), content_type=content_type or None
    )
    assert response.get_data() == b"success"


def test_upper_case_multipart_is_multipart(recorder):
    boundary, body = encode_multipart(notify_fields(), boundary="b0und")
    response = make_client(recorder).post(
        PATH, data=body, content_type=f"MULTIPART/FORM-DATA; boundary={boundary}"
    )
    assert response.get_data() == b"success"


def test_empty_multipart_post_reads_the_query(recorder):
    app = GatePayMiddleware(
        shop, appkey=APPKEY, appsecret=APPSECRET, paths={PATH: Notify(recorder)}, inbox="memory://"
    )
    environ = _environ_with_body(
        b"",
        CONTENT_LENGTH="0",
        CONTENT_TYPE="multipart/form-data; boundary=b",
        QUERY_STRING=urlencode(notify_fields()),
    )
    assert call(app, environ) == ("200 OK", b"success")


# -- the gateway's own form: the hot path reads it, the answers stay the same -------------


def gateway_form(fields) -> str:
    return "&".join(f"{name}={value}" for name, value in fields.items())


def test_the_gateway_form_is_answered_and_kept_like_any_other(recorder):
    fields = notify_fields(extend="plain")
    app = GatePayMiddleware(
        shop, appkey=APPKEY, appsecret=APPSECRET, paths={PATH: Notify(recorder)}, inbox="memory://"
    )
    body = gateway_form(fields)
    response = Client(app).post(PATH, data=body, content_type="application/x-www-form-urlencoded")
    assert (response.status_code, response.get_data()) == (200, b"success")
    (notification,) = recorder.calls
    assert dict(notification.raw) == fields
    assert str(notification.realprice) == "99.98"
    (record,) = app.inbox.get(100001)
    assert dict(record.raw) == fields
    assert record.status == "done"
    # the same notify again, fields in another order: the duplicate of the one kept
    again = Client(app).post(
        PATH,
        data=gateway_form(dict(reversed(fields.items()))),
        content_type="application/x-www-form-urlencoded",
    )
    assert again.get_data() == b"success"
    assert len(recorder.calls) == 1
    assert app.inbox.get(100001)[0].received == 2
    assert app.inbox.get(100001)[0].deliveries == 1


@pytest.mark.parametrize(
    ("change", "status", "reason"),
    [
        ({"sign": "0" * 32}, 403, "bad_signature"),
        ({"paytime": "99999999999"}, 400, "invalid_field"),
    ],
)
def test_a_refused_gateway_form_is_logged_and_counted_with_its_ids(
    recorder, caplog, change, status, reason
):
    fields = {**notify_fields(extend="plain", out_order_id="SHOP-9"), **change}
    app = GatePayMiddleware(
        shop, appkey=APPKEY, appsecret=APPSECRET, paths={PATH: Notify(recorder)}, inbox="memory://"
    )
    with caplog.at_level(logging.WARNING, logger="gatepay_wsgi"):
        response = Client(app).post(
            PATH, data=gateway_form(fields), content_type="application/x-www-form-urlencoded"
        )
    assert (response.status_code, response.get_data()) == (status, b"fail")
    assert recorder.calls == []
    assert f"reason={reason}" in caplog.text
    assert "out_order_id='SHOP-9'" in caplog.text
    (rejection,) = app.inbox.rejections()
    assert (rejection.reason, rejection.out_order_id) == (reason, "SHOP-9")


def test_a_gateway_form_that_is_not_utf8_is_malformed(recorder):
    body = gateway_form(notify_fields(extend="plain")).encode().replace(b"plain", b"pl\xffin")
    app = GatePayMiddleware(
        shop, appkey=APPKEY, appsecret=APPSECRET, paths={PATH: Notify(recorder)}, inbox="memory://"
    )
    response = Client(app).post(PATH, data=body, content_type="application/x-www-form-urlencoded")
    assert (response.status_code, response.get_data()) == (400, b"fail")
    assert recorder.calls == []


def test_a_get_notify_is_answered_no_store_and_a_post_needs_no_cache_header(recorder):
    client = make_client(recorder)
    posted = post(client, notify_fields(order_id="7001"))
    assert posted.get_data() == b"success"
    assert "Cache-Control" not in posted.headers  # RFC 9111: no cache keeps a POST's answer
    got = client.get(PATH, query_string=urlencode(notify_fields(order_id="7002")))
    assert got.get_data() == b"success"
    assert got.headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("inbox", ["memory://", "sqlite"])
def test_an_appkey_field_is_not_stored_and_makes_no_delivery_look_new(
    recorder, caplog, tmp_path, inbox
):
    """README: what is stored is the signed fields and the sign; the older page's appkey
    field (unsigned, checked equal to the merchant's) is one of the extras left out."""
    url = inbox if inbox == "memory://" else f"sqlite:///{tmp_path}/inbox.sqlite3"
    app = GatePayMiddleware(
        shop, appkey=APPKEY, appsecret=APPSECRET, paths={PATH: Notify(recorder)}, inbox=url
    )
    fields = notify_fields()
    with caplog.at_level(logging.WARNING, logger="gatepay_wsgi"):
        for sent in ({**fields, "appkey": APPKEY}, fields):
            assert post(Client(app), sent).get_data() == b"success"
    assert len(recorder.calls) == 1
    assert "other signed fields" not in caplog.text
    (record,) = app.inbox.get(100001)
    assert dict(record.raw) == fields
    assert record.deliveries == 1
    assert record.received == 2

"""outbound.py: the tools' one HTTP client; a 4xx/5xx is an answer, no answer is Unreachable."""

from __future__ import annotations

import socket
import threading

import pytest

from gatepay_wsgi.errors import ConfigError
from gatepay_wsgi.outbound import Unreachable, check_http_url, request, with_query

from ..servers import free_port, serving


def echo(environ, start_response):
    body = environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
    status = "503 Service Unavailable" if b"refuse" in body else "200 OK"
    start_response(status, [("Content-Type", "text/plain")])
    return [environ["REQUEST_METHOD"].encode(), b" ", environ["QUERY_STRING"].encode(), b" ", body]


def test_a_post_sends_a_form_and_a_get_the_query():
    with serving(echo) as base:
        posted = request("POST", base + "/x", {"a": "1", "b": "张"}, timeout=5)
        fetched = request("GET", base + "/x?k=v", {"a": "1"}, timeout=5)
    assert (posted.status, posted.body) == (200, b"POST  a=1&b=%E5%BC%A0")
    assert posted.content_type == "text/plain"
    assert fetched.body == b"GET k=v&a=1 "


def test_an_error_status_is_the_servers_answer_and_the_limit_holds():
    with serving(echo) as base:
        answer = request("POST", base, {"please": "refuse"}, timeout=5, limit=4)
    assert (answer.status, answer.body) == (503, b"POST")


def test_no_answer_is_unreachable_with_a_kind():
    with pytest.raises(Unreachable) as refused:
        request("GET", f"http://127.0.0.1:{free_port()}/", timeout=5)
    assert refused.value.kind == "refused"
    assert "connection refused" in str(refused.value)
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)  # accepts, never answers
    try:
        port = silent.getsockname()[1]
        with pytest.raises(Unreachable) as late:
            request("GET", f"http://127.0.0.1:{port}/", timeout=0.3)
        assert late.value.kind == "timeout"
    finally:
        silent.close()
    with pytest.raises(Unreachable) as bad:
        request("GET", "http://[::1", timeout=1)
    assert bad.value.kind == "bad_url"


def test_only_http_urls_and_a_query_joined_either_way():
    assert check_http_url("https://gateway.example/", "url") == "https://gateway.example/"
    with pytest.raises(ConfigError, match="--url must be an http"):
        check_http_url("file:///etc/passwd", "--url")
    assert with_query("http://x/a", {"b": "1"}) == "http://x/a?b=1"
    assert with_query("http://x/a?b=1", {"c": "2 3"}) == "http://x/a?b=1&c=2+3"


def test_it_is_safe_from_several_threads():
    with serving(echo, threads=4) as base:
        answers: list[int] = []
        threads = [
            threading.Thread(target=lambda: answers.append(request("GET", base, timeout=5).status))
            for _ in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert answers == [200] * 8

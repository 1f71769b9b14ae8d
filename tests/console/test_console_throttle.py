"""The console's sign-in throttle under a burst, across worker processes and hosts: at
most 5 wrong passwords per user and per address per window are checked, however many
arrive at once (issue 26: 20 sent together were all checked, 4 gunicorn workers gave 20)."""

from __future__ import annotations

import http.cookiejar
import re
import threading
import urllib.error
import urllib.request
from urllib.parse import urlencode

import pytest

from gatepay_wsgi.console import Console

from ..servers import free_port, gunicorn, serving

BURST = 20


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _browser():
    return urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirects
    )


def _status(opener, url, form=None) -> tuple[int, str]:
    data = None if form is None else urlencode(form).encode()
    try:
        with opener.open(url, data, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as answer:
        return answer.code, answer.read().decode()


def burst(bases: list[str], user: str = "alice", password: str = "wrong") -> list[int]:
    """``BURST`` sign-ins sent at the same moment, spread over ``bases``; their statuses."""
    ready = []
    for i in range(BURST):  # each its own browser: its own cookie and CSRF token
        opener, base = _browser(), bases[i % len(bases)]
        page = _status(opener, base + "/login")[1]
        csrf = re.search(r"name=csrf value='([^']+)'", page).group(1)
        ready.append((opener, base, {"csrf": csrf, "user": user, "password": password}))
    start, statuses, lock = threading.Barrier(BURST), [], threading.Lock()

    def send(opener, base, form):
        start.wait()
        status = _status(opener, base + "/login", form)[0]
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=send, args=args) for args in ready]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    return sorted(statuses)


CHECKED_FIVE = [403] * 5 + [429] * (BURST - 5)


def test_a_burst_on_four_gunicorn_workers_checks_five_guesses(tmp_path):
    port = free_port()
    server = gunicorn(
        "console_app:app",
        port,
        {"GATEPAY_TEST_INBOX": f"sqlite:///{tmp_path / 'gatepay.sqlite3'}"},
        workers=4,
        extra=["--threads", "8"],
    )
    try:
        assert burst([f"http://127.0.0.1:{port}"]) == CHECKED_FIVE
        # Blocked for everyone now, the right password included.
        assert burst([f"http://127.0.0.1:{port}"], password="right") == [429] * BURST
    finally:
        server.terminate()
        server.communicate(timeout=30)


@pytest.mark.parametrize("kind", ["memory", "sqlite"])
def test_a_burst_on_one_threaded_server_checks_five_guesses(kind, tmp_path):
    url = "memory://" if kind == "memory" else f"sqlite:///{tmp_path / 'gatepay.sqlite3'}"
    console = Console(url, users={"alice": _slow_hash()}, secret_key="s" * 40)
    try:
        with serving(console, threads=BURST) as base:
            assert burst([base]) == CHECKED_FIVE
    finally:
        console.close()


def test_two_hosts_on_one_postgres_check_five_guesses_between_them(postgres_url):
    consoles = [
        Console(postgres_url, users={"alice": _slow_hash()}, secret_key="s" * 40) for _ in range(2)
    ]
    try:
        with serving(consoles[0], threads=BURST) as one, serving(consoles[1], threads=BURST) as two:
            assert burst([one, two]) == CHECKED_FIVE
    finally:
        for console in consoles:
            console.close()


def _slow_hash() -> str:
    from werkzeug.security import generate_password_hash

    return generate_password_hash("right", "pbkdf2:sha256:200000")


# -- the throttle's decisions, on every inbox ---------------------------------------------


@pytest.fixture
def throttle(make_inbox):
    """A ``LoginThrottle`` over each kind of inbox in turn, on a clock the test moves."""
    from gatepay_wsgi.console.auth import LoginThrottle

    now = [1_000_000.0]
    return LoginThrottle(make_inbox(), clock=lambda: now[0]), now


def test_the_fifth_guess_blocks_and_a_refused_one_is_not_counted(throttle):
    throttle, now = throttle
    for _ in range(5):
        assert throttle.attempt("user:alice", "address:a") == 0
    assert throttle.attempt("user:alice", "address:b") == 60  # the user is blocked
    assert throttle.attempt("user:bob", "address:a") == 60  # so is the address
    assert throttle.wait("user:bob", "address:b") == 0
    now[0] += 61
    assert throttle.attempt("user:alice", "address:b") == 0  # the sixth failure: 120 s
    assert throttle.wait("user:alice") == 120


def test_a_sign_in_gives_back_what_its_attempt_counted(throttle):
    throttle, _ = throttle
    for name in ("a", "b", "c", "d"):
        assert throttle.attempt(f"user:{name}", "address:x") == 0
    assert throttle.attempt("user:alice", "address:x") == 0  # the fifth: blocks, for now
    assert throttle.wait("address:x") == 60
    throttle.succeeded("user:alice", "address:x")  # it was the right password
    assert throttle.wait("user:alice", "address:x") == 0
    assert throttle.attempt("user:e", "address:x") == 0  # the address is back at four
    assert throttle.attempt("user:f", "address:x") == 60


def test_a_sign_in_ends_the_users_count(throttle):
    throttle, _ = throttle
    for _ in range(4):
        assert throttle.attempt("user:alice", "address:x") == 0
    throttle.succeeded("user:alice", "address:x")
    for _ in range(4):  # four more before the fifth would block: the count started again
        assert throttle.attempt("user:alice", "address:y") == 0
    assert throttle.wait("user:alice") == 0


def test_failures_are_forgotten_an_hour_after_the_last(throttle):
    throttle, now = throttle
    for _ in range(4):
        assert throttle.attempt("user:alice") == 0
    now[0] += 3601
    for _ in range(4):
        assert throttle.attempt("user:alice") == 0
    assert throttle.wait("user:alice") == 0
    assert throttle.attempt("user:alice") == 0
    assert throttle.wait("user:alice") == 60


def test_the_memory_inbox_keeps_blocked_keys_when_a_flood_of_names_fills_it():
    from gatepay_wsgi.console.auth import LoginThrottle
    from gatepay_wsgi.inbox import MemoryInbox
    from gatepay_wsgi.inbox import memory as memory_inbox

    throttle = LoginThrottle(MemoryInbox(), clock=lambda: 1000.0)
    for _ in range(5):
        throttle.attempt("user:alice")
    for n in range(memory_inbox._MAX_SIGN_IN_KEYS + 10):
        throttle.attempt(f"user:flood{n}")
    assert throttle.wait("user:alice") == 60
    assert len(throttle.inbox._sign_ins) == memory_inbox._MAX_SIGN_IN_KEYS

"""The inbox's web console (issue 17) through werkzeug's test client: off until
configured, signing in, sessions, CSRF, the throttle, the headers, the pages, replays,
Chinese, and a mount under a path."""

from __future__ import annotations

import http.cookiejar
import logging
import re
import string
import time
import urllib.error
import urllib.request
from datetime import date, timedelta
from urllib.parse import urlencode

import pytest
from werkzeug.security import generate_password_hash
from werkzeug.test import Client

from gatepay_wsgi import GatePayMiddleware, Notify
from gatepay_wsgi.console import SECURITY_HEADERS, Console
from gatepay_wsgi.console.texts import TEXTS
from gatepay_wsgi.errors import ConfigError
from gatepay_wsgi.inbox import DONE, FAILED, MemoryInbox
from gatepay_wsgi.messages import parse_notification

from ..gateway import APPKEY, APPSECRET, Recorder, notify_fields, shop
from ..servers import serving

PASSWORD = "correct horse battery staple"
HASH = generate_password_hash(PASSWORD, "pbkdf2:sha256:1000")  # fast, for the tests
SECRET = "s3cret-" * 6
HOSTILE = "<script>alert(1)</script>'\"><img src=x onerror=alert(2)>"
CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}


def deliver(inbox, handler, remote="198.51.100.7", **fields):
    app = GatePayMiddleware(
        shop, appkey=APPKEY, appsecret=APPSECRET, paths={"/n": Notify(handler)}, inbox=inbox
    )
    return Client(app).post(
        "/n",
        data=urlencode(fields),
        content_type="application/x-www-form-urlencoded",
        environ_base={"REMOTE_ADDR": remote},
    )


@pytest.fixture
def inbox():
    """100001 done; 100002 failed (raised); 100003 failed (declined) with a hostile extend;
    three forged notifies from 203.0.113.9 and one from 203.0.113.10."""
    inbox = MemoryInbox()
    deliver(inbox, Recorder(), **notify_fields(order_id="100001", out_order_id="SHOP-1"))
    deliver(
        inbox,
        Recorder(error=RuntimeError("db down")),
        **notify_fields(order_id="100002", out_order_id="SHOP-2"),
    )
    deliver(
        inbox,
        Recorder(answer=False),
        **notify_fields(order_id="100003", out_order_id="WEB-3", extend=HOSTILE),
    )
    for remote in ("203.0.113.9", "203.0.113.9", "203.0.113.9", "203.0.113.10"):
        forged = {**notify_fields(order_id="100009"), "sign": "0" * 32}
        deliver(inbox, Recorder(), remote=remote, **forged)
    return inbox


@pytest.fixture
def handler():
    return Recorder()


@pytest.fixture
def console(inbox, handler):
    return Console(inbox, users={"alice": HASH}, secret_key=SECRET, handler=handler)


@pytest.fixture
def client(console):
    return Client(console)


def csrf_of(response) -> str:
    return re.search(r"name=csrf value='([^']+)'", response.get_data(as_text=True)).group(1)


def sign_in(client, user="alice", password=PASSWORD, next_path=None, **options):
    """Open the sign-in form (for its CSRF token and cookie), then post it."""
    form_page = client.get("/login", **options)
    data = {"csrf": csrf_of(form_page), "user": user, "password": password}
    if next_path is not None:
        data["next"] = next_path
    return client.post("/login", data=data, **options)


@pytest.fixture
def signed_in(client):
    assert sign_in(client).status_code == 303
    return client


def page_csrf(client, path="/"):
    return csrf_of(client.get(path))


def cookie_headers(response, name="gatepay_console"):
    return [c for c in response.headers.getlist("Set-Cookie") if c.startswith(name + "=")]


# -- off until configured -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("users", "secret"),
    [
        (None, SECRET),
        ({}, SECRET),
        ({"alice": HASH}, None),
        ({"alice": HASH}, ""),
        ({"alice": HASH}, "x" * 31),
        ({"alice": HASH}, b"x" * 31),
    ],
)
def test_off_without_users_or_a_long_secret(users, secret):
    with pytest.raises(ConfigError, match="the console is off until"):
        Console(MemoryInbox(), users=users, secret_key=secret)


@pytest.mark.parametrize(
    "value", ["hunter2", "pbkdf2", "md5$salt$abc", "sha256:1$salt$abcdef", "", "$$"]
)
def test_a_plain_password_is_refused_and_never_repeated(value):
    with pytest.raises(ConfigError, match="generate_password_hash") as refused:
        Console(MemoryInbox(), users={"alice": value}, secret_key=SECRET)
    if value:
        assert value not in str(refused.value)


def test_every_kind_of_werkzeug_hash_is_taken():
    users = {
        "a": generate_password_hash("x"),  # scrypt, the default
        "b": generate_password_hash("x", "pbkdf2"),
        "c": generate_password_hash("x", "pbkdf2:sha512:1000"),
    }
    Console(MemoryInbox(), users=users, secret_key=SECRET)


def test_an_inbox_url_is_opened_and_closed(tmp_path):
    console = Console(
        f"sqlite:///{tmp_path}/inbox.sqlite3", users={"alice": HASH}, secret_key=SECRET
    )
    assert console.inbox.search() == []
    console.close()


def test_a_handler_may_be_a_dotted_name():
    console = Console(
        MemoryInbox(),
        users={"alice": HASH},
        secret_key=SECRET,
        handler="tests.gateway:order_id_of",
    )
    assert callable(console.handler)
    with pytest.raises(ConfigError):
        Console(MemoryInbox(), users={"a": HASH}, secret_key=SECRET, handler="tests.nope:x")


def test_an_unknown_language_is_a_config_error():
    with pytest.raises(ConfigError, match="language"):
        Console(MemoryInbox(), users={"a": HASH}, secret_key=SECRET, language="fr")


# -- signing in ---------------------------------------------------------------------------


def test_the_login_page_has_a_form_a_csrf_token_and_a_cookie(client):
    response = client.get("/login")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "<form method=post action='/login' id=login>" in text
    assert "type=password" in text
    assert csrf_of(response)
    (cookie,) = cookie_headers(response)
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP: a Secure cookie would never come back
    assert "Signed in as" not in text


def test_a_wrong_password_is_refused(client):
    response = sign_in(client, password="wrong")
    assert response.status_code == 403
    assert "Wrong user name or password." in response.get_data(as_text=True)
    assert cookie_headers(response) == []
    assert client.get("/").status_code == 303  # still not signed in


def test_an_unknown_user_is_refused_the_same_way(client):
    response = sign_in(client, user="mallory")
    assert response.status_code == 403
    assert "Wrong user name or password." in response.get_data(as_text=True)


def test_failed_sign_ins_are_throttled_after_five(client, console, caplog):
    for _ in range(5):
        assert sign_in(client, password="wrong").status_code == 403
    response = sign_in(client)  # the right password, but too late
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "Too many failed sign-ins" in response.get_data(as_text=True)
    assert client.get("/").status_code == 303
    assert "too many failures" in caplog.text
    # A minute later it is let through again.
    console.throttle.clock = lambda: time.time() + 61
    assert sign_in(client).status_code == 303
    assert client.get("/").status_code == 200


def test_the_delay_grows_with_each_failure_after_the_fifth(console):
    now = [1000.0]
    console.throttle.clock = lambda: now[0]
    key = "user:alice"
    for _ in range(5):
        assert console.throttle.attempt(key) == 0
    assert console.throttle.wait(key) == 60
    assert console.throttle.attempt(key) == 60  # refused, and not counted
    now[0] += 61
    assert console.throttle.attempt(key) == 0
    assert console.throttle.wait(key) == 120
    now[0] += 121
    assert console.throttle.attempt(key) == 0
    assert console.throttle.wait(key) == 240


def test_failures_from_one_address_are_throttled_whatever_the_name(client):
    for name in ("a", "b", "c", "d", "e"):
        assert sign_in(client, user=name, password="x").status_code == 403
    assert sign_in(client).status_code == 429
    # Another address may still sign in as alice: her own count is 0.
    other = {"environ_base": {"REMOTE_ADDR": "192.0.2.50"}}
    assert sign_in(client, **other).status_code == 303


def test_the_right_password_signs_in_with_an_httponly_samesite_cookie(client, caplog):
    caplog.set_level(logging.INFO, "gatepay_wsgi.console")
    response = sign_in(client)
    assert response.status_code == 303
    assert response.headers["Location"] == "/"
    (cookie,) = cookie_headers(response)
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Path=/" in cookie
    assert "Secure" not in cookie
    page = client.get("/")
    assert page.status_code == 200
    assert "Signed in as <b>alice</b>" in page.get_data(as_text=True)
    assert "alice signed in" in caplog.text


def test_over_https_the_cookies_are_secure(client):
    https = {"base_url": "https://shop.example"}
    form_page = client.get("/login", **https)
    assert all("Secure" in c for c in cookie_headers(form_page))
    response = client.post(
        "/login",
        data={"csrf": csrf_of(form_page), "user": "alice", "password": PASSWORD},
        **https,
    )
    assert response.status_code == 303
    (cookie,) = cookie_headers(response)
    assert "Secure" in cookie
    assert "HttpOnly" in cookie
    language = client.get("/login?lang=zh", **https)
    assert all("Secure" in c for c in cookie_headers(language, "gatepay_console_lang"))


def test_signing_in_gives_a_new_csrf_token(client):
    before = csrf_of(client.get("/login"))
    sign_in(client)
    assert page_csrf(client) != before


@pytest.mark.parametrize("path", ["/", "/notifies", "/notifies?status=failed", "/notifies/100002"])
def test_pages_redirect_to_the_sign_in_and_back(client, path):
    response = client.get(path)
    assert response.status_code == 303
    location = response.headers["Location"]
    assert location.startswith("/login")
    next_path = dict(
        pair.split("=", 1) for pair in location.partition("?")[2].split("&") if pair
    ).get("next")
    if path == "/":
        assert next_path is None
    signed = sign_in(client, next_path=path if path != "/" else None)
    assert signed.headers["Location"] == path


@pytest.mark.parametrize(
    "next_path",
    [
        "//evil.example/",
        "https://evil.example/",
        "\\\\evil",
        "/x\r\nSet-Cookie: a=b",
        "/../../evil",  # a browser resolves it out of the console's mount
        "/notifies/%2e%2e/%2E%2E/evil",
    ],
)
def test_the_way_back_never_leaves_the_console(client, next_path):
    response = sign_in(client, next_path=next_path)
    assert response.headers["Location"] == "/"


def test_sign_out_ends_the_session(signed_in):
    response = signed_in.post("/logout", data={"csrf": page_csrf(signed_in)})
    assert response.status_code == 303
    assert response.headers["Location"] == "/login?message=signed_out"
    assert any("Expires=Thu, 01 Jan 1970" in c for c in cookie_headers(response))
    assert signed_in.get("/").status_code == 303
    assert "You are signed out." in signed_in.get("/login?message=signed_out").text


# -- sessions -----------------------------------------------------------------------------


def session_cookie(client):
    return client.get_cookie("gatepay_console").value


def test_a_tampered_cookie_is_not_a_session(signed_in):
    value = session_cookie(signed_in)
    body, _, mac = value.rpartition(".")
    for forged in (body + "." + mac[:-2] + "AA", body[:-2] + "." + mac, "x", ""):
        signed_in.set_cookie("gatepay_console", forged)
        assert signed_in.get("/").status_code == 303


def test_a_cookie_signed_with_another_secret_is_not_a_session(signed_in, inbox):
    other = Console(inbox, users={"alice": HASH}, secret_key="another secret, 32 characters long")
    stranger = Client(other)
    stranger.set_cookie("gatepay_console", session_cookie(signed_in))
    assert stranger.get("/").status_code == 303


def test_a_session_ends_after_eight_hours(signed_in, monkeypatch):
    later = time.time() + 8 * 3600 + 1
    monkeypatch.setattr(time, "time", lambda: later)
    response = signed_in.get("/notifies")
    assert response.status_code == 303
    assert "message=session_ended" in response.headers["Location"]
    assert "Your session ended" in signed_in.get(response.headers["Location"]).text


def test_a_session_lasts_until_its_eighth_hour(signed_in, monkeypatch):
    later = time.time() + 8 * 3600 - 60
    monkeypatch.setattr(time, "time", lambda: later)
    assert signed_in.get("/notifies").status_code == 200


def test_the_secret_signs_only_sessions(signed_in, console):
    """The genuine session, signed again with the console's secret for another purpose
    (itsdangerous' default salt, another salt), is no session; signed again for sessions,
    it is."""
    from itsdangerous import URLSafeTimedSerializer

    session = console.session_signer.serializer.loads(session_cookie(signed_in))
    assert session["u"] == "alice"
    for salt in ("itsdangerous", "gatepay_wsgi.console other"):
        forged = URLSafeTimedSerializer(SECRET, salt).dumps(session)
        signed_in.set_cookie("gatepay_console", forged)
        assert signed_in.get("/").status_code == 303
    signed_in.set_cookie("gatepay_console", console.session_signer.serializer.dumps(session))
    assert signed_in.get("/").status_code == 200


def test_a_cookie_of_the_former_format_reads_as_signed_out(signed_in, console):
    """Before itsdangerous: base64url(JSON).base64url(HMAC-SHA256) over a derived key,
    the expiry in the JSON. Such a session, genuine then, now reads as signed out."""
    import base64
    import hashlib
    import hmac
    import json

    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

    session = console.session_signer.serializer.loads(session_cookie(signed_in))
    data = {**session, "e": time.time() + 3600}
    key = hmac.new(SECRET.encode(), b"gatepay_wsgi.console session", hashlib.sha256).digest()
    body = b64(json.dumps(data, separators=(",", ":"), sort_keys=True).encode())
    mac = b64(hmac.new(key, body.encode("ascii"), hashlib.sha256).digest())
    signed_in.set_cookie("gatepay_console", f"{body}.{mac}")
    response = signed_in.get("/notifies")
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/login")


def test_a_changed_password_ends_the_sessions(signed_in, inbox):
    changed = Console(
        inbox,
        users={"alice": generate_password_hash("new", "pbkdf2:sha256:1000")},
        secret_key=SECRET,
    )
    client = Client(changed)
    client.set_cookie("gatepay_console", session_cookie(signed_in))
    assert client.get("/").status_code == 303


# -- CSRF ---------------------------------------------------------------------------------


@pytest.mark.parametrize("token", [None, "", "wrong"])
@pytest.mark.parametrize("path", ["/notifies/100002/replay", "/replay-failed", "/logout"])
def test_a_post_without_the_csrf_token_is_refused(signed_in, handler, inbox, path, token):
    data = {"appkey": APPKEY}
    if token is not None:
        data["csrf"] = token
    response = signed_in.post(path, data=data)
    assert response.status_code == 403
    assert "did not come from the console" in response.get_data(as_text=True)
    assert handler.calls == []
    assert inbox.status(APPKEY, 100002) == FAILED
    assert signed_in.get("/").status_code == 200  # still signed in


def test_the_sign_in_form_needs_its_csrf_token_too(client):
    client.get("/login")
    response = client.post("/login", data={"user": "alice", "password": PASSWORD})
    assert response.status_code == 403
    assert Client(client.application).post("/login", data={"csrf": "x"}).status_code == 403


def test_another_sessions_token_does_not_do(signed_in, console):
    stranger = Client(console)
    sign_in(stranger)
    response = signed_in.post(
        "/notifies/100002/replay", data={"csrf": page_csrf(stranger), "appkey": APPKEY}
    )
    assert response.status_code == 403


# -- headers ------------------------------------------------------------------------------


def requests_of_every_kind(client):
    yield client.get("/login")
    yield client.get("/")  # a redirect
    yield client.post("/login", data={"user": "alice"})  # no CSRF: 403
    yield client.get("/no/such/page")
    sign_in(client, password="wrong")
    yield sign_in(client)  # the redirect that signs in
    yield client.get("/")
    yield client.get("/notifies?status=failed")
    yield client.get("/notifies/100003")
    yield client.get("/notifies/424242")  # no such notify
    yield client.get("/logout")  # a POST-only page: 405
    yield client.post("/notifies/100002/replay", data={"csrf": page_csrf(client)})


def test_every_answer_carries_the_security_headers(client):
    answers = list(requests_of_every_kind(client))
    assert [a.status_code for a in answers] == [
        200,
        303,
        403,
        404,
        303,
        200,
        200,
        200,
        404,
        405,
        404,  # the replay without an appkey: no such notify of this merchant
    ]
    for answer in answers:
        assert answer.headers["Content-Security-Policy"] == CSP
        assert answer.headers["X-Frame-Options"] == "DENY"
        assert answer.headers["Cache-Control"] == "no-store"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
    assert SECURITY_HEADERS["Content-Security-Policy"] == CSP
    assert "POST" in answers[9].headers["Allow"]


def test_no_page_has_a_script(signed_in):
    for path in ("/", "/notifies", "/notifies/100003", "/login"):
        text = signed_in.get(path).get_data(as_text=True)
        assert "<script" not in text
        assert not re.search(r"<[^>]+\son\w+=", text)  # no event handler attribute


# -- the overview -------------------------------------------------------------------------


def test_the_overview_counts_by_state(signed_in):
    text = signed_in.get("/").get_data(as_text=True)
    assert re.search(r"<tr id=count-done>.*?<td class=n>1</td>", text)
    assert re.search(r"<tr id=count-failed>.*?<td class=n>2</td>", text)
    assert re.search(r"<tr id=count-received>.*?<td class=n>0</td>", text)
    assert re.search(r"<tr id=count-stale>.*?<td class=n>0</td>", text)
    assert "href='/notifies?status=failed'" in text


def test_the_overview_says_what_needs_action(signed_in):
    text = signed_in.get("/").get_data(as_text=True)
    assert "Failed: the handler declined or raised (2)" in text
    assert "<a href='/notifies/100002'>100002</a>" in text
    assert "RuntimeError: db down" in text
    assert "Replay all failed (2)" in text
    assert "<form method=post action='/replay-failed'>" in text


def test_stale_claims_need_action_too(handler):
    inbox = MemoryInbox(lease=0.0)
    notification = parse_notification(
        notify_fields(order_id="7", out_order_id="S-7"), appkey=APPKEY
    )
    inbox.claim(notification)  # its worker "died": never finished, the lease ran out
    client = Client(Console(inbox, users={"alice": HASH}, secret_key=SECRET, handler=handler))
    sign_in(client)
    text = client.get("/").get_data(as_text=True)
    assert re.search(r"<tr id=count-stale>.*?<td class=n>1</td>", text)
    assert "Stale or never claimed: no worker is handling them (1)" in text
    page = client.get("/notifies/7").get_data(as_text=True)
    assert "its worker stopped while the handler ran" in page
    assert "id=replay-7" in page


def test_nothing_to_do_is_said(handler):
    inbox = MemoryInbox()
    deliver(inbox, Recorder(), **notify_fields())
    client = Client(Console(inbox, users={"alice": HASH}, secret_key=SECRET, handler=handler))
    sign_in(client)
    text = client.get("/").get_data(as_text=True)
    assert "Nothing needs action" in text
    assert "replay-all" not in text
    assert "No refused requests." in text


def bars(text: str, chart_id: str) -> list[str]:
    svg = re.search(rf"<svg id={chart_id} .*?</svg>", text, re.DOTALL).group(0)
    return re.findall(r"<g><title>(.*?)</title>", svg)


def test_the_overview_charts_notifies_per_hour_by_outcome(signed_in):
    text = signed_in.get("/").get_data(as_text=True)
    assert "<h3>Last 24 hours</h3>" in text
    assert "<h3>Last 7 days</h3>" in text
    (day,) = bars(text, "chart-day")
    (week,) = bars(text, "chart-week")  # all three arrived this hour
    assert day == week
    assert day.endswith(": 3 (1 done, 2 failed, 0 processing, 0 received)")
    assert text.count("3 notifies: 1 done, 2 failed, 0 processing, 0 received") >= 2
    svg = re.search(r"<svg id=chart-day .*?</svg>", text, re.DOTALL).group(0)
    assert svg.count("fill='#2da44e'") == 1  # one done segment
    assert svg.count("fill='#cf222e'") == 1  # one failed segment


def test_the_chart_buckets_by_hour_over_the_week():
    from gatepay_wsgi.console.overview_data import hourly

    now = time.time()
    start = now // 3600 * 3600 - 167 * 3600
    inbox = MemoryInbox()
    for order_id in (1, 2, 3):
        deliver(inbox, Recorder(answer=order_id != 2), **notify_fields(order_id=str(order_id)))
    records = inbox.search()
    moved = [
        type(r)(**{**r.__dict__, "received_at": at})
        for r, at in zip(records, (start + 10, start + 3600 * 100 + 5, start - 1), strict=True)
    ]
    chart = hourly(moved, start, 168)
    assert len(chart.counts) == 168
    assert sum(sum(c.values()) for c in chart.counts) == 2  # the one before the week is out
    assert sum(chart.counts[0].values()) == 1
    assert sum(chart.counts[100].values()) == 1


def test_the_overview_lists_refusals_by_reason_with_their_latest_sources(signed_in, inbox):
    text = signed_in.get("/").get_data(as_text=True)
    table = re.search(r"<table id=refusals>.*?</table>", text, re.DOTALL).group(0)
    assert "<code>bad_signature</code>" in table
    assert "wrong sign (forged, or other credentials)" in table
    assert "<td class=n>4</td>" in table
    assert table.index("203.0.113.9</code> ×3") < table.index("203.0.113.10</code> ×1")


def test_refusal_rows_are_sorted_and_their_text_escaped():
    from gatepay_wsgi.console.overview_data import refusal_rows
    from gatepay_wsgi.inbox import Rejection

    latest = [
        Rejection(3.0, "bad_signature", "sign", "<b>x</b>", None, None),
        Rejection(2.0, "invalid_field", "price", None, None, None),
        Rejection(1.0, "bad_signature", "sign", "<b>x</b>", None, None),
    ]
    rows = refusal_rows({"bad_signature": 10, "invalid_field": 20, "missing_field": 1}, latest)
    assert [r.reason for r in rows] == ["invalid_field", "bad_signature", "missing_field"]
    assert rows[1].sources == (("<b>x</b>", 2),)
    assert rows[1].last_seen == 3.0
    assert rows[2].sources == ()


# -- the list -----------------------------------------------------------------------------


def listed(client, **query) -> list[int]:
    text = client.get("/notifies?" + urlencode(query)).get_data(as_text=True)
    return [int(x) for x in re.findall(r"<tr id=row-(\d+) class=record>", text)]


def test_the_list_shows_every_notify_newest_first(signed_in):
    assert listed(signed_in) == [100003, 100002, 100001]


def test_the_list_filters_by_status(signed_in):
    assert listed(signed_in, status="failed") == [100003, 100002]
    assert listed(signed_in, status="done") == [100001]
    assert listed(signed_in, status="processing") == []
    text = signed_in.get("/notifies?status=failed").get_data(as_text=True)
    assert "<option value='failed' selected>" in text


def test_the_list_filters_by_order_ids(signed_in):
    assert listed(signed_in, order_id="100002") == [100002]
    assert listed(signed_in, out_order_id="shop") == [100002, 100001]
    assert listed(signed_in, out_order_id="WEB-") == [100003]
    assert listed(signed_in, out_order_id="nope") == []
    assert "No notifies match." in signed_in.get("/notifies?out_order_id=nope").text


def test_the_list_filters_by_date(signed_in):
    today = date.today()
    yesterday, tomorrow = today - timedelta(days=1), today + timedelta(days=1)
    assert listed(signed_in, **{"from": today.isoformat()}) == [100003, 100002, 100001]
    assert listed(signed_in, to=today.isoformat()) == [100003, 100002, 100001]
    assert listed(signed_in, to=yesterday.isoformat()) == []
    assert listed(signed_in, **{"from": tomorrow.isoformat()}) == []
    both = {"from": yesterday.isoformat(), "to": today.isoformat(), "status": "failed"}
    assert listed(signed_in, **both) == [100003, 100002]


def test_a_filter_not_understood_is_said_and_left_out(signed_in):
    response = signed_in.get("/notifies?order_id=12x&from=yesterday&status=paid")
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "Gateway order id was not understood and is left out." in text
    assert "Received from was not understood" in text
    assert "State was not understood" in text
    assert len(re.findall(r"class=record>", text)) == 3


def test_the_list_is_limited_with_a_link_for_more(signed_in):
    text = signed_in.get("/notifies?limit=2").get_data(as_text=True)
    assert len(re.findall(r"class=record>", text)) == 2
    assert "The newest 2 are shown." in text
    assert "href='/notifies?limit=10'" in text


# -- one notify ---------------------------------------------------------------------------


def test_the_notify_page_shows_its_fields_with_the_sign_shortened(signed_in, inbox):
    (record,) = inbox.get(100002)
    sign = record.raw["sign"]
    response = signed_in.get("/notifies/100002")
    text = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<h1>Notify 100002</h1>" in text
    assert "<code>SHOP-2</code>" in text
    assert "<code>99.98</code>" in text
    assert f"<code>{sign[:6]}…</code>" in text
    assert sign not in text
    assert sign[:7] not in text
    assert "<code id=last-error>RuntimeError: db down</code>" in text
    assert "declined or raised: the gateway was answered fail" in text
    assert "198.51.100.7" in text
    assert "id=replay-100002" in text


def test_the_notify_page_says_when_an_older_appsecret_verified_it(signed_in, inbox):
    assert "id=older-secret" not in signed_in.get("/notifies/100001").get_data(as_text=True)
    app = GatePayMiddleware(
        shop, appkey=APPKEY, appsecret=["new", APPSECRET], paths={"/n": Notify(print)}, inbox=inbox
    )
    body = urlencode(notify_fields(order_id="100004"))  # signed with APPSECRET: the older one
    Client(app).post("/n", data=body, content_type="application/x-www-form-urlencoded")
    text = signed_in.get("/notifies/100004").get_data(as_text=True)
    assert "<span id=older-secret>an older appsecret (#2 in the settings" in text
    zh = signed_in.get("/notifies/100004", headers=ZH).get_data(as_text=True)
    assert "旧的 appsecret（设置中的第 2 个" in zh


def test_no_page_shows_the_appsecret_or_a_full_sign(signed_in, inbox):
    signs = [r.raw["sign"] for r in inbox.search()]
    for path in ("/", "/notifies", "/notifies/100001", "/notifies/100002", "/notifies/100003"):
        text = signed_in.get(path).get_data(as_text=True)
        assert APPSECRET not in text
        for sign in signs:
            assert sign not in text


def test_a_hostile_extend_is_escaped(signed_in):
    text = signed_in.get("/notifies/100003").get_data(as_text=True)
    assert "<script>" not in text
    assert "<img" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;&#39;&#34;&gt;&lt;img src=x" in text


def test_every_delivery_is_shown(signed_in, inbox):
    later = notify_fields(order_id="100002", out_order_id="SHOP-2", paytime="1700000000")
    deliver(inbox, Recorder(error=RuntimeError("still down")), remote="192.0.2.1", **later)
    text = signed_in.get("/notifies/100002").get_data(as_text=True)
    assert "2 verified, 1 of them with other signed fields" in text
    assert "Later deliveries with other signed fields" in text
    assert "from 192.0.2.1" in text
    assert "<code>paytime</code> = <code>1700000000</code> (was" in text
    assert "<dt>Handler runs</dt><dd>2</dd>" in text


def test_a_notify_not_in_the_inbox_is_a_404(signed_in):
    response = signed_in.get("/notifies/424242")
    assert response.status_code == 404
    assert "The inbox holds no notify for order 424242." in response.get_data(as_text=True)


def test_a_done_notify_has_no_replay_button(signed_in):
    text = signed_in.get("/notifies/100001").get_data(as_text=True)
    assert "id=replay-100001" not in text
    assert "/replay'" not in text
    assert "accepted: the gateway was answered success" in text


# -- replays ------------------------------------------------------------------------------


def test_replaying_a_failed_notify_runs_the_handler_once(signed_in, handler, inbox, caplog):
    caplog.set_level(logging.INFO, "gatepay_wsgi")
    csrf = page_csrf(signed_in, "/notifies/100002")
    response = signed_in.post("/notifies/100002/replay", data={"csrf": csrf, "appkey": APPKEY})
    assert response.status_code == 303
    assert response.headers["Location"] == "/notifies/100002?replayed=done"
    assert [n.order_id for n in handler.calls] == [100002]
    assert inbox.status(APPKEY, 100002) == DONE
    assert "notify replayed order_id=100002 outcome=done by=alice" in caplog.text
    assert "alice asked to replay order_id=100002" in caplog.text
    page = signed_in.get(response.headers["Location"]).get_data(as_text=True)
    assert "Replayed: the handler accepted it." in page
    assert "id=replay-100002" not in page
    # Once done, again is skipped: the handler does not run twice.
    again = signed_in.post("/notifies/100002/replay", data={"csrf": csrf, "appkey": APPKEY})
    assert again.headers["Location"] == "/notifies/100002?replayed=skipped"
    assert len(handler.calls) == 1
    assert "Not replayed: it is already done." in signed_in.get(again.headers["Location"]).text


def test_a_replay_that_fails_again_says_so(signed_in, handler, inbox):
    handler.error = RuntimeError("still down")
    csrf = page_csrf(signed_in)
    response = signed_in.post("/notifies/100002/replay", data={"csrf": csrf, "appkey": APPKEY})
    assert response.headers["Location"] == "/notifies/100002?replayed=failed"
    page = signed_in.get(response.headers["Location"]).get_data(as_text=True)
    assert "the handler failed again" in page
    assert "RuntimeError: still down" in page
    assert inbox.status(APPKEY, 100002) == FAILED


def test_a_replay_of_another_merchants_notify_is_a_404(signed_in, handler):
    csrf = page_csrf(signed_in)
    response = signed_in.post("/notifies/100002/replay", data={"csrf": csrf, "appkey": "other"})
    assert response.status_code == 404
    assert handler.calls == []


def test_replay_all_failed(signed_in, handler, inbox, caplog):
    caplog.set_level(logging.INFO, "gatepay_wsgi")
    response = signed_in.post("/replay-failed", data={"csrf": page_csrf(signed_in)})
    assert response.status_code == 303
    assert sorted(n.order_id for n in handler.calls) == [100002, 100003]
    assert inbox.status(APPKEY, 100002) == inbox.status(APPKEY, 100003) == DONE
    assert "alice asked to replay every failed notify" in caplog.text
    assert caplog.text.count("by=alice") == 2
    page = signed_in.get(response.headers["Location"]).get_data(as_text=True)
    assert "Replayed 2: 2 done, 0 failed again, 0 not run." in page
    assert "Nothing needs action" in page
    nothing = signed_in.post("/replay-failed", data={"csrf": page_csrf(signed_in)})
    assert "Nothing to replay." in signed_in.get(nothing.headers["Location"]).text


def test_without_a_handler_the_replay_buttons_are_off(inbox):
    client = Client(Console(inbox, users={"alice": HASH}, secret_key=SECRET))
    sign_in(client)
    overview = client.get("/").get_data(as_text=True)
    assert "<button id=replay-all disabled" in overview
    assert "the console was started without the notify handler" in overview
    page = client.get("/notifies/100002").get_data(as_text=True)
    assert "<button disabled>Replay</button>" in page
    csrf = page_csrf(client)
    response = client.post("/notifies/100002/replay", data={"csrf": csrf, "appkey": APPKEY})
    assert response.status_code == 409
    assert client.post("/replay-failed", data={"csrf": csrf}).status_code == 409
    assert inbox.status(APPKEY, 100002) == FAILED


# -- languages ----------------------------------------------------------------------------


def test_chinese_pages_for_a_chinese_browser(client):
    login = client.get("/login", headers=ZH)
    text = login.get_data(as_text=True)
    assert "<html lang=zh-CN>" in text
    assert "<h1>登录</h1>" in text
    assert "用户名" in text
    assert "Accept-Language" in login.headers["Vary"]
    form = {"csrf": csrf_of(login), "user": "alice", "password": "wrong"}
    assert "用户名或密码错误。" in client.post("/login", data=form, headers=ZH).text
    sign_in(client)
    overview = client.get("/", headers=ZH).get_data(as_text=True)
    for words in ("概览", "各状态的通知数", "待处理", "每小时通知数", "被拒绝的请求", "失败"):
        assert words in overview
    assert "Overview" not in overview
    assert "最近 24 小时" in overview
    page = client.get("/notifies/100002", headers=ZH).get_data(as_text=True)
    assert "<h1>通知 100002</h1>" in page
    assert "重新处理" in page
    listing = client.get("/notifies", headers=ZH).get_data(as_text=True)
    assert "商店订单号包含" in listing


def test_a_language_link_wins_and_is_kept(client):
    response = client.get("/login?lang=en", headers=ZH)
    assert "<h1>Sign in</h1>" in response.get_data(as_text=True)
    (cookie,) = cookie_headers(response, "gatepay_console_lang")
    assert "HttpOnly" in cookie
    assert "<h1>Sign in</h1>" in client.get("/login", headers=ZH).text
    assert "<h1>登录</h1>" in client.get("/login?lang=zh").text
    assert "<h1>登录</h1>" in client.get("/login").text


def test_the_language_setting_replaces_the_browsers(inbox):
    client = Client(Console(inbox, users={"a": HASH}, secret_key=SECRET, language="zh"))
    assert "<h1>登录</h1>" in client.get("/login").text
    assert "<h1>Sign in</h1>" in client.get("/login?lang=en").text


def test_both_languages_have_the_same_texts_with_the_same_places():
    assert TEXTS["en"].keys() == TEXTS["zh"].keys()
    for key, english in TEXTS["en"].items():
        places = {name for _, name, _, _ in string.Formatter().parse(english) if name}
        chinese = {name for _, name, _, _ in string.Formatter().parse(TEXTS["zh"][key]) if name}
        assert places == chinese, key


# -- mounted under a path -----------------------------------------------------------------


def test_mounted_under_a_script_name_every_link_keeps_the_prefix(console):
    client = Client(console)
    mount = {"environ_overrides": {"SCRIPT_NAME": "/admin"}}

    def get(path, **options):
        return client.get(path, **mount, **options)

    first = get("/notifies/100002")
    assert first.status_code == 303
    assert first.headers["Location"] == "/admin/login?next=%2Fnotifies%2F100002"
    login = get("/login")
    (cookie,) = cookie_headers(login)
    assert "Path=/admin" in cookie
    text = login.get_data(as_text=True)
    assert "action='/admin/login'" in text
    assert "href='/admin/login?lang=zh'" in text
    signed = client.post(
        "/login",
        data={"csrf": csrf_of(login), "user": "alice", "password": PASSWORD},
        **mount,
    )
    assert signed.headers["Location"] == "/admin/"
    overview = get("/").get_data(as_text=True)
    links = re.findall(r"(?:href|action)='([^']*)'", overview)
    assert links
    assert all(link.startswith("/admin/") for link in links), links
    page = get("/notifies/100002")
    assert "action='/admin/notifies/100002/replay'" in page.get_data(as_text=True)
    replayed = client.post(
        "/notifies/100002/replay", data={"csrf": csrf_of(page), "appkey": APPKEY}, **mount
    )
    assert replayed.headers["Location"] == "/admin/notifies/100002?replayed=done"
    out = client.post("/logout", data={"csrf": csrf_of(page)}, **mount)
    assert out.headers["Location"] == "/admin/login?message=signed_out"
    assert any("Path=/admin" in c for c in cookie_headers(out))


def test_control_and_reordering_characters_are_shown_as_escapes(signed_in, inbox):
    sneaky = "pay \x1b[2J\x01 \u202e00.01"
    deliver(inbox, Recorder(answer=False), **notify_fields(order_id="100077", extend=sneaky))
    page = signed_in.get("/notifies/100077").get_data(as_text=True)
    assert "\\x1b[2J\\x01 \\u202e00.01" in page
    for raw in ("\x1b", "\x01", "\u202e"):
        assert raw not in page


# -- an order id no notify can have ---------------------------------------------------------


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # the test reads each 303 itself


def test_an_order_id_out_of_range_is_the_consoles_404_through_a_real_server(make_inbox, handler):
    store = make_inbox()
    deliver(store, Recorder(answer=False), **notify_fields(order_id="100002"))
    console = Console(store, users={"alice": HASH}, secret_key=SECRET, handler=handler)
    opener = urllib.request.build_opener(
        urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()), _NoRedirects
    )

    def fetch(path, form=None):
        data = None if form is None else urlencode(form).encode()
        try:
            with opener.open(base + path, data, timeout=10) as response:
                return response.status, response.headers, response.read().decode()
        except urllib.error.HTTPError as answer:
            return answer.code, answer.headers, answer.read().decode()

    try:
        with serving(console) as base:
            csrf = re.search(r"name=csrf value='([^']+)'", fetch("/login")[2]).group(1)
            form = {"csrf": csrf, "user": "alice", "password": PASSWORD}
            assert fetch("/login", form)[0] == 303
            csrf = re.search(r"name=csrf value='([^']+)'", fetch("/notifies/100002")[2]).group(1)
            for order_id in ("99999999999999999999", str(2**63)):
                status, headers, text = fetch(f"/notifies/{order_id}")
                assert status == 404
                assert f"The inbox holds no notify for order {order_id}." in text
                assert headers["Content-Security-Policy"] == CSP
                status, headers, text = fetch(
                    f"/notifies/{order_id}/replay", {"csrf": csrf, "appkey": APPKEY}
                )
                assert status == 404
                assert headers["X-Frame-Options"] == "DENY"
                status, _, text = fetch(f"/notifies?order_id={order_id}")
                assert status == 200
            assert fetch("/notifies/100002")[0] == 200  # the real one still shows
    finally:
        store.close()
    assert handler.calls == []


#: Every hidden or reordering character the format lets into a shop's id, and its escape.
BIDI_IDS = [
    ("GP\u202e00.01", "GP\\u202e00.01"),  # reads "GP10.00" raw
    ("GP\u202a\u202b\u202c\u202d", "GP\\u202a\\u202b\\u202c\\u202d"),  # embeddings, overrides
    ("GP\u2066\u2067\u2068\u2069", "GP\\u2066\\u2067\\u2068\\u2069"),  # isolates
    ("GP\u200e\u200f\u061c", "GP\\u200e\\u200f\\u061c"),  # marks
    ("GP\u200b\u2028", "GP\\u200b\\u2028"),  # zero width space, line separator
]
HIDDEN = ["\x1b", "\x07", *"\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"]
HIDDEN += ["\u200e", "\u200f", "\u061c", "\u200b", "\u2028"]


@pytest.mark.parametrize(("out_order_id", "escaped"), BIDI_IDS)
def test_a_shops_id_with_bidi_controls_is_shown_as_escapes_on_every_page(
    signed_in, inbox, out_order_id, escaped
):
    fields = notify_fields(order_id="100078", out_order_id=out_order_id)
    declined = deliver(inbox, Recorder(answer=False), remote="198.51.100.9\x1b[31m\u202e", **fields)
    assert declined.status_code == 500  # accepted by the format check, declined by the shop
    for path in ("/", "/notifies", "/notifies/100078"):
        text = signed_in.get(path).get_data(as_text=True)
        assert f"<code>{escaped}</code>" in text or f"<td>{escaped}</td>" in text, path
        assert not [c for c in HIDDEN if c in text], path
    # A search keeps what was typed in its box (raw, so it can be searched again), and
    # shows what it found as escapes.
    search = signed_in.get("/notifies?" + urlencode({"out_order_id": out_order_id}))
    (found,) = re.findall(r"<tr id=row-100078 .*?</tr>", search.get_data(as_text=True))
    assert f"<td>{escaped}</td>" in found
    assert not [c for c in HIDDEN if c in found]
    detail = signed_in.get("/notifies/100078").get_data(as_text=True)
    assert "198.51.100.9\\x1b[31m\\u202e" in detail  # the remote address too


def test_refused_requests_sources_are_shown_as_escapes(signed_in, inbox):
    forged = {**notify_fields(order_id="100079"), "sign": "0" * 32}
    deliver(inbox, Recorder(), remote="203.0.113.7\x1b]0;x\x07\u202e", **forged)
    text = signed_in.get("/").get_data(as_text=True)
    assert "<code>203.0.113.7\\x1b]0;x\\x07\\u202e</code>" in text
    assert not [c for c in HIDDEN if c in text]

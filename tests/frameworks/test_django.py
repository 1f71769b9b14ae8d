"""Django: settings, the request cycle around handlers, the mount, responses, manage.py gatepay,
and the example project paying end to end against the sandbox under waitress."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path
from urllib.parse import urlencode

import pytest

django = pytest.importorskip("django")

from django.conf import settings  # noqa: E402

from ..gateway import APPKEY, APPSECRET, notify_fields, return_fields  # noqa: E402
from ..servers import free_port, http, serving  # noqa: E402

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "django_shop"
_DATABASE = Path(tempfile.mkdtemp(prefix="gatepay-django-")) / "db.sqlite3"
SEEN: list[object] = []

if not settings.configured:
    settings.configure(
        DEBUG=False,
        USE_TZ=True,
        SECRET_KEY="test",
        ALLOWED_HOSTS=["127.0.0.1", "localhost"],
        ROOT_URLCONF=__name__,
        INSTALLED_APPS=["django.contrib.contenttypes", "gatepay_wsgi.contrib.django"],
        DATABASES={"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": str(_DATABASE)}},
        TEMPLATES=[
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "OPTIONS": {
                    "loaders": [
                        (
                            "django.template.loaders.locmem.Loader",
                            {"thanks.html": "<p>{{ n }} <a href='{% url 'home' %}'>home</a></p>"},
                        )
                    ]
                },
            }
        ],
        GATEPAY={},
    )
    django.setup()

from django.db import connection  # noqa: E402
from django.db.backends.signals import connection_created  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.shortcuts import redirect, render  # noqa: E402
from django.test import override_settings  # noqa: E402
from django.urls import path, reverse  # noqa: E402

from gatepay_wsgi.config import ConfigError  # noqa: E402
from gatepay_wsgi.contrib.django import get_wsgi_application  # noqa: E402


def home(request):
    return HttpResponse("home")


urlpatterns = [path("", home, name="home")]


def use_the_database(n):
    """A notify handler that queries the database, as a shop's does."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    SEEN.append(reverse("home"))
    return True


def page(visit):
    SEEN.append(reverse("home"))
    if visit.out_order_id == "SHOP-1":
        response = redirect("home")
        response.set_cookie("seen", "yes")
        return response
    return render(None, "thanks.html", {"n": visit.out_order_id})


GOOD = {
    "APPKEY": APPKEY,
    "APPSECRET": APPSECRET,
    "INBOX": "memory://",
    "NOTIFY": f"/gatepay/notify {__name__}:use_the_database",
    "RETURN": f"/gatepay/return {__name__}:page",
}


@pytest.fixture(autouse=True)
def _clean():
    SEEN.clear()
    yield
    SEEN.clear()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"INBX": "memory://"}, "settings.GATEPAY has unknown keys INBX (known: APPKEY,"),
        ({"APPSECRET": ""}, 'GATEPAY["APPSECRET"] is missing or empty'),
        ({"INBOX": "sqlite:/relative"}, "GATEPAY[\"INBOX\"]: 'sqlite:/relative' is not an"),
        ({"MAX_BODY_SIZE": "big"}, "GATEPAY[\"MAX_BODY_SIZE\"]: 'big' is not a whole number"),
        ({"NOTIFY": "/n no.such.module:f"}, 'GATEPAY["NOTIFY"]: cannot import no.such.module'),
        ({"NOTIFY": ""}, 'GATEPAY["NOTIFY"] is missing'),
    ],
)
def test_settings_errors_name_the_key(change, message):
    with override_settings(GATEPAY={**GOOD, **change}), pytest.raises(ConfigError) as raised:
        get_wsgi_application()
    assert str(raised.value).startswith(message)


def test_numbers_may_be_ints_as_django_settings_write_them():
    with override_settings(GATEPAY={**GOOD, "MAX_BODY_SIZE": 4096, "CLOCK_SKEW": 30}):
        app = get_wsgi_application()
    notify = app.routes["/gatepay/notify"]
    assert (notify.max_body_size, notify.clock_skew) == (4096, 30)


def test_a_handler_does_not_leave_its_database_connection_open():
    """Django closes a request's connection at its end; a handler's is closed likewise."""
    opened = []

    def count(sender, connection, **kwargs):
        opened.append(connection)

    connection_created.connect(count)
    try:
        with override_settings(GATEPAY=GOOD):
            app = get_wsgi_application()
        with serving(app, threads=1) as base:  # one thread: the same one serves both
            for order_id in ("1", "2"):
                status, body, _ = http(
                    "POST", base + "/gatepay/notify", notify_fields(order_id=order_id)
                )
                assert (status, body) == (200, "success")
    finally:
        connection_created.disconnect(count)
    assert len(opened) == 2  # a new connection per request: the first was closed after it


def test_reverse_follows_the_mount_of_the_request_being_served():
    from werkzeug.middleware.dispatcher import DispatcherMiddleware

    with override_settings(GATEPAY=GOOD):
        app = get_wsgi_application()
    site = DispatcherMiddleware(app, {"/shop": app})
    with serving(site, threads=1) as base:
        assert http("GET", base + "/")[1] == "home"  # this thread's last request: the root
        assert http("POST", base + "/shop/gatepay/notify", notify_fields())[1] == "success"
        query = urlencode(return_fields(out_order_id="A2"))
        status, body, _ = http("GET", base + "/shop/gatepay/return?" + query)
        assert http("GET", base + "/")[1] == "home"
        assert http("POST", base + "/gatepay/notify", notify_fields(order_id="7"))[0] == 200
    assert SEEN == ["/shop/", "/shop/", "/"]
    assert (status, body) == (200, "<p>A2 <a href='/shop/'>home</a></p>")


def test_page_handlers_may_answer_with_django_responses():
    with override_settings(GATEPAY=GOOD):
        app = get_wsgi_application()
    with serving(app) as base:
        request = urllib.request.Request(base + "/gatepay/return?" + urlencode(return_fields()))

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args):
                return None

        with pytest.raises(urllib.error.HTTPError) as redirected:
            urllib.request.build_opener(NoRedirect).open(request)
    answer = redirected.value
    assert answer.code == 302
    assert answer.headers["Location"] == "/"
    assert "seen=yes" in answer.headers["Set-Cookie"]
    answer.close()


# -- the example project, end to end under waitress -------------------------------------


def example_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        **os.environ,
        "GATEPAY_APPKEY": APPKEY,
        "GATEPAY_APPSECRET": APPSECRET,
        "GATEPAY_INBOX": f"sqlite:///{tmp_path}/inbox.sqlite3",
        "SHOP_DATABASE": str(tmp_path / "shop.sqlite3"),
        "DJANGO_SETTINGS_MODULE": "django_shop.settings",
        **extra,
    }


def start_example(tmp_path: Path, port: int, **extra: str) -> subprocess.Popen[str]:
    server = subprocess.Popen(
        [sys.executable, str(EXAMPLE / "serve.py")],
        env=example_env(tmp_path, PORT=str(port), **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    prefix = extra.get("SCRIPT_NAME", "")
    while True:
        try:
            if http("GET", f"http://127.0.0.1:{port}{prefix}/")[0] == 200:
                return server
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            server.kill()
            raise RuntimeError(f"the Django shop did not start: {server.communicate()[1][-2000:]}")
        time.sleep(0.1)


def buy(base: str, product: str = "tea") -> tuple[int, str]:
    """GET the home page for its CSRF token, then POST the order form as a browser does."""
    jar = CookieJar()

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args):
            return None

    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), NoRedirect)
    with opener.open(base + "/") as page:
        html = page.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html).group(1)
    action = re.search(r'<form method=post action="([^"]+)"', html).group(1)
    form = urlencode({"csrfmiddlewaretoken": token, "product": product, "type": "alipay"})
    origin = base.split("/", 3)[:3]
    try:
        opener.open(urllib.request.Request("/".join(origin) + action, data=form.encode()))
    except urllib.error.HTTPError as answer:
        answer.close()
        return answer.code, answer.headers.get("Location", "")
    return 200, ""


@pytest.mark.parametrize("prefix", ["", "/shop"])
def test_the_example_shop_pays_end_to_end_against_the_sandbox(prefix, tmp_path):
    from gatepay_wsgi.sandbox import Sandbox

    port = free_port()
    base = f"http://127.0.0.1:{port}{prefix}"
    sandbox = Sandbox(
        appkey=APPKEY,
        appsecret=APPSECRET,
        notify_url=f"{base}/gatepay/notify",
        return_url=f"{base}/gatepay/return",
        timeout_url=f"{base}/gatepay/timeout",
        retry_interval=0.2,
    )
    with serving(sandbox) as gateway_url:
        shop = start_example(tmp_path, port, GATEPAY_GATEWAY_URL=gateway_url, SCRIPT_NAME=prefix)
        try:
            status, pay_url = buy(base)
            assert (status, pay_url.startswith(gateway_url + "/pay/")) == (302, True), pay_url
            out_order_id = sandbox.orders[int(pay_url.rsplit("/", 1)[1])].out_order_id
            pending = http("GET", f"{base}/orders/{out_order_id}")[1]
            assert "<p id=gateway-says>The gateway says: unpaid (not signed: shown only).</p>" in (
                pending
            )
            status, _, back = http("POST", pay_url + "/pay")
            assert status == 303
            assert back.startswith(f"{base}/gatepay/return?"), back
            status, page, _ = http("GET", back)
            assert status == 200
            assert "<b>paid</b>" in page
            assert f'href="{prefix}/"' in page  # reverse() inside the mount
            closed = http("GET", f"{base}/gatepay/timeout?out_order_id=NOPE")[1]
            assert "No such order" in closed
        finally:
            sandbox.close()
            shop.terminate()
            shop.communicate(timeout=10)
    order_id = int(pay_url.rsplit("/", 1)[1])
    assert [(a.status, a.body) for a in sandbox.orders[order_id].attempts] == [(200, "success")]


def manage(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(EXAMPLE / "manage.py"), *args],
        env=example_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "gatepay_wsgi.cli", "inbox", *args]
    command += ["--inbox", f"sqlite:///{tmp_path}/inbox.sqlite3"]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


def test_manage_py_gatepay_reads_and_replays_like_the_cli(tmp_path):
    assert manage(tmp_path, "migrate", "-v0").returncode == 0
    port = free_port()
    shop = start_example(tmp_path, port)
    try:
        fields = notify_fields(out_order_id="NO-SUCH-ORDER", extend="demo buyer")
        assert http("POST", f"http://127.0.0.1:{port}/gatepay/notify", fields)[0] == 500
    finally:
        shop.terminate()
        shop.communicate(timeout=10)
    for args in (["list"], ["list", "--status", "failed"], ["show", "100001"], ["stats"]):
        ours, theirs = manage(tmp_path, "gatepay", *args), cli(tmp_path, *args)
        assert (ours.returncode, ours.stdout) == (0, theirs.stdout), ours.stderr
    listed = json.loads(manage(tmp_path, "gatepay", "list", "--json").stdout)
    assert [r["status"] for r in listed] == ["failed"]
    assert manage(tmp_path, "gatepay", "show", "999").returncode == 2
    assert manage(tmp_path, "gatepay", "show", "99999999999999999999").returncode == 2
    assert manage(tmp_path, "gatepay", "replay", "9223372036854775808").returncode == 2
    assert manage(tmp_path, "gatepay", "replay").returncode == 2  # neither ids nor --failed
    replayed = manage(tmp_path, "gatepay", "replay", "--failed")
    assert replayed.returncode == 1  # the order still does not exist: the handler says no
    assert "failed" in replayed.stdout
    assert manage(tmp_path, "gatepay", "bogus").returncode != 0


def test_manage_py_gatepay_takes_djangos_own_options_after_the_action(tmp_path):
    """``manage.py gatepay stats --settings=...``: Django's options (``--settings``,
    ``-v``, ``--traceback``) go anywhere on a Django command line, after the action too."""
    assert manage(tmp_path, "migrate", "-v0").returncode == 0
    for options in (["--settings=django_shop.settings"], ["-v", "2", "--traceback"]):
        ran = subprocess.run(
            [sys.executable, str(EXAMPLE / "manage.py"), "gatepay", "stats", *options],
            env=example_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert ran.returncode == 0, ran.stderr
        assert ran.stdout == cli(tmp_path, "stats").stdout

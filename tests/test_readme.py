"""README.md's Python blocks, each run as written.

Every ```python block of the README is one test case. It is compiled and run in a
namespace holding only the names the README leaves to the reader (its ``app``, its
``orders``, its handlers, its credentials), kept per block in ``PRELUDES``, keyed by the
block's first line: a new block without a prelude fails and says so. The only edits made
to a block's text are the ``rewrites`` its prelude lists: the gateway's URL becomes a
local sandbox under waitress, and file paths move into ``tmp_path``. After it ran, a block
that builds a WSGI app answers one correctly signed notify with ``success``, so a snippet
that silently does nothing fails. A block that does not run as written is an xfail
(strict) whose reason names the README's mistake, until the README is fixed.
"""

from __future__ import annotations

import builtins
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode
from urllib.request import urlopen

import pytest
from werkzeug.test import Client

import gatepay_wsgi
from gatepay_wsgi import GatePayMiddleware, Notify, Return
from gatepay_wsgi.inbox import open_inbox
from gatepay_wsgi.testing import return_url, signed_notify

pytest_plugins = ["pytester"]  # the pytest block runs as a test file of its own

README = Path(__file__).resolve().parent.parent / "README.md"
KEY, SECRET = "readme-key", "readme-secret"  # the reader's credentials, in env and names
ORDER = SimpleNamespace(out_order_id="GP1", price=Decimal("10.00"), custom="buyer 7")
PAID = {"out_order_id": "GP1", "price": "10.00", "extend": "buyer 7"}  # notify fields


# -- the README's blocks --------------------------------------------------------------


@dataclass(frozen=True)
class Block:
    number: int  # among all the README's fenced blocks, from 1
    line: int  # the README line of its first line of code
    language: str
    code: str

    @property
    def first_line(self) -> str:
        return next((line.strip() for line in self.code.splitlines() if line.strip()), "")


_OPENING = re.compile(r"^( {0,3})(`{3,}|~{3,})(.*)$")


def fenced_blocks(text: str) -> Iterator[Block]:
    """The fenced code blocks of a CommonMark text (indented ones are not fenced)."""
    lines = text.splitlines()
    number, index = 0, 0
    while index < len(lines):
        opening = _OPENING.match(lines[index])
        if opening is None or (opening[2][0] == "`" and "`" in opening[3]):
            index += 1
            continue
        indent, fence, info = len(opening[1]), opening[2], opening[3].strip()
        closing = re.compile(rf"^ {{0,3}}{re.escape(fence[0])}{{{len(fence)},}}[ \t]*$")
        start = index + 1
        end = start
        while end < len(lines) and not closing.match(lines[end]):
            end += 1
        body = [re.sub(rf"^ {{0,{indent}}}", "", line) for line in lines[start:end]]
        number += 1
        language = info.split()[0] if info else ""
        yield Block(number, start + 1, language, "\n".join(body) + "\n")
        index = end + 1


def python_blocks() -> list[Block]:
    return [b for b in fenced_blocks(README.read_text("utf-8")) if b.language == "python"]


# -- what the reader supplies ---------------------------------------------------------


@dataclass
class Reader:
    """One case's surroundings: where files go, what the reader's handlers saw."""

    request: pytest.FixtureRequest
    tmp_path: Path
    handled: list[Any] = field(default_factory=list)  # what the reader's mark_paid got
    code: str = ""  # the block as it ran, rewritten

    @property
    def gateway(self) -> Any:
        return self.request.getfixturevalue("sandbox_gateway")

    def mark_paid(self, n: Any) -> bool:
        """The reader's notify handler: accepts every notify, records it."""
        self.handled.append(n)
        return True


class Orders:
    """The reader's order table: one order, ``GP1`` at 10.00 with custom ``buyer 7``."""

    def __init__(self) -> None:
        self.paid: list[tuple[str, int]] = []

    def get(self, out_order_id: str) -> Any:
        return ORDER if out_order_id == ORDER.out_order_id else None

    def mark_paid_once(self, order: Any, *, gateway_order_id: int) -> bool:
        self.paid.append((order.out_order_id, gateway_order_id))
        return True


def not_found(environ: Any, start_response: Any) -> list[bytes]:
    """The reader's own WSGI app, which knows nothing of GatePay."""
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]


def flask_app() -> Any:
    """The reader's Flask app, with an ``order`` page for ``url_for``."""
    import flask

    app = flask.Flask("readme_shop")
    app.config.update(GATEPAY_APPKEY=KEY, GATEPAY_APPSECRET=SECRET, GATEPAY_INBOX="memory://")
    app.add_url_rule("/orders/<out_order_id>", "order", lambda out_order_id: out_order_id)
    return app


def post_notify(app: Any, path: str = "/gatepay/notify", **fields: str) -> tuple[int, str]:
    """One correctly signed notify (``KEY``/``SECRET``) through a WSGI app."""
    form = urlencode(signed_notify(KEY, SECRET, **fields))
    response = Client(app).post(path, data=form, content_type="application/x-www-form-urlencoded")
    answer = response.status_code, response.get_data(as_text=True)
    response.close()
    return answer


def get_location(app: Any, url: str, **environ: str) -> str | None:
    response = Client(app).get(url, environ_overrides=environ)
    response.close()
    assert response.status_code in (301, 302, 303, 307), response.get_data(as_text=True)
    return response.headers.get("Location")


# -- the checks after a block ran -----------------------------------------------------


def check_quickstart(ns: dict[str, Any], reader: Reader) -> None:
    app = ns["app"]
    gateway_order_id = "700001"
    assert post_notify(app, order_id=gateway_order_id, **PAID) == (200, "success")
    assert ns["orders"].paid == [("GP1", int(gateway_order_id))]
    app.wsgi_app.inbox.close()


def check_flask(ns: dict[str, Any], reader: Reader) -> None:
    app = ns["app"]
    assert post_notify(app, **PAID) == (200, "success")
    visit = return_url("/gatepay/return", KEY, SECRET, out_order_id="GP1")
    assert get_location(app, visit) == "/orders/GP1"


def check_bottle(ns: dict[str, Any], reader: Reader) -> None:
    parent = ns["parent"]
    assert post_notify(parent, "/shop/gatepay/notify", **PAID) == (200, "success")
    assert [n.out_order_id for n in reader.handled] == ["GP1"]
    visit = return_url("/shop/gatepay/return", KEY, SECRET, out_order_id="GP1")
    assert (get_location(parent, visit) or "").endswith("/shop/orders/GP1")


def check_mounted_page(ns: dict[str, Any], reader: Reader) -> None:
    app = GatePayMiddleware(
        not_found,
        appkey=KEY,
        appsecret=SECRET,
        paths={"/gatepay/return": Return(ns["thank_you"])},
        inbox="memory://",
    )
    visit = return_url("/gatepay/return", KEY, SECRET, out_order_id="GP1")
    assert get_location(app, visit, SCRIPT_NAME="/shop") == "/shop/orders/GP1"


def check_inbox_file(ns: dict[str, Any], reader: Reader) -> None:
    assert post_notify(ns["app"], **PAID)[1] == "success"
    assert [n.out_order_id for n in reader.handled] == ["GP1"]
    inbox = open_inbox(f"sqlite:///{reader.tmp_path}/gatepay.sqlite3")
    (record,) = inbox.get(reader.handled[0].order_id)  # kept in the file the block named
    assert record.status == "done"
    inbox.close()


def seed_failed_notify(reader: Reader) -> None:
    """The inbox the replay block opens, holding order 100001's notify, failed once."""
    app = GatePayMiddleware(
        not_found,
        appkey=KEY,
        appsecret=SECRET,
        paths={"/gatepay/notify": Notify(lambda n: False)},
        inbox=f"sqlite:///{reader.tmp_path}/gatepay.sqlite3",
    )
    assert post_notify(app, order_id="100001", **PAID)[1] == "fail"
    app.inbox.close()


def check_replay(ns: dict[str, Any], reader: Reader) -> None:
    ns["inbox"].close()
    assert [n.order_id for n in reader.handled] == [100001]  # replayed once, then skipped
    inbox = open_inbox(f"sqlite:///{reader.tmp_path}/gatepay.sqlite3")
    assert [str(r.status) for r in inbox.get(100001)] == ["done"]
    inbox.close()


def check_client(ns: dict[str, Any], reader: Reader) -> None:
    url, sandbox = reader.gateway.url, reader.gateway.sandbox
    assert ns["payment"].pay_url.startswith(url + "/pay/")
    opened = sandbox.book.newest_first()
    assert len(opened) == 4  # anypay, grouppay, stablepay, cloudpay
    assert ns["cloud"].pay_url.startswith(url + "/pay/")
    assert (ns["found"].order_status, ns["found"].order_price) == ("unpaid", Decimal("10.00"))
    assert "buyer 7" in [order.custom for order in opened]
    assert ns["link"].startswith(url + "/pay/any?")
    with urlopen(ns["link"], timeout=10) as page:  # the local sandbox
        assert page.status == 200


def check_testing_kit(ns: dict[str, Any], reader: Reader) -> None:
    assert [n.out_order_id for n in reader.handled] == ["GP1"]  # the forged one never ran
    ns["app"].inbox.close()


PLUGIN_CONFTEST = """
import pytest
from gatepay_wsgi import GatePayMiddleware, Notify


def not_found(environ, start_response):
    start_response("404 Not Found", [("Content-Type", "text/plain")])
    return [b"not found"]


@pytest.fixture
def app():  # the reader's app, configured with the block's test credentials
    return GatePayMiddleware(
        not_found,
        appkey="test-key",
        appsecret="test-secret",
        paths={"/gatepay/notify": Notify(lambda n: n.out_order_id == "GP1")},
        inbox="memory://",
    )
"""


def check_signals(ns: dict[str, Any], reader: Reader) -> None:
    """The block's receiver hears a notify that fails after the gateway's retries."""
    import contextlib
    import io
    import time

    from gatepay_wsgi import signals

    printed = io.StringIO()
    try:
        app = GatePayMiddleware(
            not_found,
            appkey=KEY,
            appsecret=SECRET,
            paths={"/gatepay/notify": Notify(lambda n: False)},
            inbox="memory://",
        )
        with contextlib.redirect_stdout(printed):
            post_notify(app, paytime=str(int(time.time()) - 3600), **PAID)
    finally:
        signals.notify_failed_for_good.disconnect(ns["alert"])
    assert printed.getvalue() == "order GP1 not paid: handler returned False\n"


def check_gunicorn_hook(ns: dict[str, Any], reader: Reader) -> None:
    """gunicorn's child_exit hook of the block forgets a dead worker's live gauges."""
    folder = reader.tmp_path / "prometheus"
    folder.mkdir()
    (folder / "gauge_livesum_4242.db").write_bytes(b"")  # a dead worker's file
    saved = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    try:
        ns["child_exit"](None, SimpleNamespace(pid=4242))
    finally:
        if saved is None:
            del os.environ["PROMETHEUS_MULTIPROC_DIR"]
        else:
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = saved
    assert not (folder / "gauge_livesum_4242.db").exists()


def _environ_copy(reader: Reader) -> dict[str, Any]:
    """The block sets PROMETHEUS_MULTIPROC_DIR: it sets it in a copy of the environment, or
    every later GatePayMetrics of this process would be in a multiprocess mode it is not."""
    monkeypatch = reader.request.getfixturevalue("monkeypatch")
    monkeypatch.setattr(os, "environ", dict(os.environ))
    return {}


def check_mod_wsgi_multiproc_dir(ns: dict[str, Any], reader: Reader) -> None:
    """The WSGI script's first lines set the directory in ``os.environ`` (not a request's)."""
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == f"{reader.tmp_path}/prometheus"


def check_pytest_plugin(ns: dict[str, Any], reader: Reader) -> None:
    """The block is a test module: run it with pytest, the reader's ``app`` in conftest."""
    pytester = reader.request.getfixturevalue("pytester")
    pytester.makeconftest(PLUGIN_CONFTEST)
    pytester.makepyfile(test_readme_block=reader.code)
    pytester.runpytest_inprocess("-p", "no:cacheprovider").assert_outcomes(passed=1)


# -- how a block runs -----------------------------------------------------------------


def run_here(code: str, filename: str, ns: dict[str, Any], reader: Reader) -> None:
    exec(compile(code, filename, "exec"), ns)  # noqa: S102  # the README's own code


DJANGO_DRIVER = r"""
import json, os, sys, traceback, types
from urllib.parse import urlencode
from werkzeug.test import Client
from gatepay_wsgi.testing import signed_notify

job = json.load(sys.stdin)
handled = []
payments = types.ModuleType("shop.payments")  # the reader's handlers that GATEPAY names
payments.mark_paid = lambda n: handled.append(n.out_order_id) or True
payments.thank_you = payments.closed = lambda visit: "a page"
shop = types.ModuleType("shop")
shop.payments = payments
settings = types.ModuleType("readme_settings")  # the block is settings.py and wsgi.py
settings.__dict__.update(job["names"])
sys.modules.update({"shop": shop, "shop.payments": payments, "readme_settings": settings})
os.environ["DJANGO_SETTINGS_MODULE"] = "readme_settings"
try:
    exec(compile(job["code"], job["filename"], "exec"), settings.__dict__)
except Exception as error:
    print(json.dumps({"error": type(error).__name__, "message": str(error),
                      "traceback": traceback.format_exc()}))
    sys.exit()
form = urlencode(signed_notify(job["key"], job["secret"], **job["fields"]))
response = Client(settings.application).post(
    "/gatepay/notify", data=form, content_type="application/x-www-form-urlencoded")
print(json.dumps({"answer": [response.status_code, response.get_data(as_text=True)],
                  "handled": handled}))
"""


def run_in_fresh_interpreter(code: str, filename: str, ns: dict[str, Any], reader: Reader) -> None:
    """Django's settings are the process's own (``tests/frameworks/test_django.py`` has configured
    them): the block runs as a settings module of a new interpreter, which then sends
    one signed notify through ``application``. Its answer goes into ``ns``."""
    job = {"code": code, "filename": filename, "names": ns, "fields": PAID}
    job.update(key=KEY, secret=SECRET)
    package_root = str(Path(gatepay_wsgi.__file__).resolve().parent.parent)
    env = {**os.environ, "PYTHONPATH": package_root}
    done = subprocess.run(  # this interpreter, our driver
        [sys.executable, "-c", DJANGO_DRIVER],
        input=json.dumps(job),
        capture_output=True,
        text=True,
        cwd=reader.tmp_path,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout.strip().splitlines()[-1])
    if "error" in outcome:
        kind = getattr(builtins, outcome["error"], None)
        if not (isinstance(kind, type) and issubclass(kind, Exception)):
            kind = RuntimeError
        raise kind(f"{outcome['message']} (in the fresh interpreter)\n{outcome['traceback']}")
    ns.update(answer=tuple(outcome["answer"]), handled=outcome["handled"])


def check_django(ns: dict[str, Any], reader: Reader) -> None:
    assert ns["answer"] == (200, "success")
    assert ns["handled"] == ["GP1"]


# -- one prelude per block ------------------------------------------------------------

TMP_SQLITE = {"sqlite:////var/lib/shop/": "sqlite:///{tmp}/"}  # /var/lib/shop -> tmp_path


@dataclass(frozen=True)
class Prelude:
    slug: str
    names: Callable[[Reader], dict[str, Any]]  # exactly what the README leaves to the reader
    check: Callable[[dict[str, Any], Reader], None] | None = None
    rewrites: Mapping[str, str] = field(default_factory=dict)  # text -> {tmp}, {gateway}
    needs: tuple[str, ...] = ()  # optional packages the block imports
    run: Callable[[str, str, dict[str, Any], Reader], None] = run_here
    broken: str | None = None  # why the block does not run as written: a strict xfail
    raises: type[BaseException] | None = None


def _no_names(reader: Reader) -> dict[str, Any]:
    return {}


def _replay_names(reader: Reader) -> dict[str, Any]:
    seed_failed_notify(reader)
    return {"mark_paid": reader.mark_paid}


def _testing_kit_names(reader: Reader) -> dict[str, Any]:
    def mark_paid(n: Any) -> bool:  # the reader's handler: order GP1 at 10.00
        reader.handled.append(n)
        return n.out_order_id == "GP1" and n.price == Decimal("10.00")

    app = GatePayMiddleware(
        not_found,
        appkey=KEY,
        appsecret=SECRET,
        paths={"/gatepay/notify": Notify(mark_paid)},
        inbox="memory://",
    )
    return {"app": app, "KEY": KEY, "SECRET": SECRET}


def _flask_names(reader: Reader) -> dict[str, Any]:
    import flask

    return {
        "app": flask_app(),
        "redirect": flask.redirect,
        "url_for": flask.url_for,
        "render_template": flask.render_template,
    }


PRELUDES: dict[str, Prelude] = {
    # Quickstart: Flask's app ("app.wsgi_app = ..."), the order table and two pages.
    "import os": Prelude(
        "quickstart",
        lambda reader: {
            "app": flask_app(),
            "orders": Orders(),
            "thank_you_page": lambda visit: "thank you",
            "closed_page": lambda visit: "closed",
        },
        check_quickstart,
        rewrites=TMP_SQLITE,
        needs=("flask",),
    ),
    "from gatepay_wsgi.contrib.flask import GatePay": Prelude(
        "flask",
        _flask_names,
        check_flask,
        needs=("flask",),
    ),
    "import bottle": Prelude(
        "bottle",
        lambda reader: {"KEY": KEY, "SECRET": SECRET, "mark_paid": reader.mark_paid},
        check_bottle,
        # a relative file: it would land in the working directory
        rewrites={'"sqlite:///gatepay.sqlite3"': '"sqlite:///{tmp}/gatepay.sqlite3"'},
        needs=("bottle",),
    ),
    "# settings.py": Prelude(
        "django",
        _no_names,  # the reader's shop.payments: in DJANGO_DRIVER
        check_django,
        # "[..., " stands for the reader's other apps
        rewrites={"[..., ": "[", **TMP_SQLITE},
        needs=("django",),
        run=run_in_fresh_interpreter,
    ),
    "from gatepay_wsgi import redirect": Prelude("mounted-page", _no_names, check_mounted_page),
    "from gatepay_wsgi import GatePayMiddleware, Notify": Prelude(
        "inbox-url",
        lambda reader: {
            "app": not_found,
            "APPKEY": KEY,
            "APPSECRET": SECRET,
            "mark_paid": reader.mark_paid,
        },
        check_inbox_file,
        rewrites=TMP_SQLITE,
    ),
    "from gatepay_wsgi.inbox import open_inbox": Prelude(
        "replay",
        _replay_names,
        check_replay,
        rewrites=TMP_SQLITE,
    ),
    "from gatepay_wsgi.client import GatePayClient, GatewayError, new_out_order_id": Prelude(
        "client",
        lambda reader: {
            "APPKEY": reader.gateway.sandbox.appkey,
            "APPSECRET": reader.gateway.sandbox.appsecret,
            "TOKEN": reader.gateway.sandbox.quick_pay_token,
        },
        check_client,
        rewrites={
            '"https://gateway.example"': '"{gateway}"',
            '"https://cloud.gateway.example"': '"{gateway}"',
        },
        needs=("waitress",),
    ),
    "from gatepay_wsgi.testing import BAD_SIGN, send_notify, signed_notify, return_url": Prelude(
        "testing-kit",
        _testing_kit_names,
        check_testing_kit,
    ),
    "import pytest": Prelude("pytest-plugin", _no_names, check_pytest_plugin),
    "from gatepay_wsgi.signals import notify_failed_for_good": Prelude(
        "signals", _no_names, check_signals, needs=("blinker",)
    ),
    "from prometheus_client import multiprocess": Prelude(
        "gunicorn-metrics", _no_names, check_gunicorn_hook, needs=("prometheus_client",)
    ),
    "# The WSGI script's first lines, before anything imports prometheus_client": Prelude(
        "mod-wsgi-metrics",
        _environ_copy,
        check_mod_wsgi_multiproc_dir,
        rewrites={'"/run/shop/prometheus"': '"{tmp}/prometheus"'},
    ),
    "from gatepay_wsgi.signing import notify_sign, return_sign, create_sign, verify_notify": (
        Prelude("signing", _no_names)
    ),
}


def cases() -> list[Any]:
    found = []
    for block in python_blocks():
        prelude = PRELUDES.get(block.first_line)
        name = f"block-{block.number:02d}-{prelude.slug if prelude else 'no-prelude'}"
        marks = []
        if prelude is not None and prelude.broken:
            reason = f"README block {block.number} (line {block.line}): {prelude.broken}"
            marks.append(pytest.mark.xfail(strict=True, raises=prelude.raises, reason=reason))
        found.append(pytest.param(block, id=name, marks=marks))
    return found


@pytest.fixture
def sandbox_gateway() -> Iterator[SimpleNamespace]:
    """The sandbox gateway under waitress on 127.0.0.1, on a free port."""
    pytest.importorskip("waitress")
    from gatepay_wsgi.demo import local_server
    from gatepay_wsgi.sandbox import Sandbox

    shop = "http://127.0.0.1:9/gatepay"  # never called: nothing is paid
    sandbox = Sandbox(
        appkey="sandbox-key",
        appsecret="sandbox-secret",
        notify_url=shop + "/notify",
        return_url=shop + "/return",
        timeout_url=shop + "/timeout",
    )
    server = local_server(sandbox, 0)
    stopping = threading.Event()

    def serve() -> None:
        try:
            server.run()
        except (OSError, ValueError):  # its sockets closed under the loop
            if not stopping.is_set():
                raise

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield SimpleNamespace(url=f"http://127.0.0.1:{server.effective_port}", sandbox=sandbox)
    stopping.set()
    sandbox.close()
    server.close()
    thread.join(5)


def rewrite(block: Block, prelude: Prelude, reader: Reader) -> str:
    code = block.code
    for text, stand_in in prelude.rewrites.items():
        assert text in code, f"README block {block.number} no longer has {text!r}: update PRELUDES"
        values = {"tmp": reader.tmp_path}
        if "{gateway}" in stand_in:
            values["gateway"] = reader.gateway.url
        code = code.replace(text, stand_in.format(**values))
    for path in re.findall(r"sqlite:///(/[^\"'\s?]*)", code):
        assert path.startswith(f"{reader.tmp_path}/"), (
            f"README block {block.number} writes {path}: add a rewrite into tmp_path"
        )
    return code


def test_every_python_block_has_a_case() -> None:
    blocks = python_blocks()
    assert blocks, f"no ```python block found in {README}"
    first_lines = [b.first_line for b in blocks]
    twice = {line for line in first_lines if first_lines.count(line) > 1}
    assert not twice, f"README blocks share a first line, so PRELUDES cannot tell them: {twice}"


@pytest.mark.parametrize("block", cases())
def test_readme_block(
    block: Block, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: Any
) -> None:
    prelude = PRELUDES.get(block.first_line)
    if prelude is None:
        pytest.fail(
            f"README block {block.number} has no prelude: add one to PRELUDES in {__name__} "
            f"(README line {block.line}: {block.first_line!r})"
        )
    for module in prelude.needs:
        pytest.importorskip(module)
    monkeypatch.setenv("GATEPAY_APPKEY", KEY)
    monkeypatch.setenv("GATEPAY_APPSECRET", SECRET)
    monkeypatch.chdir(tmp_path)  # and should a relative path slip through, it lands here
    reader = Reader(request, tmp_path)
    code = rewrite(block, prelude, reader)
    namespace = prelude.names(reader)
    prelude.run(code, f"README.md block {block.number}", namespace, reader)
    if prelude.check is not None:
        reader.code = code
        prelude.check(namespace, reader)

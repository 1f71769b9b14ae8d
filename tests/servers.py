"""Real servers on 127.0.0.1 for the tests: ``with serving(app) as url: ...``."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from http.client import HTTPConnection
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

waitress = pytest.importorskip("waitress")
TESTS = Path(__file__).resolve().parent


@contextmanager
def serving(
    app: Any, threads: int = 4, port: int = 0, url_prefix: str = "", **options: Any
) -> Iterator[str]:
    """Serve a WSGI app with waitress on a free loopback port; stop it afterwards.

    ``url_prefix`` is waitress's own: the app sees it as ``SCRIPT_NAME``, as behind a proxy
    that mounts the site there; the URL yielded is the server's root, without it.
    ``options`` go to waitress as they are.
    """
    server = waitress.create_server(
        app, host="127.0.0.1", port=port, threads=threads, url_prefix=url_prefix, **options
    )
    closing = threading.Event()

    def run() -> None:
        try:
            server.run()
        except (OSError, ValueError):  # the loop's sockets closed under it at shutdown
            if not closing.is_set():
                raise

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        closing.set()
        server.close()
        thread.join(5)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def post(port: int, body: bytes, path: str = "/gatepay/notify") -> tuple[int, bytes]:
    """POST a form over a new connection; a few retries while a backlog is full."""
    for attempt in range(5):
        connection = HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request(
                "POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"}
            )
            response = connection.getresponse()
            return response.status, response.read()
        except (ConnectionRefusedError, ConnectionResetError):
            time.sleep(0.05 * (attempt + 1))
        finally:
            connection.close()
    return 0, b"no connection"


def gunicorn(
    app: str, port: int, env: dict[str, str], workers: int = 4, extra: Sequence[str] = ()
) -> subprocess.Popen[str]:
    """Start ``gunicorn -w N`` on 127.0.0.1:port for an app in tests/, and wait for it."""
    server = booted_gunicorn(app, port, env, workers, extra)
    if server.poll() is not None:
        raise RuntimeError(f"gunicorn did not start: {server.communicate()[1][-500:]}")
    return server


def booted_gunicorn(
    app: str, port: int, env: dict[str, str], workers: int = 4, extra: Sequence[str] = ()
) -> subprocess.Popen[str]:
    """Start gunicorn and wait until a worker answers or gunicorn has exited (a worker
    failed to boot): ``poll()`` tells which. The master listens before its workers boot,
    so only an answer says that they did. ``extra``: more options (``--user nobody``...)."""
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "-w",
            str(workers),
            "-b",
            f"127.0.0.1:{port}",
            "--pythonpath",
            str(TESTS),
            "--backlog",
            "512",
            "--log-level",
            "warning",
            *extra,
            app,
        ],
        env={**os.environ, **env},
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).close()
            return server
        except urllib.error.HTTPError:
            return server  # an answer all the same
        except OSError:
            if server.poll() is not None:
                return server
            if time.monotonic() > deadline:
                server.kill()
                raise RuntimeError(
                    f"gunicorn neither started nor stopped: {server.communicate()[1][-500:]}"
                ) from None
            time.sleep(0.1)


def uwsgi_binary() -> str | None:
    """The ``uwsgi`` of this Python's environment (``pip install uwsgi``), or on PATH."""
    beside = Path(sys.executable).parent / "uwsgi"
    return str(beside) if beside.exists() else shutil.which("uwsgi")


def uwsgi(ini: str, port: int, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start uWSGI with the ini text ``ini`` on 127.0.0.1:port, an app from tests/, and wait
    until a worker answers. Its log goes to the file ``log`` (a pipe left unread would
    fill up and block it). The ini's ``[uwsgi]`` section is completed with the socket,
    this Python's environment and tests/ on the path; stop it with ``stop_uwsgi``."""
    binary = uwsgi_binary()
    if binary is None:
        pytest.skip("uwsgi is not installed (pip install uwsgi)")
    config = log.with_suffix(".ini")
    config.write_text(
        f"{ini}\nhttp-socket = 127.0.0.1:{port}\nhome = {sys.prefix}\n"
        f"pythonpath = {TESTS}\nneed-app = true\ndie-on-term = true\ndisable-logging = true\n"
    )
    with log.open("wb") as output:  # the child keeps its own copy of the descriptor
        server = subprocess.Popen(
            [binary, "--ini", str(config)],
            env={**os.environ, **env},
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1).close()
            return server
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                stop_uwsgi(server)
                raise RuntimeError(f"uWSGI did not start: {log.read_text()[-1500:]}") from None
            time.sleep(0.1)


def stop_uwsgi(server: subprocess.Popen[bytes]) -> None:
    """SIGTERM (``die-on-term``: shut down, not reload) and wait for it."""
    server.terminate()
    try:
        server.wait(30)
    except subprocess.TimeoutExpired:
        server.kill()
        server.wait(30)


def http(method: str, url: str, data: dict | None = None) -> tuple[int, str, str | None]:
    """One request, a form body if ``data``, redirects not followed: (status, body, Location)."""

    class NoRedirect(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object) -> None:
            return None

    body = urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, method=method)
    try:
        with urllib.request.build_opener(NoRedirect).open(request, timeout=10) as response:
            return response.status, response.read().decode(), response.headers.get("Location")
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(), error.headers.get("Location")


def buy(demo, product="tea", pay_type="alipay") -> str:
    """Buy at the demo shop; the sandbox's pay link it sends the browser to."""
    status, _, pay_url = http(
        "POST", demo.shop_url + "/orders", {"product": product, "type": pay_type}
    )
    assert status == 303
    assert pay_url.startswith(demo.gateway_url + "/pay/")
    return pay_url

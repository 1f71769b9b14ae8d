"""cli/console.py: ``gatepay-wsgi console`` and ``gatepay-wsgi console hash-password``."""

from __future__ import annotations

import getpass
import os
import re
import signal
import subprocess
import sys
import threading
import urllib.request

import pytest
from werkzeug.security import check_password_hash, generate_password_hash

from gatepay_wsgi.cli import main
from gatepay_wsgi.inbox import open_inbox

from ..servers import http

HASH = generate_password_hash("pw", "pbkdf2:sha256:1000")
VARIABLES = (
    "GATEPAY_INBOX",
    "GATEPAY_CONSOLE_USER",
    "GATEPAY_CONSOLE_PASSWORD_HASH",
    "GATEPAY_CONSOLE_SECRET",
)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch):
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def inbox_url(tmp_path):
    url = f"sqlite:///{tmp_path}/inbox.sqlite3"
    open_inbox(url).close()  # the console does not create one: a typo shows no empty inbox
    return url


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def typed(monkeypatch, *answers):
    """``getpass.getpass`` answering these, in turn."""
    given = iter(answers)
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": next(given))


def test_hash_password_prints_a_werkzeug_hash(capsys, monkeypatch):
    typed(monkeypatch, "s3cret pass", "s3cret pass")
    code, out, _ = run(capsys, "console", "hash-password")
    assert code == 0
    (line,) = out.splitlines()
    assert check_password_hash(line, "s3cret pass")
    assert "s3cret pass" not in out


@pytest.mark.parametrize(
    ("answers", "message"),
    [(("a", "b"), "the two passwords differ"), (("",), "an empty password")],
)
def test_hash_password_refuses_a_mistyped_or_empty_password(capsys, monkeypatch, answers, message):
    typed(monkeypatch, *answers)
    code, out, err = run(capsys, "console", "hash-password")
    assert code == 2
    assert message in err
    assert out == ""


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--user", "alice", "--password-hash", HASH], "no inbox"),
        (["--password-hash", HASH], "no user"),
        (["--user", "alice"], "no password hash"),
        (["--user", "alice", "--password-hash", "pw"], "generate_password_hash"),
        (
            ["--user", "alice", "--password-hash", HASH, "--secret", "short"],
            "the console is off until it has a secret_key",
        ),
        (
            ["--user", "alice", "--password-hash", HASH, "--handler", "nowhere:nothing"],
            "nowhere",
        ),
    ],
)
def test_the_console_refuses_to_start_without_what_it_needs(capsys, inbox_url, argv, message):
    if message != "no inbox":
        argv = ["--inbox", inbox_url, *argv]
    code, out, err = run(capsys, "console", "--port", "0", *argv)
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert "GatePay console on" not in out


def test_a_missing_inbox_file_is_not_created(capsys, tmp_path):
    url = f"sqlite:///{tmp_path}/typo.sqlite3"
    code, _, err = run(
        capsys, "console", "--inbox", url, "--user", "alice", "--password-hash", HASH
    )
    assert code == 2
    assert "typo.sqlite3" in err
    assert not (tmp_path / "typo.sqlite3").exists()


def test_the_console_serves_on_localhost_and_stops(inbox_url, tmp_path):
    environment = {
        **os.environ,
        "GATEPAY_INBOX": inbox_url,
        "GATEPAY_CONSOLE_PASSWORD_HASH": HASH,
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "gatepay_wsgi", "console", "--user", "alice", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
        cwd=tmp_path,
    )
    watchdog = threading.Timer(60, process.kill)
    watchdog.start()
    try:
        lines = [process.stdout.readline() for _ in range(4)]
        base = re.search(r"GatePay console on (http://127\.0\.0\.1:\d+)/", lines[0]).group(1)
        assert "replay off (no --handler)" in lines[1]
        assert "a new secret for this run" in lines[2]
        status, _, location = http("GET", base + "/")
        assert (status, location) == (303, "/login")
        with urllib.request.urlopen(base + "/login", timeout=10) as response:
            assert response.status == 200
            assert response.headers["X-Frame-Options"] == "DENY"
            assert "<form method=post action='/login' id=login>" in response.read().decode()
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
        watchdog.cancel()
    assert process.returncode == 0, err
    assert "stopping" in out


def test_hash_password_with_nothing_to_read_is_a_message_not_a_traceback():
    done = subprocess.run(
        [sys.executable, "-m", "gatepay_wsgi", "console", "hash-password"],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "no password was typed" in done.stderr

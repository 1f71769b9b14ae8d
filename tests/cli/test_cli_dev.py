"""cli/dev.py: the sign, send, sandbox and demo commands."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading

import pytest

from gatepay_wsgi.cli import main

from ..gateway import md5
from ..servers import buy, http


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_sign_command(capsys):
    fields = [
        "order_id=1",
        "out_order_id=A",
        "price=1.00",
        "realprice=1.00",
        "type=alipay",
        "paytime=1700000000",
        "extend=",
    ]
    code, out, _ = run(capsys, "sign", "notify", "--appkey", "k", "--appsecret", "s", *fields)
    expected = md5(md5("k1A1.001.00alipay1700000000") + "s")
    assert (code, out.strip()) == (0, expected)
    code, _, err = run(capsys, "sign", "notify", "--appkey", "k", "--appsecret", "s", "price=1")
    assert code == 2
    assert "missing field" in err


def test_sign_needs_credentials(capsys, monkeypatch):
    monkeypatch.delenv("GATEPAY_APPKEY", raising=False)
    monkeypatch.delenv("GATEPAY_APPSECRET", raising=False)
    code, _, err = run(capsys, "sign", "return", "price=1")
    assert code == 2
    assert "GATEPAY_APPKEY" in err


def test_send_notify_to_a_running_shop(demo, capsys):
    pay_url = buy(demo)
    out_order_id = http("GET", pay_url)[1].split("<code>")[1].split("</code>")[0]
    url = demo.shop_url + "/gatepay/notify"
    keys = ["--appkey", demo.appkey, "--appsecret", demo.appsecret]
    code, out, _ = run(
        capsys,
        "send",
        "notify",
        "--url",
        url,
        *keys,
        f"out_order_id={out_order_id}",
        "price=10.00",
        "realprice=10.00",
        "extend=demo buyer",  # the custom the demo shop sent for the order
    )
    assert code == 0
    assert out.splitlines()[0] == f"POST {url}"
    assert out.splitlines()[-2:] == ["-> 200 OK", "success"]
    code, out, _ = run(
        capsys, "send", "notify", "--url", url, "--get", "--appkey", "k", "--appsecret", "wrong"
    )
    assert code == 1
    assert out.splitlines()[-2:] == ["-> 403 Forbidden", "fail"]
    code, out, _ = run(
        capsys,
        "send",
        "timeout",
        "--url",
        demo.shop_url + "/gatepay/timeout",
        f"out_order_id={out_order_id}",
    )
    assert code == 0
    assert "-> 200 OK" in out  # the page, cut to its first 500 characters
    timeout_page = http("GET", f"{demo.shop_url}/gatepay/timeout?out_order_id={out_order_id}")
    assert "<b>paid</b>" in timeout_page[1]
    code, _, err = run(capsys, "send", "notify", "--url", "ftp://x", *keys)
    assert code == 2
    assert "http" in err


def test_demo_command_starts_prints_and_stops(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "gatepay_wsgi.cli", "demo", "--port", "0", "--dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(60, process.kill)  # a hung demo must not hang the suite
    watchdog.start()
    try:
        lines = [process.stdout.readline() for _ in range(6)]
        shop_url = re.search(r"open the shop:\s+(\S+)", "".join(lines)).group(1)
        assert http("GET", shop_url)[0] == 200
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
        watchdog.cancel()
    assert process.returncode == 0, err
    assert "stopping" in out
    assert (tmp_path / "gatepay-inbox.sqlite3").exists()


def test_sandbox_command_needs_urls(capsys):
    code, _, err = run(capsys, "sandbox", "--appkey", "k", "--appsecret", "s")
    assert code == 2
    assert "--notify-url" in err


def test_md5_helper_matches_hashlib():
    assert md5("a") == hashlib.md5(b"a").hexdigest()


def test_sandbox_names_every_missing_url_at_once(capsys, monkeypatch):
    for name in ("GATEPAY_NOTIFY_URL", "GATEPAY_RETURN_URL"):
        monkeypatch.delenv(name, raising=False)
    code, _, err = run(capsys, "sandbox", "--appkey", "k", "--appsecret", "s")
    assert code == 2
    assert "--notify-url" in err
    assert "--return-url" in err
    assert len(err.strip().splitlines()) == 1


def test_credential_options_say_where_else_they_come_from(capsys):
    for command in ("sign", "send", "sandbox"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = capsys.readouterr().out
        assert "GATEPAY_APPKEY" in out, command
        assert "GATEPAY_APPSECRET" in out, command


def test_python_dash_m_gatepay_wsgi_runs_the_command():
    done = subprocess.run(
        [sys.executable, "-m", "gatepay_wsgi", "--help"], capture_output=True, text=True
    )
    assert done.returncode == 0
    assert "usage: gatepay-wsgi" in done.stdout


def _port_with_a_free_successor() -> int:
    """A free port whose next is free too (the demo's gateway takes --port + 1 first: a
    busy one there, an ephemeral port of some client, would be the one named)."""
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        try:
            with socket.socket() as successor:
                successor.bind(("127.0.0.1", port + 1))
        except OSError:
            continue
        return port
    raise AssertionError("no port with a free successor")


@pytest.mark.parametrize("command", ["demo", "sandbox"])
def test_a_busy_port_is_one_line_a_non_zero_exit_and_nothing_left_behind(command, tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", _port_with_a_free_successor()))
        taken.listen()
        port = taken.getsockname()[1]
        argv = [sys.executable, "-m", "gatepay_wsgi", command, "--port", str(port)]
        if command == "sandbox":
            argv += ["--appkey", "k", "--appsecret", "s", "--notify-url", "http://127.0.0.1:9/n"]
            argv += ["--return-url", "http://127.0.0.1:9/r"]
        done = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "TMPDIR": str(tmp_path)},
        )
    assert done.returncode == 2
    assert done.stderr.strip() == (
        f"gatepay-wsgi: port {port} on 127.0.0.1 is in use: pass --port with another"
    )
    assert list(tmp_path.iterdir()) == []  # no empty temporary folder left behind


def test_the_demo_prints_commands_that_run_as_printed(tmp_path):
    process = subprocess.Popen(
        [sys.executable, "-m", "gatepay_wsgi", "demo", "--port", "0", "--dir", str(tmp_path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PATH": "/usr/bin:/bin"},  # as if the venv was never activated
    )
    watchdog = threading.Timer(60, process.kill)
    watchdog.start()
    try:
        lines = [process.stdout.readline() for _ in range(6)]
        command = re.search(r"inbox on the command line:\s+(.+)", "".join(lines)).group(1)
        done = subprocess.run(  # noqa: S602  # the line exactly as a user pastes it
            command, shell=True, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"}
        )
        assert done.returncode == 0, (command, done.stderr)
        assert done.stdout.strip() == "no notifies"
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
        watchdog.cancel()


def test_the_sandbox_logs_to_its_terminal():
    argv = [sys.executable, "-m", "gatepay_wsgi", "sandbox", "--port", "0"]
    argv += ["--appkey", "k", "--appsecret", "s"]
    argv += ["--notify-url", "http://127.0.0.1:9/n", "--return-url", "http://127.0.0.1:9/r"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    watchdog = threading.Timer(60, process.kill)
    watchdog.start()
    try:
        base = re.search(r"sandbox on (\S+)", process.stdout.readline()).group(1)
        status, body, _ = http("POST", base + "/api/anypay/create", {"appkey": "k"})
        assert status == 200
        assert json.loads(body)["code"] == 103
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
        watchdog.cancel()
    assert "create (anypay) refused" in err


def test_negative_points_are_a_message_not_a_traceback(capsys):
    code, _, err = run(capsys, "demo", "--points", "-5", "--port", "0")
    assert code == 2
    assert err.strip() == "gatepay-wsgi: points and scan_fee cannot be negative"

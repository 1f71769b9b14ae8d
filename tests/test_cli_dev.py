"""cli/dev.py: the sign, send, sandbox and demo commands."""

from __future__ import annotations

import hashlib
import re
import signal
import subprocess
import sys
import threading

from gatepay_wsgi.cli import main

from .gateway import md5
from .servers import buy, http


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
    assert "<b>paid</b>" in out
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

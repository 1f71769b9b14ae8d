"""``gatepay-wsgi inbox ...`` over a real SQLite inbox."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest
from werkzeug.test import Client

from gatepay_wsgi import GatePayMiddleware, Notify
from gatepay_wsgi.cli import main

from ..gateway import APPKEY, APPSECRET, Recorder, notify_fields

HANDLERS = """
calls = []

def mark_paid(notification):
    calls.append(notification.order_id)
    with open("replayed.txt", "a") as out:
        out.write(f"{notification.order_id}\\n")

def still_broken(notification):
    raise RuntimeError("still broken")
"""


def shop(environ, start_response):
    start_response("200 OK", [])
    return [b""]


@pytest.fixture
def inbox_url(tmp_path, monkeypatch):
    """An inbox with order 1 done, orders 2 and 3 failed; cwd holds a handlers module."""
    url = f"sqlite:///{tmp_path}/inbox.sqlite3"
    for order_id, handler in [("1", Recorder()), ("2", Recorder(answer=False))]:
        app = GatePayMiddleware(
            shop, appkey=APPKEY, appsecret=APPSECRET, paths={"/n": Notify(handler)}, inbox=url
        )
        Client(app).post(
            "/n",
            data=urlencode(notify_fields(order_id=order_id, out_order_id=f"S-{order_id}")),
            content_type="application/x-www-form-urlencoded",
            environ_base={"REMOTE_ADDR": "198.51.100.7"},
        )
    app = GatePayMiddleware(
        shop,
        appkey=APPKEY,
        appsecret=APPSECRET,
        paths={"/n": Notify(Recorder(error=RuntimeError("db down")))},
        inbox=url,
    )
    client = Client(app)
    client.post(
        "/n",
        data=urlencode(notify_fields(order_id="3")),
        content_type="application/x-www-form-urlencoded",
    )
    client.post("/n", data="order_id=9&sign=x", content_type="application/x-www-form-urlencoded")
    monkeypatch.chdir(tmp_path)
    module = f"handlers_{abs(hash(str(tmp_path)))}"
    (tmp_path / f"{module}.py").write_text(HANDLERS)
    monkeypatch.setenv("GATEPAY_INBOX", url)
    return url, module


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_list_as_a_table(inbox_url, capsys):
    code, out, _ = run(capsys, "inbox", "list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split()[:4] == ["order_id", "appkey", "out_order_id", "status"]
    assert set(lines[1]) <= {"-", " "}
    assert len(lines) == 5
    assert "RuntimeError: db down" in out


def test_list_failed_as_json(inbox_url, capsys):
    code, out, _ = run(capsys, "inbox", "list", "--status", "failed", "--json")
    assert code == 0
    records = json.loads(out)
    assert sorted(r["order_id"] for r in records) == [2, 3]
    assert {r["status"] for r in records} == {"failed"}
    assert records[0]["raw"]["price"] == "100.00"


def test_show(inbox_url, capsys):
    code, out, _ = run(capsys, "inbox", "show", "2")
    assert code == 0
    assert "S-2" in out
    assert "198.51.100.7" in out
    assert "handler returned False" in out
    assert "extend = 张三 13800138000" in out
    sign = notify_fields(order_id="2", out_order_id="S-2")["sign"]
    assert sign not in out  # a prefix only
    code, out, _ = run(capsys, "inbox", "show", "2", "--json")
    assert json.loads(out)[0]["raw"]["sign"]  # the full record for scripts


def test_show_unknown_order(inbox_url, capsys):
    code, _, err = run(capsys, "inbox", "show", "404")
    assert code == 2
    assert "no notify for order_id 404" in err


@pytest.mark.parametrize("order_id", ["99999999999999999999", "9223372036854775808"])
def test_an_order_id_no_notify_can_have_is_unknown(inbox_url, capsys, order_id):
    _, module = inbox_url
    code, _, err = run(capsys, "inbox", "show", order_id)
    assert code == 2
    assert f"no notify for order_id {order_id}" in err
    code, out, err = run(capsys, "inbox", "replay", "--handler", f"{module}:mark_paid", order_id)
    assert code == 2
    assert f"no notify for order_id {order_id}" in err
    assert "missing" in out


def test_replay_failed(inbox_url, capsys, tmp_path):
    _, module = inbox_url
    code, out, _ = run(capsys, "inbox", "replay", "--handler", f"{module}:mark_paid", "--failed")
    assert code == 0
    assert "done" in out
    assert sorted((tmp_path / "replayed.txt").read_text().split()) == ["2", "3"]
    code, out, _ = run(capsys, "inbox", "replay", "--handler", f"{module}:mark_paid", "--failed")
    assert (code, out.strip()) == (0, "nothing to replay")


def test_replay_by_id_as_json_and_failure_exit_code(inbox_url, capsys):
    _, module = inbox_url
    code, out, _ = run(
        capsys, "inbox", "replay", "--handler", f"{module}:still_broken", "1", "2", "--json"
    )
    assert code == 1
    results = {r["order_id"]: r for r in json.loads(out)}
    assert results[1]["outcome"] == "skipped"
    assert results[2]["outcome"] == "failed"
    assert results[2]["error"] == "RuntimeError: still broken"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--handler", "nomodule_xyz:f", "--failed"], "cannot import"),
        (["--handler", "json:nothing_here", "--failed"], "has no"),
        (["--handler", "no_colon", "--failed"], "package.module:function"),
        (["--handler", "json:dumps"], "ORDER_ID"),
        (["--handler", "json:dumps", "--failed", "1"], "not both"),
    ],
)
def test_replay_usage_errors(inbox_url, capsys, argv, message):
    code, _, err = run(capsys, "inbox", "replay", *argv)
    assert code == 2
    assert message in err


def test_stats(inbox_url, capsys):
    code, out, _ = run(capsys, "inbox", "stats")
    assert code == 0
    assert "failed" in out
    assert "missing_field" in out or "invalid_field" in out
    code, out, _ = run(capsys, "inbox", "stats", "--json")
    stats = json.loads(out)
    assert stats["by_status"] == {"done": 1, "failed": 2}
    assert sum(stats["rejections"].values()) == 1


def test_missing_inbox_is_a_clear_error(capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("GATEPAY_INBOX", raising=False)
    code, _, err = run(capsys, "inbox", "list")
    assert (code, err.strip()) == (
        2,
        "gatepay-wsgi: no inbox: pass --inbox URL or set GATEPAY_INBOX",
    )
    code, _, err = run(capsys, "inbox", "list", "--inbox", f"sqlite:///{tmp_path}/typo.sqlite3")
    assert code == 2
    assert "no inbox at" in err
    assert not (tmp_path / "typo.sqlite3").exists()
    code, _, err = run(capsys, "inbox", "list", "--inbox", "ftp://x")
    assert (code, "unsupported scheme" in err) == (2, True)


def test_installed_console_script(inbox_url):
    script = Path(sys.executable).with_name("gatepay-wsgi")
    if not script.exists():
        pytest.skip("the package is not installed with its console script here")
    result = subprocess.run(
        [str(script), "inbox", "stats", "--json"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["by_status"]["failed"] == 2
    help_text = subprocess.run(
        [str(script), "inbox", "--help"], capture_output=True, text=True, check=True
    ).stdout
    assert "replay" in help_text


def test_show_escapes_control_characters_from_the_buyer(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/inbox.sqlite3"
    app = GatePayMiddleware(
        shop, appkey=APPKEY, appsecret=APPSECRET, paths={"/n": Notify(Recorder())}, inbox=url
    )
    hostile = "x\x1b]0;pwned\x07\x1b[2J\rFAKE"
    Client(app).post(
        "/n",
        data=urlencode(notify_fields(extend=hostile)),
        content_type="application/x-www-form-urlencoded",
    )
    code, out, _ = run(capsys, "inbox", "show", "100001", "--inbox", url)
    assert code == 0
    assert not {"\x1b", "\x07", "\r"} & set(out)
    assert "extend = x\\x1b]0;pwned\\x07\\x1b[2J\\x0dFAKE" in out


def test_migrate_creates_the_schema(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/new.sqlite3"
    code, out, _ = run(capsys, "inbox", "migrate", "--inbox", url)
    assert code == 0
    assert out.strip() == f"inbox ready: {url}"
    assert (tmp_path / "new.sqlite3").exists()
    assert run(capsys, "inbox", "stats", "--inbox", url)[0] == 0


def test_show_says_when_an_outcome_was_written_late(tmp_path, capsys):
    from gatepay_wsgi.inbox import InboxUnavailable, open_inbox

    url = f"sqlite:///{tmp_path}/inbox.sqlite3"
    inbox = open_inbox(url)
    real_finish, tries = inbox.finish, []

    def locked_once(claim, **outcome):
        tries.append(claim.order_id)
        if len(tries) == 1:
            raise InboxUnavailable("database is locked")
        return real_finish(claim, **outcome)

    inbox.finish = locked_once
    app = GatePayMiddleware(
        shop, appkey=APPKEY, appsecret=APPSECRET, paths={"/n": Notify(Recorder())}, inbox=inbox
    )
    body = urlencode(notify_fields(order_id="7"))
    Client(app).post("/n", data=body, content_type="application/x-www-form-urlencoded")
    deadline = time.monotonic() + 10
    while inbox.status(APPKEY, 7) != "done":
        assert time.monotonic() < deadline, "the outcome never landed"
        time.sleep(0.02)
    code, out, _ = run(capsys, "inbox", "show", "7", "--inbox", url)
    assert code == 0
    assert "note:" in out
    assert "late" in out
    assert "database is locked" in out
    inbox.close()


def test_migrate_on_a_memory_inbox_says_there_is_nothing_to_create(capsys):
    code, out, _ = run(capsys, "inbox", "migrate", "--inbox", "memory://")
    assert code == 0
    assert out.strip() == "inbox memory:// keeps notifies inside one process: nothing to create"


def test_migrate_names_the_inbox_it_made_ready_without_its_password(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/new.sqlite3"
    code, out, _ = run(capsys, "inbox", "migrate", "--inbox", url)
    assert (code, out.strip()) == (0, f"inbox ready: {url}")


def test_replay_of_an_order_the_inbox_never_saw_exits_non_zero(inbox_url, capsys):
    _, module = inbox_url
    code, out, err = run(capsys, "inbox", "replay", "--handler", f"{module}:mark_paid", "100001")
    assert code == 2
    assert "100001" in out
    assert "missing" in out
    assert "no notify for order_id 100001 in the inbox" in err


def test_show_says_how_often_a_notify_came_and_how_often_it_was_handled(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/inbox.sqlite3"
    app = GatePayMiddleware(
        shop, appkey=APPKEY, appsecret=APPSECRET, paths={"/n": Notify(Recorder())}, inbox=url
    )
    client = Client(app)
    for _ in range(3):  # delivered, then re-sent twice by hand from the gateway's console
        client.post(
            "/n",
            data=urlencode(notify_fields(order_id="7")),
            content_type="application/x-www-form-urlencoded",
        )
    code, out, _ = run(capsys, "inbox", "show", "7", "--inbox", url)
    assert code == 0
    assert "received:       3 times\n" in out
    assert "handler runs:   1 (status done)\n" in out


def test_list_and_show_never_print_a_stored_control_or_bidi_character(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/inbox.sqlite3"
    failing = Recorder(error=RuntimeError("\x1b[31mred\x1b[0m \u202eliaf"))
    app = GatePayMiddleware(
        shop, appkey=APPKEY, appsecret=APPSECRET, paths={"/n": Notify(failing)}, inbox=url
    )
    fields = notify_fields(out_order_id="GP\u202e00.01", extend="\x9b31m\u2066x\u2069")
    Client(app).post(
        "/n",
        data=urlencode(fields),
        content_type="application/x-www-form-urlencoded",
        environ_base={"REMOTE_ADDR": "198.51.100.7\x1b[2J"},
    )
    hidden = {"\x1b", "\x9b", "\u202e", "\u2066", "\u2069"}
    code, listed, _ = run(capsys, "inbox", "list", "--inbox", url)
    assert code == 0
    assert not hidden & set(listed)
    assert "GP\\u202e00.01" in listed
    assert "\\x1b[31mred\\x1b[0m \\u202eliaf" in listed
    code, shown, _ = run(capsys, "inbox", "show", "100001", "--inbox", url)
    assert code == 0
    assert not hidden & set(shown)
    assert "remote address: 198.51.100.7\\x1b[2J" in shown
    assert "out_order_id = GP\\u202e00.01" in shown
    assert "extend = \\x9b31m\\u2066x\\u2069" in shown
    for action in (["list"], ["show", "100001"]):
        code, out, _ = run(capsys, "inbox", *action, "--json", "--inbox", url)
        assert code == 0
        assert not hidden & set(out)  # written as JSON escapes: the same JSON
        (record,) = json.loads(out)
        assert record["out_order_id"] == "GP\u202e00.01"
        assert record["raw"]["extend"] == "\x9b31m\u2066x\u2069"
        assert record["remote_addr"] == "198.51.100.7\x1b[2J"


def test_replay_that_could_not_run_an_order_exits_non_zero(inbox_url, capsys):
    """Another worker holds order 2's claim: its replay is ``busy``, nothing ran, and a
    script (cron, CI) must not read the replay as done."""
    from gatepay_wsgi.inbox import open_inbox

    url, module = inbox_url
    other_worker = open_inbox(url)
    held = other_worker.reclaim(APPKEY, 2)
    assert held is not None
    assert held[0].outcome == "run"
    try:
        code, out, err = run(capsys, "inbox", "replay", "--handler", f"{module}:mark_paid", "2")
    finally:
        other_worker.finish(held[0], ok=False, error="released by the test")
        other_worker.close()
    assert code == 1
    assert "busy" in out
    assert "order_id 2 was not replayed: busy" in err

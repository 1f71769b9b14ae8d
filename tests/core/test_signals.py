"""signals.py: what happens to notifies, for alerts and metrics (blinker)."""

from __future__ import annotations

import logging
import time
from urllib.parse import urlencode

import pytest
from werkzeug.test import Client

from gatepay_wsgi import GatePayMiddleware, Notify, signals
from gatepay_wsgi.inbox import MemoryInbox

from ..gateway import APPKEY, APPSECRET, Recorder, notify_fields, shop

pytest.importorskip("blinker", reason="signals need blinker")


@pytest.fixture
def heard():
    """Every signal of signals.py, as (name, keyword arguments) in the order sent."""
    got: list[tuple[str, dict]] = []
    names = [n for n in signals.__all__ if n.startswith("notify_")]
    receivers = {}
    for name in names:

        def receiver(sender, _name=name, **data):
            got.append((_name, data))

        receivers[name] = receiver
        getattr(signals, name).connect(receiver)
    yield got
    for name, receiver in receivers.items():
        getattr(signals, name).disconnect(receiver)


def _post(client, fields):
    response = client.post(
        "/n", data=urlencode(fields), content_type="application/x-www-form-urlencoded"
    )
    return response.status_code, response.get_data(as_text=True)


def _client(handler, inbox=None):
    app = GatePayMiddleware(
        shop,
        appkey=APPKEY,
        appsecret=APPSECRET,
        paths={"/n": Notify(handler)},
        inbox=inbox or MemoryInbox(),
    )
    return Client(app), app


def test_a_handled_notify_is_received_then_handled_with_its_duration(heard):
    client, _ = _client(Recorder())
    assert _post(client, notify_fields()) == (200, "success")
    assert [name for name, _ in heard] == ["notify_received", "notify_handled"]
    received, handled = heard[0][1], heard[1][1]
    assert received["notification"].order_id == 100001
    assert handled["duration"] >= 0


def test_a_refusal_says_why_and_what_was_sent(heard):
    client, _ = _client(Recorder())
    assert _post(client, {**notify_fields(), "sign": "0" * 32})[0] == 403
    ((name, data),) = heard
    assert name == "notify_refused"
    assert (data["reason"], data["field"], data["order_id"]) == ("bad_signature", "sign", "100001")


def test_a_failure_is_failed_and_for_good_only_once_the_gateways_retries_are_over(heard):
    client, _ = _client(Recorder(error=RuntimeError("db down")))
    assert _post(client, notify_fields())[0] == 500  # paid just now: the gateway retries
    assert [name for name, _ in heard] == ["notify_received", "notify_failed"]
    assert heard[1][1]["error"] == "RuntimeError: db down"
    heard.clear()
    old = str(int(time.time()) - signals.RETRIES_OVER_AFTER - 60)
    assert _post(client, notify_fields(order_id="2", paytime=old))[0] == 500
    assert [name for name, _ in heard] == [
        "notify_received",
        "notify_failed",
        "notify_failed_for_good",
    ]


def test_a_replay_says_who_asked(heard, caplog):
    handler = Recorder(answer=False)
    client, app = _client(handler)
    _post(client, notify_fields())
    heard.clear()
    handler.answer = None
    with caplog.at_level(logging.INFO, logger="gatepay_wsgi"):
        (result,) = app.inbox.replay(handler, by="alice")
    assert [name for name, _ in heard] == ["notify_replayed"]
    assert heard[0][1]["result"] is result
    assert heard[0][1]["by"] == "alice"
    assert "notify replayed order_id=100001 outcome=done by=alice" in caplog.text


def test_a_receiver_that_raises_changes_nothing(caplog):
    def broken(sender, **data):
        raise RuntimeError("chat webhook down")

    signals.notify_handled.connect(broken)
    try:
        client, _ = _client(Recorder())
        assert _post(client, notify_fields()) == (200, "success")
    finally:
        signals.notify_handled.disconnect(broken)
    assert "a receiver of the notify-handled signal raised" in caplog.text

"""The sandbox's cloud sessions: no account online means no payment and no notify."""

from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from werkzeug.test import Client

from gatepay_wsgi.sandbox import CloudSessions, Sandbox, ScanRefused
from gatepay_wsgi.signing import create_sign

KEY, SECRET = "k", "s"


def sandbox(**options) -> tuple[Sandbox, Client]:
    gateway = Sandbox(
        appkey=KEY,
        appsecret=SECRET,
        notify_url="http://127.0.0.1:9/n",
        return_url="http://127.0.0.1:9/r",
        timeout_url="http://127.0.0.1:9/t",
        **options,
    )
    return gateway, Client(gateway)


def create(client: Client, pay_type: str, out_order_id: str = "GP1") -> dict:
    fields = {
        "appkey": KEY,
        "price": "10.00",
        "type": pay_type,
        "out_order_id": out_order_id,
        "custom": "",
    }
    fields["sign"] = create_sign(fields, KEY, SECRET)
    return json.loads(client.post("/api/anypay/create", data=fields).get_data())


def test_create_is_refused_with_204_until_a_scan_brings_an_account_online():
    gateway, client = sandbox(sessions=CloudSessions(online=False, points=500, scan_fee=200))
    refused = create(client, "alipay")
    assert (refused["code"], refused["msg"]) == (204, "无可用支付方式")  # the gateway's page
    client.post("/console/sessions/scan", data={"type": "alipay", "label": "shop till"})
    assert create(client, "alipay")["code"] == 100
    assert create(client, "wechat", "GP2")["code"] == 204  # only alipay is online
    assert gateway.sessions.points == 300


def test_points_are_deducted_per_scan_and_a_scan_without_enough_is_refused():
    sessions = CloudSessions(online=False, points=450, scan_fee=200)
    sessions.scan("alipay")
    sessions.scan("wechat")
    assert sessions.points == 50
    with pytest.raises(ScanRefused, match="not enough points: a scan costs 200 points"):
        sessions.scan("alipay")
    _, client = sandbox(sessions=sessions)
    response = client.post("/console/sessions/scan", data={"type": "alipay"})
    message = parse_qs(urlsplit(response.headers["Location"]).query)["message"][0]
    assert message.startswith("not enough points")
    assert "not enough points" in client.get(response.headers["Location"]).get_data(as_text=True)
    with pytest.raises(ScanRefused, match="unknown payment type"):
        CloudSessions(points=1000).scan("paypal")


def test_an_offline_session_is_revived_by_a_scan_for_the_fee():
    sessions = CloudSessions(points=1000, scan_fee=200)
    (alipay,) = [s for s in sessions.sessions.values() if s.type == "alipay"]
    sessions.take_offline(alipay.session_id)
    assert not sessions.online_for("alipay")
    assert sessions.scan("alipay", session_id=alipay.session_id) is alipay
    assert (alipay.online, sessions.points) == (True, 800)
    assert sessions.scan("", session_id=alipay.session_id) is alipay  # online already: free
    assert sessions.points == 800


def test_a_session_dropped_mid_order_means_no_notify_and_the_timeout_still_works():
    gateway, client = sandbox()
    order_id = int(create(client, "wechat")["data"]["pay_url"].rsplit("/", 1)[1])
    (wechat,) = [s for s in gateway.sessions.sessions.values() if s.type == "wechat"]
    client.post(f"/console/sessions/{wechat.session_id}/offline")
    paid = client.post(f"/pay/{order_id}/pay")
    assert paid.headers["Location"].endswith(f"/pay/{order_id}?unwatched=1")
    page = client.get(paid.headers["Location"]).get_data(as_text=True)
    assert "No session is watching this account" in page
    assert gateway.orders[order_id].attempts == []  # no notify was sent
    closed = client.post(f"/pay/{order_id}/timeout")
    assert closed.headers["Location"].startswith("http://127.0.0.1:9/t?")
    assert "out_order_id=GP1" in closed.headers["Location"]


def test_console_lists_sessions_and_points():
    _, client = sandbox(sessions=CloudSessions(points=700, scan_fee=150))
    page = client.get("/console").get_data(as_text=True)
    assert "Points: <b id=points>700</b>" in page
    assert page.count("class=state>online") == 2
    assert "a scan costs 150" in page


def test_sandbox_command_flags(monkeypatch):
    from gatepay_wsgi.cli import build_parser

    args = build_parser().parse_args(["sandbox", "--no-sessions", "--points", "10"])
    assert (args.no_sessions, args.points, args.scan_fee) == (True, 10, 200)
    monkeypatch.setenv("GATEPAY_SANDBOX_SESSIONS", "none")
    assert build_parser().parse_args(["demo"]).no_sessions is True

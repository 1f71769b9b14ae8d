"""examples/alert_webhook.py: a notify that fails after the gateway's retries posts an alert."""

from __future__ import annotations

import importlib
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import urlencode

import pytest
from werkzeug.test import Client

from gatepay_wsgi import GatePayMiddleware, Notify, signals

from ..gateway import APPKEY, APPSECRET, Recorder, notify_fields, shop

pytest.importorskip("blinker")


@pytest.fixture
def chat():
    """A chat webhook on 127.0.0.1 that keeps what it was sent."""
    posted: list[dict] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self):  # http.server's name
            posted.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/hook", posted
    server.shutdown()
    server.server_close()


def test_a_notify_failing_after_the_retries_posts_one_alert(chat, monkeypatch):
    url, posted = chat
    monkeypatch.setenv("GATEPAY_ALERT_WEBHOOK", url)
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[2] / "examples"))
    sys.modules.pop("alert_webhook", None)
    example = importlib.import_module("alert_webhook")
    try:
        app = GatePayMiddleware(
            shop,
            appkey=APPKEY,
            appsecret=APPSECRET,
            paths={"/n": Notify(Recorder(error=RuntimeError("db down")))},
        )
        client = Client(app)
        for paytime, order_id in ((int(time.time()), "1"), (int(time.time()) - 3600, "2")):
            fields = notify_fields(
                order_id=order_id, out_order_id=f"SHOP-{order_id}", paytime=str(paytime)
            )
            client.post(
                "/n", data=urlencode(fields), content_type="application/x-www-form-urlencoded"
            )
        deadline = time.monotonic() + 5
        while not posted and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.1)
        assert len(posted) == 1  # order 1 may still be retried by the gateway: no alert
        assert "order SHOP-2" in posted[0]["text"]
        assert "RuntimeError: db down" in posted[0]["text"]
    finally:
        signals.notify_failed_for_good.disconnect(example.on_failed_for_good)

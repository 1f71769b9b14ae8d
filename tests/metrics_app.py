"""The app the metrics test serves with gunicorn: ``gunicorn metrics_app:app``.

A notify handler behind ``GatePayMiddleware`` (SQLite inbox GATEPAY_TEST_INBOX) that
declines any ``out_order_id`` starting ``NO`` and appends its worker's pid to
GATEPAY_TEST_CALLS; ``GET /metrics`` is ``GatePayMetrics.wsgi_app()``, with the worker's
pid in an ``X-Worker`` header. PROMETHEUS_MULTIPROC_DIR is set by the test.
"""

from __future__ import annotations

import os
import time

from gatepay_wsgi import GatePayMiddleware, Notify
from gatepay_wsgi.metrics import GatePayMetrics

APPKEY, APPSECRET = "key123", "secret456"  # tests/gateway.py's
CALLS = os.environ["GATEPAY_TEST_CALLS"]


def mark_paid(notification) -> bool:
    time.sleep(0.02)  # long enough for the other workers to take the next requests
    fd = os.open(CALLS, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, f"{os.getpid()}\n".encode())
    finally:
        os.close(fd)
    return not notification.out_order_id.startswith("NO")


def site(environ, start_response):
    if environ["PATH_INFO"] == "/metrics":

        def with_worker(status, headers, exc_info=None):
            return start_response(status, [*headers, ("X-Worker", str(os.getpid()))], exc_info)

        return metrics_app(environ, with_worker)
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"shop"]


app = GatePayMiddleware(
    site,
    appkey=APPKEY,
    appsecret=APPSECRET,
    paths={"/gatepay/notify": Notify(mark_paid)},
    inbox=os.environ["GATEPAY_TEST_INBOX"],
)
metrics = GatePayMetrics(inbox=app.inbox)
metrics_app = metrics.wsgi_app()

"""The app the load tests serve with gunicorn: ``gunicorn load_app:app``.

GATEPAY_TEST_INBOX names the inbox; every handler call appends the order id to
GATEPAY_TEST_CALLS (one line each, O_APPEND, so processes do not mix lines). With
GATEPAY_TEST_ORDERS (a file of out_order_ids, one a line), the handler declines any other
out_order_id, as a shop checking its own orders does.
"""

from __future__ import annotations

import os
import time

from gatepay_wsgi import GatePayMiddleware, Notify

APPKEY, APPSECRET = "key123", "secret456"  # tests/gateway.py's
CALLS = os.environ["GATEPAY_TEST_CALLS"]
ORDERS = os.environ.get("GATEPAY_TEST_ORDERS")


def mark_paid(notification) -> bool:
    if ORDERS is not None:
        with open(ORDERS) as known:
            if notification.out_order_id not in known.read().split():
                return False
    time.sleep(0.002)  # a shop's database write: wide enough for two workers to race
    fd = os.open(CALLS, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, f"{notification.order_id}\n".encode())
    finally:
        os.close(fd)
    return True


def shop(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"shop"]


app = GatePayMiddleware(
    shop,
    appkey=APPKEY,
    appsecret=APPSECRET,
    paths={"/gatepay/notify": Notify(mark_paid)},
    inbox=os.environ["GATEPAY_TEST_INBOX"],
)

"""A plain-WSGI shop with verified GatePay callbacks: ``python examples/minimal_shop.py``.

It serves one order on http://127.0.0.1:8000/, then proves the notify endpoint by
posting to itself a correctly signed notify (answered ``success``, the order becomes
paid) and a forged one (answered ``fail``, nothing changes). Open the printed URLs in a
browser to see the return and timeout pages; Ctrl-C stops it. ``--check`` exits after
the self-check (non-zero if anything was off).

Credentials come from GATEPAY_APPKEY / GATEPAY_APPSECRET, or demo values when unset.
Verified notifies are kept in an SQLite inbox (``--inbox URL``, default a file in a new
temporary directory), which ``gatepay-wsgi inbox list --inbox URL`` shows.
"""

from __future__ import annotations

import argparse
import html
import logging
import os
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from decimal import Decimal
from urllib.parse import urlencode
from wsgiref.simple_server import WSGIRequestHandler, make_server

from gatepay_wsgi import (
    GatePayMiddleware,
    Notification,
    Notify,
    Return,
    ReturnVisit,
    Timeout,
    TimeoutVisit,
)
from gatepay_wsgi.signing import notify_sign, return_sign

APPKEY = os.environ.get("GATEPAY_APPKEY", "demo-appkey")
APPSECRET = os.environ.get("GATEPAY_APPSECRET", "demo-appsecret")

# The shop's own database, reduced to a dict: out_order_id -> order.
ORDERS = {
    "A1001": {
        "price": Decimal("10.00"),
        "custom": "buyer@example.com",  # sent to the gateway as custom, back as extend
        "paid": False,
        "gateway_order_id": None,
    }
}
LOCK = threading.Lock()


def mark_paid(n: Notification) -> bool:
    """Fulfil an order once; refuse a notify that does not match what we sold."""
    with LOCK:
        order = ORDERS.get(n.out_order_id)
        if order is None or n.price != order["price"] or n.extend != order["custom"]:
            return False  # answers "fail": someone must look at this notify
        if not order["paid"]:
            order.update(paid=True, gateway_order_id=n.order_id)
        return order["gateway_order_id"] == n.order_id  # paid twice? a person must look


def order_page(out_order_id: str) -> str:
    order = ORDERS.get(out_order_id)
    state = "unknown" if order is None else ("paid" if order["paid"] else "pending")
    return f"<p>Order {html.escape(out_order_id)} is <b>{state}</b>.</p><p><a href='/'>Shop</a></p>"


def thank_you(visit: ReturnVisit) -> str:
    # The return URL is a browser link: show the real state, never fulfil here.
    return "<h1>Thank you</h1>" + order_page(visit.out_order_id)


def closed(visit: TimeoutVisit) -> str:
    return "<h1>Payment window closed</h1>" + order_page(visit.out_order_id or "")


def shop(environ, start_response):  # type: ignore[no-untyped-def]
    lines = "".join(
        f"<li>{key}: {order['price']} yuan, {'paid' if order['paid'] else 'pending'}</li>"
        for key, order in ORDERS.items()
    )
    body = f"<h1>Minimal shop</h1><ul>{lines}</ul>".encode()
    start_response("200 OK", [("Content-Type", "text/html; charset=utf-8")])
    return [body]


def make_app(inbox: str):  # type: ignore[no-untyped-def]
    return GatePayMiddleware(
        shop,
        appkey=APPKEY,
        appsecret=APPSECRET,
        paths={
            "/gatepay/notify": Notify(mark_paid),
            "/gatepay/return": Return(thank_you),
            "/gatepay/timeout": Timeout(closed),
        },
        inbox=inbox,
    )


class QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def post(url: str, fields: dict[str, str]) -> tuple[int, str]:
    request = urllib.request.Request(url, data=urlencode(fields).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()


def self_check(base: str) -> bool:
    """Send what the gateway would send, and a forgery; report what the shop did."""
    fields = {
        "order_id": "9001",
        "out_order_id": "A1001",
        "price": "10.00",
        "realprice": "9.99",
        "type": "alipay",
        "paytime": str(int(time.time())),
        "extend": "buyer@example.com",
    }
    forged = {**fields, "sign": notify_sign(fields, APPKEY, "a guessed secret")}
    status, body = post(base + "/gatepay/notify", forged)
    forged_ok = body == "fail" and not ORDERS["A1001"]["paid"]
    print(f"forged notify -> {status} {body!r}; order A1001 paid: {ORDERS['A1001']['paid']}")
    signed = {**fields, "sign": notify_sign(fields, APPKEY, APPSECRET)}
    status, body = post(base + "/gatepay/notify", signed)
    signed_ok = body == "success" and ORDERS["A1001"]["paid"]
    print(f"signed notify -> {status} {body!r}; order A1001 paid: {ORDERS['A1001']['paid']}")
    status, body = post(base + "/gatepay/notify", signed)
    print(f"same notify again -> {status} {body!r} (the inbox knows it is done)")
    return forged_ok and signed_ok and body == "success"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8000, help="0 picks a free port")
    parser.add_argument("--check", action="store_true", help="exit after the self-check")
    parser.add_argument("--inbox", help="inbox URL (default: SQLite in a temporary directory)")
    args = parser.parse_args(argv)
    inbox = args.inbox or f"sqlite:///{tempfile.mkdtemp(prefix='gatepay-shop-')}/inbox.sqlite3"
    logging.basicConfig(level=logging.INFO, format="log: %(name)s: %(message)s")
    if "GATEPAY_APPSECRET" not in os.environ:
        print("GATEPAY_APPKEY/GATEPAY_APPSECRET not set: using demo credentials")
    server = make_server("127.0.0.1", args.port, make_app(inbox), handler_class=QuietHandler)
    base = f"http://127.0.0.1:{server.server_port}"
    threading.Thread(target=server.serve_forever, daemon=True).start()
    ok = self_check(base)
    print("self-check:", "passed" if ok else "FAILED")
    print(f"inbox:         gatepay-wsgi inbox list --inbox {inbox}")
    if args.check or not ok:
        server.shutdown()
        return 0 if ok else 1
    visit = {"price": "10.00", "type": "alipay", "product_id": "1", "order_id": "9001"}
    visit["out_order_id"] = "A1001"
    visit["sign"] = return_sign(visit, APPKEY, APPSECRET)
    print(f"shop:          {base}/")
    print(f"return page:   {base}/gatepay/return?{urlencode(visit)}")
    print(f"timeout page:  {base}/gatepay/timeout?out_order_id=A1001")
    print("Ctrl-C stops the shop.")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())

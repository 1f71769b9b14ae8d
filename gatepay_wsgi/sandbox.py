"""A local GatePay gateway for trying a shop without paying: ``gatepay-wsgi sandbox``.

``Sandbox(appkey=..., appsecret=..., notify_url=..., return_url=..., timeout_url=...)``
is a WSGI app that behaves like the gateway as its public pages describe it:

- ``POST /api/anypay/create`` answers ``{"code": 200, "msg": "success", "data":
  {"pay_url": ...}}``, or an error code (400 a missing or malformed field, 401 a bad
  sign, 403 an unknown appkey, 409 an out_order_id already used for another amount).
- ``/pay/<order_id>`` is the buyer's page: "Pay" sends the signed notify (POST) to the
  merchant and, on ``success``, redirects the browser to the signed return URL; on
  ``fail`` or no answer it retries three times, ``retry_interval`` apart (60 s, as the
  gateway does), while the page waits. "Let it time out" sends the browser to the
  timeout URL.
- ``/console`` lists orders with every notify attempt and its answer, and the
  "I have received this payment" button that re-sends a notify by hand, as the real
  console does, also long after a timeout. It also lists the cloud sessions (which
  accounts are online) and the points balance: "scan to go online" costs the scan fee,
  "take offline" drops a session. With no online session for a type, the create API
  answers code 204, and a payment into an unwatched account is never noticed: no notify.

``realprice`` is the price less a cent for each other open order of the same amount,
as gateways of this kind do to tell concurrent payments apart. The create API takes a
price with up to two decimals (``10``, ``10.5``, ``10.50``), but the notify and return
always carry exactly two (``10.00``, ``10.50``), as the gateway's page documents and the
verifier requires. State lives in memory.
"""

from __future__ import annotations

import html
import itertools
import json
import logging
import re
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from .client import CREATE_PATH, PAY_TYPES, check_http_url
from .sandbox_sessions import NO_PAYMENT_METHOD, ScanRefused, Sessions
from .signing import create_sign, notify_sign, return_sign

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

logger = logging.getLogger("gatepay_wsgi.sandbox")

OPEN, PAID, CLOSED = "open", "paid", "closed"

# What the create API takes from a shop: canonical, up to two decimals. Looser than the
# callbacks' money (exactly two decimals): the sandbox re-formats what it sends back.
_CREATE_PRICE = re.compile(r"(?:0|[1-9][0-9]{0,11})(?:\.[0-9]{1,2})?")


def read_create_price(text: str) -> Decimal | None:
    """``read_create_price("10")`` -> ``Decimal("10")``; ``None`` unless up to 2 decimals."""
    return Decimal(text) if _CREATE_PRICE.fullmatch(text) else None


@dataclass
class Attempt:
    """One notify sent to the merchant, and what it answered."""

    at: float
    kind: str  # auto | retry | manual
    status: int | None
    body: str
    error: str | None = None

    @property
    def acknowledged(self) -> bool:
        return self.body.strip() == "success"


@dataclass
class SandboxOrder:
    order_id: int
    out_order_id: str
    price: str
    realprice: str
    type: str
    custom: str
    created_at: float
    status: str = OPEN
    paytime: int | None = None
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def acknowledged(self) -> bool:
        return any(a.acknowledged for a in self.attempts)


def _page(title: str, body: str, refresh: int | None = None) -> Response:
    meta = f"<meta http-equiv=refresh content={refresh}>" if refresh else ""
    text = (
        f"<!doctype html><html><head><meta charset=utf-8>{meta}<title>{html.escape(title)}"
        "</title><style>body{font-family:sans-serif;max-width:48em;margin:2em auto}"
        "td,th{padding:.2em .6em;text-align:left;vertical-align:top}</style></head>"
        f"<body><p><small>GatePay sandbox</small></p><h1>{html.escape(title)}</h1>{body}"
        "</body></html>"
    )
    return Response(text, content_type="text/html; charset=utf-8")


def _text(body: bytes) -> str:
    """A shop's answer as text; bytes that are not UTF-8 show as U+FFFD, never raise."""
    return body.decode("utf-8", "replace")


def _with_query(url: str, fields: dict[str, str]) -> str:
    return url + ("&" if "?" in url else "?") + urlencode(fields)


class Sandbox:
    """The sandbox gateway, a WSGI app; ``close()`` stops its retry threads."""

    def __init__(
        self,
        *,
        appkey: str,
        appsecret: str,
        notify_url: str,
        return_url: str,
        timeout_url: str | None = None,
        retry_interval: float = 60.0,
        retries: int = 3,
        notify_timeout: float = 10.0,
        sessions: Sessions | None = None,
    ) -> None:
        if not appkey or not appsecret:
            raise ValueError("the sandbox needs the merchant's appkey and appsecret")
        self.appkey, self.appsecret = appkey, appsecret
        self.notify_url = check_http_url(notify_url, "notify_url")  # urllib opens it
        self.return_url, self.timeout_url = return_url, timeout_url
        self.retry_interval, self.retries = retry_interval, retries
        self.notify_timeout = notify_timeout
        self.sessions = Sessions() if sessions is None else sessions
        self.orders: dict[int, SandboxOrder] = {}
        self.lock = threading.RLock()
        self.stopping = threading.Event()
        self._ids = itertools.count(int(time.time()) % 100000 * 1000 + 1)
        self.url_map = Map(
            [
                Rule("/", endpoint="console"),
                Rule(CREATE_PATH, endpoint="create", methods=["POST"]),
                Rule("/pay/<int:order_id>", endpoint="pay_page", methods=["GET"]),
                Rule("/pay/<int:order_id>/pay", endpoint="pay", methods=["POST"]),
                Rule("/pay/<int:order_id>/timeout", endpoint="time_out", methods=["POST"]),
                Rule("/console", endpoint="console"),
                Rule("/console/<int:order_id>/resend", endpoint="resend", methods=["POST"]),
                Rule("/console/sessions/scan", endpoint="scan", methods=["POST"]),
                Rule(
                    "/console/sessions/<int:session_id>/offline",
                    endpoint="offline",
                    methods=["POST"],
                ),
                Rule("/api/orders/<int:order_id>", endpoint="order_json"),
            ]
        )

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        try:
            endpoint, args = self.url_map.bind_to_environ(environ).match()
            response: Any = getattr(self, "on_" + endpoint)(request, **args)
        except HTTPException as error:
            response = error
        result: Iterable[bytes] = response(environ, start_response)
        return result

    def close(self) -> None:
        self.stopping.set()

    def _order(self, order_id: int) -> SandboxOrder:
        with self.lock:
            order = self.orders.get(order_id)
        if order is None:
            raise NotFound(f"no order {order_id}")
        return order

    # -- the order-creation API --------------------------------------------------------

    def _refuse(self, code: int, message: str) -> Response:
        body = json.dumps({"code": code, "msg": message}, ensure_ascii=False)
        return Response(body, content_type="application/json; charset=utf-8")

    def on_create(self, request: Request) -> Response:
        form = request.form
        for name in ("appkey", "price", "type", "out_order_id", "sign"):
            if not form.get(name):
                return self._refuse(400, f"missing field: {name}")
        if form["appkey"] != self.appkey:
            return self._refuse(403, "unknown appkey")
        fields = {name: form.get(name, "") for name in ("price", "type", "out_order_id", "custom")}
        if form["sign"].lower() != create_sign(fields, self.appkey, self.appsecret):
            return self._refuse(401, "sign error")
        price = read_create_price(fields["price"])
        if price is None or price <= 0 or fields["type"] not in PAY_TYPES:
            return self._refuse(400, "malformed field: price or type")
        refusal = self.refuse_payment_type(fields["type"])
        if refusal:
            return self._refuse(*refusal)
        order = self._open_order(price, fields)
        if order is None:
            return self._refuse(409, "out_order_id already used for another amount")
        data = {
            "order_id": order.order_id,
            "out_order_id": order.out_order_id,
            "price": order.price,
            "realprice": order.realprice,
            "type": order.type,
            "pay_url": f"{request.host_url}pay/{order.order_id}",
        }
        body = json.dumps({"code": 200, "msg": "success", "data": data}, ensure_ascii=False)
        return Response(body, content_type="application/json; charset=utf-8")

    def refuse_payment_type(self, pay_type: str) -> tuple[int, str] | None:
        """Code 204 when no online session watches accounts of this type."""
        return None if self.sessions.online_for(pay_type) else NO_PAYMENT_METHOD

    def _open_order(self, price: Decimal, fields: dict[str, str]) -> SandboxOrder | None:
        with self.lock:
            for order in self.orders.values():
                if order.out_order_id == fields["out_order_id"]:
                    same = Decimal(order.price) == price and order.type == fields["type"]
                    return order if same and order.status == OPEN else None
            twins = sum(
                1
                for o in self.orders.values()
                if o.status == OPEN and Decimal(o.price) == price and o.type == fields["type"]
            )
            realprice = max(price - Decimal("0.01") * twins, Decimal("0.01"))
            order = SandboxOrder(
                order_id=next(self._ids),
                out_order_id=fields["out_order_id"],
                price=f"{price:.2f}",
                realprice=f"{realprice:.2f}",
                type=fields["type"],
                custom=fields["custom"],
                created_at=time.time(),
            )
            self.orders[order.order_id] = order
            return order

    # -- notifies ----------------------------------------------------------------------

    def notify_fields(self, order: SandboxOrder) -> dict[str, str]:
        """The signed notify the gateway sends for a paid order."""
        fields = {
            "order_id": str(order.order_id),
            "out_order_id": order.out_order_id,
            "price": order.price,
            "realprice": order.realprice,
            "type": order.type,
            "paytime": str(order.paytime or int(time.time())),
            "extend": order.custom,
        }
        fields["sign"] = notify_sign(fields, self.appkey, self.appsecret)
        return fields

    def send_notify(self, order: SandboxOrder, kind: str) -> Attempt:
        """POST the notify to the merchant and record what it answered."""
        data = urlencode(self.notify_fields(order)).encode()
        request = urllib.request.Request(self.notify_url, data=data, method="POST")  # noqa: S310
        request.add_header("Content-Type", "application/x-www-form-urlencoded")
        try:
            with urllib.request.urlopen(request, timeout=self.notify_timeout) as response:  # noqa: S310
                attempt = Attempt(time.time(), kind, response.status, _text(response.read(200)))
        except urllib.error.HTTPError as error:  # a 4xx/5xx answer: the shop's word all the same
            attempt = Attempt(time.time(), kind, error.code, _text(error.read(200)))
        except (OSError, ValueError) as error:
            attempt = Attempt(time.time(), kind, None, "", self._plain_words(error))
        with self.lock:
            order.attempts.append(attempt)
        logger.info(
            "notify %s order_id=%s -> %s %r",
            kind,
            order.order_id,
            attempt.status or attempt.error,
            attempt.body,
        )
        return attempt

    def _plain_words(self, error: Exception) -> str:
        """What went wrong reaching the shop, as the console shows it to a person."""
        reason = getattr(error, "reason", error)  # urllib wraps socket errors in URLError
        if isinstance(reason, ConnectionRefusedError):
            return "connection refused"
        if isinstance(reason, TimeoutError):
            return f"no answer within {self.notify_timeout:g} s"
        if isinstance(reason, socket.gaierror):
            return "host not found"
        if isinstance(reason, ConnectionResetError):
            return "connection reset"
        if isinstance(reason, OSError) and reason.strerror:
            return f"could not reach the shop: {reason.strerror.lower()}"
        return f"could not reach the shop: {reason}"

    def _retry_later(self, order: SandboxOrder) -> None:
        def retry() -> None:
            for _ in range(self.retries):
                if self.stopping.wait(self.retry_interval) or order.acknowledged:
                    return
                self.send_notify(order, "retry")

        threading.Thread(target=retry, name=f"sandbox-retry-{order.order_id}", daemon=True).start()

    def _return_url(self, order: SandboxOrder) -> str:
        fields = {
            "price": order.price,
            "type": order.type,
            "product_id": "",  # the create API has no product: the sandbox sends it empty
            "order_id": str(order.order_id),
            "out_order_id": order.out_order_id,
        }
        fields["sign"] = return_sign(fields, self.appkey, self.appsecret)
        return _with_query(self.return_url, fields)

    # -- the buyer's pages -------------------------------------------------------------

    def on_pay_page(self, request: Request, order_id: int) -> Response:
        order = self._order(order_id)
        if order.status == PAID and order.acknowledged:
            return redirect(self._return_url(order), 303)
        amount = f"{order.realprice} yuan ({order.type})"
        if order.status == PAID:
            tries = len(order.attempts)
            return _page(
                "Paid: waiting for the shop",
                f"<p>You paid {amount}. The shop has not confirmed yet (notify {tries} of "
                f"{self.retries + 1}); this page follows it.</p>",
                refresh=2,
            )
        if order.status == CLOSED:
            return _page("Order closed", "<p>This order timed out unpaid.</p>")
        if request.args.get("unwatched"):
            return _page(
                "Payment not detected",
                "<p id=unwatched>No session is watching this account: the gateway did not "
                "see the payment, so no notify goes to the shop (the merchant can still "
                "confirm it by hand in the console).</p>"
                f"<form method=post action='/pay/{order_id}/timeout'><button id=timeout>"
                "Let it time out</button></form>",
            )
        return _page(
            f"Pay {amount}",
            f"<p>Order <code>{html.escape(order.out_order_id)}</code> at the shop, gateway order "
            f"{order.order_id}.</p>"
            f"<form method=post action='/pay/{order_id}/pay'><button id=pay>Pay {amount}"
            "</button></form><p></p>"
            f"<form method=post action='/pay/{order_id}/timeout'><button id=timeout>"
            "Let it time out</button></form>",
        )

    def on_pay(self, request: Request, order_id: int) -> Response:
        order = self._order(order_id)
        if not self.sessions.online_for(order.type):  # the account dropped off meanwhile
            return redirect(f"/pay/{order_id}?unwatched=1", 303)
        with self.lock:
            if order.status != OPEN:
                return redirect(f"/pay/{order_id}", 303)
            order.status, order.paytime = PAID, int(time.time())
        if self.send_notify(order, "auto").acknowledged:
            return redirect(self._return_url(order), 303)
        self._retry_later(order)
        return redirect(f"/pay/{order_id}", 303)

    def on_time_out(self, request: Request, order_id: int) -> Response:
        order = self._order(order_id)
        with self.lock:
            if order.status == OPEN:
                order.status = CLOSED
        if not self.timeout_url:
            return redirect(f"/pay/{order_id}", 303)
        fields = {"out_order_id": order.out_order_id, "order_id": str(order.order_id)}
        return redirect(_with_query(self.timeout_url, fields), 303)

    # -- the merchant's console --------------------------------------------------------

    def on_console(self, request: Request) -> Response:
        with self.lock:
            orders = sorted(self.orders.values(), key=lambda o: o.order_id, reverse=True)
        rows = "".join(self._console_row(order) for order in orders)
        table = (
            "<table><tr><th>order</th><th>shop's id</th><th>amount</th><th>status</th>"
            f"<th>notifies</th><th></th></tr>{rows}</table>"
            if rows
            else "<p>No orders yet.</p>"
        )
        return _page(
            "Console",
            f"<p>Merchant appkey <code>{html.escape(self.appkey)}</code>; notify URL "
            f"<code>{html.escape(self.notify_url)}</code>.</p>"
            f"{self.console_extra(request.args.get('message', ''))}"
            f"<h2>Orders</h2>{table}",
        )

    def console_extra(self, message: str = "") -> str:
        """The sessions section: accounts online or offline, points, scan and drop."""
        sessions = self.sessions
        rows = "".join(
            f"<tr id=session-{s.session_id}><td>{s.type}</td><td>{html.escape(s.label)}</td>"
            f"<td class=state>{'online' if s.online else 'offline'}</td>"
            f"<td>{time.strftime('%H:%M:%S', time.localtime(s.since))}</td><td>"
            + (
                f"<form method=post action='/console/sessions/{s.session_id}/offline'>"
                f"<button id=offline-{s.session_id}>Take offline</button></form>"
                if s.online
                else f"<form method=post action='/console/sessions/scan'>"
                f"<input type=hidden name=session_id value={s.session_id}>"
                f"<button id=revive-{s.session_id}>Scan to go online</button></form>"
            )
            + "</td></tr>"
            for s in sessions.sessions.values()
        )
        choice = "".join(f"<option>{t}</option>" for t in PAY_TYPES)
        notice = f"<p id=notice><b>{html.escape(message)}</b></p>" if message else ""
        return (
            f"<h2>Sessions</h2>{notice}<p>Points: <b id=points>{sessions.points}</b> "
            f"(100 points = 1 yuan; a scan costs {sessions.scan_fee})</p>"
            "<table><tr><th>type</th><th>account</th><th>state</th><th>since</th><th></th></tr>"
            f"{rows}</table><form method=post action='/console/sessions/scan'>"
            f"<select name=type>{choice}</select> <input name=label placeholder='account label'>"
            " <button id=scan>Scan to go online</button></form>"
        )

    def _console_row(self, order: SandboxOrder) -> str:
        attempts = "<br>".join(
            f"{time.strftime('%H:%M:%S', time.localtime(a.at))} {a.kind}: "
            + (
                f"answered {a.status} <code>{html.escape(a.body)}</code>"
                if a.error is None
                else html.escape(a.error)
            )
            for a in order.attempts
        )
        button = (
            f"<form method=post action='/console/{order.order_id}/resend'>"
            f"<button id=resend-{order.order_id}>I have received this payment</button></form>"
        )
        return (
            f"<tr id=order-{order.order_id}><td>{order.order_id}</td>"
            f"<td>{html.escape(order.out_order_id)}</td>"
            f"<td>{order.price} (paid {order.realprice}) {order.type}</td>"
            f"<td class=status>{order.status}</td><td>{attempts or '-'}</td><td>{button}</td></tr>"
        )

    def on_resend(self, request: Request, order_id: int) -> Response:
        order = self._order(order_id)
        with self.lock:
            if order.status != PAID:  # received by hand, also after a timeout
                order.status, order.paytime = PAID, int(time.time())
        self.send_notify(order, "manual")
        return redirect("/console", 303)

    def on_scan(self, request: Request) -> Response:
        form = request.form
        session_id = int(form["session_id"]) if form.get("session_id", "").isdigit() else None
        try:
            self.sessions.scan(form.get("type", ""), form.get("label", ""), session_id)
        except ScanRefused as refused:
            return redirect("/console?" + urlencode({"message": str(refused)}), 303)
        return redirect("/console", 303)

    def on_offline(self, request: Request, session_id: int) -> Response:
        self.sessions.take_offline(session_id)
        return redirect("/console", 303)

    def on_order_json(self, request: Request, order_id: int) -> Response:
        order = self._order(order_id)
        data = {
            "order_id": order.order_id,
            "out_order_id": order.out_order_id,
            "status": order.status,
            "acknowledged": order.acknowledged,
            "attempts": [
                {"kind": a.kind, "status": a.status, "body": a.body, "error": a.error}
                for a in order.attempts
            ],
        }
        return Response(json.dumps(data), content_type="application/json")

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

import base64
import html
import itertools
import json
import logging
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

from .client import PAY_TYPES, check_http_url
from .gateway_codes import SUCCESS, SUCCESS_MESSAGE
from .sandbox_create import CreateRules, Refused, check_create, read_create_price, settings_form
from .sandbox_sessions import ScanRefused, Sessions
from .signing import notify_sign, return_sign

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

logger = logging.getLogger("gatepay_wsgi.sandbox")

OPEN, PAID, CLOSED = "open", "paid", "closed"


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
    product_id: str = ""  # stablepay's product: the return visit carries it
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


def qr_data_uri(text: str) -> str:
    """``qr_data_uri(pay_url)`` -> ``"data:image/png;base64,..."``, a QR code of ``text``.

    Drawn by segno (``pip install "gatepay_wsgi[sandbox]"``); without it, ``""``: the
    answer keeps its shape and the pay page works, only the picture is missing.
    """
    try:
        import segno
    except ImportError:
        return ""
    uri: str = segno.make(text, error="m").png_data_uri(scale=4)
    return uri


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
        quick_pay_token: str = "sandbox-token",  # noqa: S107  # the console shows it
    ) -> None:
        if not appkey or not appsecret:
            raise ValueError("the sandbox needs the merchant's appkey and appsecret")
        self.appkey, self.appsecret = appkey, appsecret
        # Empty URLs are allowed: the create API then answers 109 or 108, as the gateway
        # does for a console without them.
        self.notify_url = check_http_url(notify_url, "notify_url") if notify_url else ""
        self.return_url, self.timeout_url = return_url, timeout_url
        self.rules = CreateRules(appkey, appsecret)
        self.quick_pay_token = quick_pay_token
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
                Rule(
                    "/api/<any(anypay, grouppay, stablepay):api>/create",
                    endpoint="create",
                    methods=["POST"],
                ),
                Rule("/pay/any", endpoint="quick_pay", methods=["GET", "POST"]),
                Rule("/pay/<int:order_id>", endpoint="pay_page", methods=["GET"]),
                Rule("/qrcode/<int:order_id>.png", endpoint="qrcode", methods=["GET"]),
                Rule("/console/settings", endpoint="settings", methods=["POST"]),
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

    def _json(self, code: int, msg: str, data: dict[str, Any] | None = None) -> Response:
        """The gateway's answer envelope: code, msg, time (unix seconds as a string), data."""
        answer: dict[str, Any] = {"code": code, "msg": msg, "time": str(int(time.time()))}
        if data is not None:
            answer["data"] = data
        body = json.dumps(answer, ensure_ascii=False)
        return Response(body, content_type="application/json; charset=utf-8")

    def on_create(self, request: Request, api: str) -> Response:
        """``POST /api/{anypay,grouppay,stablepay}/create``: code 100 and the pay links, or
        the gateway's refusal code for the condition its page names."""
        form = {name: request.form.get(name, "") for name in request.form}
        self.rules.return_url_set, self.rules.notify_url_set = (
            bool(self.return_url),
            bool(self.notify_url),
        )
        try:
            price, product_id = check_create(
                api, form, self.rules, self.sessions.online_for(form.get("type", ""))
            )
            order = self._open_order(price, form, product_id)
        except Refused as refused:
            logger.info("create (%s) refused: %s", api, refused)
            return self._json(refused.code, refused.msg)
        except Exception:  # the gateway's "unknown error", never a traceback to the shop
            logger.exception("create (%s) failed", api)
            return self._json(199, "未知错误")
        pay_url = f"{request.host_url}pay/{order.order_id}"
        data = {
            "pay_url": pay_url,
            "api_url": pay_url + "?format=json",
            "qrcode_url": f"{request.host_url}qrcode/{order.order_id}.png",
            "qrcode_body": qr_data_uri(pay_url),
            "params": form,
        }
        return self._json(SUCCESS, SUCCESS_MESSAGE, data)

    def _open_order(
        self, price: Decimal, fields: dict[str, str], product_id: str = ""
    ) -> SandboxOrder:
        with self.lock:
            for order in self.orders.values():  # a shop's retry of the same create
                if (
                    order.out_order_id == fields["out_order_id"]
                    and order.status == OPEN
                    and Decimal(order.price) == price
                    and order.type == fields["type"]
                ):
                    return order
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
                custom=fields.get("custom", ""),
                created_at=time.time(),
                product_id=product_id,
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
            "product_id": order.product_id,  # stablepay's product; empty for any amount
            "order_id": str(order.order_id),
            "out_order_id": order.out_order_id,
        }
        fields["sign"] = return_sign(fields, self.appkey, self.appsecret)
        return _with_query(self.return_url, fields)

    # -- the buyer's pages -------------------------------------------------------------

    def on_pay_page(self, request: Request, order_id: int) -> Response:
        order = self._order(order_id)
        if request.args.get("format") == "json":  # the api_url: a shop draws its own page
            pay_url = f"{request.host_url}pay/{order.order_id}"
            return self._json(
                SUCCESS,
                SUCCESS_MESSAGE,
                {
                    "order_id": order.order_id,
                    "out_order_id": order.out_order_id,
                    "price": order.price,
                    "realprice": order.realprice,
                    "type": order.type,
                    "status": order.status,
                    "pay_url": pay_url,
                    "qrcode_body": qr_data_uri(pay_url),
                },
            )
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

    def on_qrcode(self, request: Request, order_id: int) -> Response:
        """The pay link's QR code as a PNG (``qrcode_url``)."""
        self._order(order_id)
        uri = qr_data_uri(f"{request.host_url}pay/{order_id}")
        if not uri:
            raise NotFound('no QR codes without segno: pip install "gatepay_wsgi[sandbox]"')
        png = base64.b64decode(uri.partition(",")[2])
        return Response(png, content_type="image/png")

    def on_quick_pay(self, request: Request) -> Response:
        """``GET /pay/any?appkey=...&token=...&price=...&custom=...&skin=0&stable=1``: the
        unsigned quick-pay link. ``stable=1`` with a price opens that order at once; else
        the buyer types the amount (prefilled with ``price``)."""
        fields = request.values
        if fields.get("appkey") != self.appkey or fields.get("token") != self.quick_pay_token:
            return _page("Link not valid", "<p>This payment link is not valid.</p>")
        pay_type = fields.get("type") or "alipay"
        price = read_create_price(fields.get("price", ""))
        fixed = fields.get("stable") == "1" and price is not None
        if (request.method == "POST" or fixed) and price is not None and price > 0:
            if pay_type not in PAY_TYPES or not self.sessions.online_for(pay_type):
                return _page("Not available", "<p>No account can take this payment now.</p>")
            order = self._open_order(
                price,
                {
                    "out_order_id": self._quick_id(),
                    "type": pay_type,
                    "custom": fields.get("custom", ""),
                },
            )
            return redirect(f"/pay/{order.order_id}", 303)
        choice = "".join(f"<option>{t}</option>" for t in PAY_TYPES)
        keep = "".join(
            f"<input type=hidden name={name} value='{html.escape(fields.get(name, ''))}'>"
            for name in ("appkey", "token", "custom", "skin")
        )
        return _page(
            "Pay the shop",
            f"<form method=post action='/pay/any'>{keep}<label>Amount (yuan) <input name=price "
            f"inputmode=decimal value='{html.escape(fields.get('price', ''))}'></label> "
            f"<select name=type>{choice}</select> <button id=quick-pay>Continue</button></form>",
        )

    def _quick_id(self) -> str:
        """A quick-pay order's out_order_id: the gateway makes it, there being no shop order."""
        return f"QUICK{next(self._ids)}"

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
            f"<h2>Orders</h2>{table}{self.settings_section()}",
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

    def on_settings(self, request: Request) -> Response:
        """The console's settings: URLs, the API switch, pay types, the plan's quota, stock."""
        form = request.form
        self.notify_url = (
            check_http_url(form["notify_url"], "notify URL") if form.get("notify_url") else ""
        )
        self.return_url = form.get("return_url", "")
        rules = self.rules
        with rules.lock:
            rules.api_open = form.get("api_open") == "on"
            rules.closed_types = {t for t in PAY_TYPES if form.get(f"type_{t}") != "on"}
            quota = form.get("quota", "").strip()
            rules.quota = int(quota) if quota.isdigit() else None
            for product in rules.products.values():
                stock = form.get(f"stock_{product.product_id}", "").strip()
                product.stock = int(stock) if stock.isdigit() else None
        return redirect("/console?" + urlencode({"message": "settings saved"}), 303)

    def settings_section(self) -> str:
        """The console's settings form: each switch is a code of the create API."""
        quick = f"/pay/any?{urlencode({'appkey': self.appkey, 'token': self.quick_pay_token})}"
        return settings_form(self.rules, self.notify_url, self.return_url, quick)

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

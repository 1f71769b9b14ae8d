"""The sandbox gateway as a WSGI app: ``Sandbox(appkey=..., notify_url=..., return_url=...)``.

Routes only: each ``on_*`` method reads the request, asks the order book, the notifier,
the sessions or the create rules, and answers with the HTML of ``pay_page.py`` and
``merchant_console.py`` or the gateway's JSON envelope.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from markupsafe import Markup
from werkzeug.exceptions import HTTPException, NotFound
from werkzeug.routing import Map, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from .. import languages
from ..client import PAY_TYPES
from ..errors import ConfigError
from ..gateway_codes import SUCCESS, SUCCESS_MESSAGE
from ..outbound import check_http_url, with_query
from ..signing import return_sign
from . import layout, merchant_console, pay_page
from .cloud_sessions import CloudSessions, ScanRefused
from .create import CreateRefused, CreateRules, check_create, read_create_price
from .notifier import Notifier
from .orders import CLOSED, OPEN, PAID, Attempt, AttemptKind, OrderBook, SandboxOrder
from .texts import COOKIE, notice

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

logger = logging.getLogger("gatepay_wsgi.sandbox")


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


def page_language(request: Request) -> str:
    """``"zh"`` or ``"en"`` for this page (``languages.page_language``)."""
    return languages.page_language(request.environ, COOKIE)


def _json(code: int, msg: str, data: dict[str, Any] | None = None) -> Response:
    """The gateway's answer envelope: code, msg, time (unix seconds as a string), data."""
    answer: dict[str, Any] = {"code": code, "msg": msg, "time": str(int(time.time()))}
    if data is not None:
        answer["data"] = data
    body = json.dumps(answer, ensure_ascii=False)
    return Response(body, content_type="application/json; charset=utf-8")


_ROUTES = Map(
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


class Sandbox:
    """The sandbox gateway, a WSGI app; ``close()`` stops its retry threads.

    :param appkey: the merchant's appkey, as the shop is configured with it.
    :param appsecret: the merchant's appsecret (signs notifies and returns).
    :param notify_url: where notifies are POSTed (empty: the create API answers 109).
    :param return_url: where a paid buyer is sent, signed (empty: 108).
    :param timeout_url: where a buyer who let the order time out is sent.
    :param retry_interval: seconds between a notify's retries (60 at the gateway).
    :param retries: retries after the first notify, if the shop does not say ``success``.
    :param notify_timeout: seconds a notify waits for the shop's answer.
    :param sessions: the accounts online (``CloudSessions()``: alipay and wechat, online).
    :param quick_pay_token: the token of the quick-pay link (the console shows it).
    """

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
        sessions: CloudSessions | None = None,
        quick_pay_token: str = "sandbox-token",  # noqa: S107  # the console shows it
    ) -> None:
        if not appkey or not appsecret:
            raise ConfigError("the sandbox needs the merchant's appkey and appsecret")
        self.appkey, self.appsecret = appkey, appsecret
        # Empty URLs are allowed: the create API then answers 109 or 108, as the gateway
        # does for a console without them.
        self.return_url, self.timeout_url = return_url, timeout_url
        self.rules = CreateRules(appkey, appsecret)
        self.quick_pay_token = quick_pay_token
        self.sessions = CloudSessions() if sessions is None else sessions
        self.book = OrderBook()
        self.notifier = Notifier(
            appkey=appkey,
            appsecret=appsecret,
            notify_url=check_http_url(notify_url, "notify_url") if notify_url else "",
            lock=self.book.lock,
            retry_interval=retry_interval,
            retries=retries,
            notify_timeout=notify_timeout,
        )

    @property
    def notify_url(self) -> str:
        """Where notifies go; the console's settings may change it."""
        return self.notifier.notify_url

    @notify_url.setter
    def notify_url(self, url: str) -> None:
        self.notifier.notify_url = check_http_url(url, "notify_url") if url else ""

    @property
    def orders(self) -> dict[int, SandboxOrder]:
        """Every order, by gateway order id (read them under ``book.lock``)."""
        return self.book.orders

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        try:
            endpoint, args = _ROUTES.bind_to_environ(environ).match()
            response: Any = getattr(self, "on_" + endpoint)(request, **args)
        except HTTPException as error:
            response = error
        if isinstance(response, Response):  # a ?lang= choice is kept from now on
            languages.remember_language(response, environ, COOKIE)
        result: Iterable[bytes] = response(environ, start_response)
        return result

    def close(self) -> None:
        self.notifier.stop()

    def _order(self, order_id: int) -> SandboxOrder:
        order = self.book.get(order_id)
        if order is None:
            raise NotFound(f"no order {order_id}")
        return order

    def _page(
        self, request: Request, title: str, body: Markup, refresh: int | None = None
    ) -> Response:
        """A whole page in the request's language, with the switch to the other one."""
        lang = page_language(request)
        switch = layout.language_switch(
            lang, request.script_root + request.path, request.args.items(multi=True)
        )
        return layout.page(title, body, lang, switch, refresh)

    # -- the order-creation API --------------------------------------------------------

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
            order = self.book.open(price, form, product_id)
        except CreateRefused as refused:
            logger.info("create (%s) refused: %s", api, refused)
            return _json(refused.code, refused.message)
        except Exception:  # the gateway's "unknown error", never a traceback to the shop
            logger.exception("create (%s) failed", api)
            return _json(199, "未知错误")
        pay_url = f"{request.host_url}pay/{order.order_id}"
        data = {
            "pay_url": pay_url,
            "api_url": pay_url + "?format=json",
            "qrcode_url": f"{request.host_url}qrcode/{order.order_id}.png",
            "qrcode_body": qr_data_uri(pay_url),
            "params": form,
        }
        return _json(SUCCESS, SUCCESS_MESSAGE, data)

    # -- notifies and returns ----------------------------------------------------------

    def notify_fields(self, order: SandboxOrder) -> dict[str, str]:
        """The signed notify the gateway sends for a paid order."""
        return self.notifier.fields(order)

    def send_notify(self, order: SandboxOrder, kind: str) -> Attempt:
        """POST the notify to the merchant and record what it answered (``kind``: why,
        one of ``AttemptKind``'s values)."""
        return self.notifier.post(order, AttemptKind(kind))

    def _return_url(self, order: SandboxOrder) -> str:
        fields = {
            "price": order.price,
            "type": order.type,
            "product_id": order.product_id,  # stablepay's product; empty for any amount
            "order_id": str(order.order_id),
            "out_order_id": order.out_order_id,
        }
        fields["sign"] = return_sign(fields, self.appkey, self.appsecret)
        return with_query(self.return_url, fields)

    # -- the buyer's pages -------------------------------------------------------------

    def on_pay_page(self, request: Request, order_id: int) -> Response:
        order = self._order(order_id)
        if request.args.get("format") == "json":  # the api_url: a shop draws its own page
            pay_url = f"{request.host_url}pay/{order.order_id}"
            return _json(
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
        lang = page_language(request)
        amount = layout.amount(lang, order.realprice, order.type)
        if order.status == PAID:
            tries, of = len(order.attempts), self.notifier.retries + 1
            body = pay_page.waiting_body(lang, amount, tries, of)
            return self._page(request, layout.title(lang, "title_waiting"), body, refresh=2)
        if order.status == CLOSED:
            return self._page(
                request, layout.title(lang, "title_closed"), pay_page.closed_body(lang)
            )
        if request.args.get("unwatched"):
            body = pay_page.unwatched_body(lang, order_id)
            return self._page(request, layout.title(lang, "title_unwatched"), body)
        title = layout.title(lang, "title_pay", amount=amount)
        return self._page(request, title, pay_page.pay_body(lang, order, amount))

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
        lang = page_language(request)
        if fields.get("appkey") != self.appkey or fields.get("token") != self.quick_pay_token:
            title = layout.title(lang, "title_link_not_valid")
            return self._page(request, title, layout.message_body(lang, "link_not_valid"))
        pay_type = fields.get("type") or "alipay"
        price = read_create_price(fields.get("price", ""))
        fixed = fields.get("stable") == "1" and price is not None
        if (request.method == "POST" or fixed) and price is not None and price > 0:
            if pay_type not in PAY_TYPES or not self.sessions.online_for(pay_type):
                title = layout.title(lang, "title_not_available")
                return self._page(request, title, layout.message_body(lang, "not_available"))
            order = self.book.open(
                price,
                {
                    "out_order_id": self.book.quick_id(),
                    "type": pay_type,
                    "custom": fields.get("custom", ""),
                },
            )
            return redirect(f"/pay/{order.order_id}", 303)
        title = layout.title(lang, "title_quick_pay")
        return self._page(request, title, pay_page.quick_pay_body(lang, fields.to_dict()))

    def on_pay(self, request: Request, order_id: int) -> Response:
        order = self._order(order_id)
        if not self.sessions.online_for(order.type):  # the account dropped off meanwhile
            return redirect(f"/pay/{order_id}?unwatched=1", 303)
        with self.book.lock:
            if order.status != OPEN:
                return redirect(f"/pay/{order_id}", 303)
            order.status, order.paytime = PAID, int(time.time())
        if self.notifier.post(order, AttemptKind.AUTO).acknowledged:
            return redirect(self._return_url(order), 303)
        self.notifier.retry_later(order)
        return redirect(f"/pay/{order_id}", 303)

    def on_time_out(self, request: Request, order_id: int) -> Response:
        order = self._order(order_id)
        with self.book.lock:
            if order.status == OPEN:
                order.status = CLOSED
        if not self.timeout_url:
            return redirect(f"/pay/{order_id}", 303)
        fields = {"out_order_id": order.out_order_id, "order_id": str(order.order_id)}
        return redirect(with_query(self.timeout_url, fields), 303)

    # -- the merchant's console --------------------------------------------------------

    def on_console(self, request: Request) -> Response:
        lang = page_language(request)
        message = notice(request.args.get("message", ""), lang)
        sessions = merchant_console.sessions_section(lang, self.sessions, message)
        quick = merchant_console.quick_pay_link(self.appkey, self.quick_pay_token)
        settings = merchant_console.settings_form(
            lang, self.rules, self.notify_url, self.return_url, quick
        )
        body = merchant_console.console_body(
            lang, self.appkey, self.notify_url, self.book.newest_first(), sessions, settings
        )
        return self._page(request, layout.title(lang, "title_console"), body)

    def on_settings(self, request: Request) -> Response:
        """The console's settings: URLs, the API switch, pay types, the plan's quota, stock."""
        form = request.form
        self.notifier.notify_url = (
            check_http_url(form["notify_url"], "notify URL") if form.get("notify_url") else ""
        )  # not the setter: its error names the console's field
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

    def on_resend(self, request: Request, order_id: int) -> Response:
        order = self._order(order_id)
        with self.book.lock:
            if order.status != PAID:  # received by hand, also after a timeout
                order.status, order.paytime = PAID, int(time.time())
        self.notifier.post(order, AttemptKind.MANUAL)
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

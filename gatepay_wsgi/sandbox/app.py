"""The sandbox gateway as a WSGI app: ``Sandbox(appkey=..., notify_url=..., return_url=...)``.

Routing only: each URL names its route, ``route(sandbox, request, **url_args)``, in
``gateway_api.py`` (the JSON API and QR codes), ``buyer_routes.py`` (the pay page and
quick pay) or ``console_routes.py`` (the merchant's console); the state they share is
``state.py``'s.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.wrappers import Request, Response

from .. import languages
from . import buyer_routes, console_routes, gateway_api
from .state import SandboxState
from .texts import COOKIE

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

_ROUTES = Map(
    [
        Rule("/", endpoint=console_routes.console),
        Rule(
            "/api/<any(anypay, grouppay, stablepay, cloudpay):api>/create",
            endpoint=gateway_api.create,
            methods=["POST"],
        ),
        Rule("/api/order/check", endpoint=gateway_api.check, methods=["GET"]),
        Rule("/pay/any", endpoint=buyer_routes.quick_pay, methods=["GET", "POST"]),
        Rule("/pay/<int:order_id>", endpoint=buyer_routes.show_pay_page, methods=["GET"]),
        Rule("/qrcode/<int:order_id>.png", endpoint=gateway_api.qrcode, methods=["GET"]),
        Rule("/console/settings", endpoint=console_routes.settings, methods=["POST"]),
        Rule("/pay/<int:order_id>/pay", endpoint=buyer_routes.pay, methods=["POST"]),
        Rule("/pay/<int:order_id>/timeout", endpoint=buyer_routes.time_out, methods=["POST"]),
        Rule("/console", endpoint=console_routes.console),
        Rule("/console/<int:order_id>/resend", endpoint=console_routes.resend, methods=["POST"]),
        Rule("/console/sessions/scan", endpoint=console_routes.scan, methods=["POST"]),
        Rule(
            "/console/sessions/<int:session_id>/offline",
            endpoint=console_routes.offline,
            methods=["POST"],
        ),
        Rule("/api/orders/<int:order_id>", endpoint=gateway_api.order_json),
    ]
)


class Sandbox(SandboxState):
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

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        try:
            route, args = _ROUTES.bind_to_environ(environ).match()
            response: Any = route(self, request, **args)
        except HTTPException as error:
            response = error
        if isinstance(response, Response):  # a ?lang= choice is kept from now on
            languages.remember_language(response, environ, COOKIE)
        result: Iterable[bytes] = response(environ, start_response)
        return result

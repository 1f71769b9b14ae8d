"""The demo shop: ``make_shop(...)``, a small werkzeug app behind ``GatePayMiddleware``.

Buy a product, pay on the gateway's page (the sandbox's, in the demo), come back to a
return page that shows the order's real state; the notify marks it paid exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from ..client import GatePayClient
from ..endpoints import Return, Timeout
from ..middleware import GatePayMiddleware
from ..notify import Notify
from .store import Orders, checkout, closed_page, home_page, order_page, thank_you_page

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

_ROUTES = Map(
    [
        Rule("/", endpoint="home", methods=["GET"]),
        Rule("/orders", endpoint="buy", methods=["POST"]),
        Rule("/orders/<out_order_id>", endpoint="order", methods=["GET"]),
    ]
)


def _html(text: str, status: int = 200) -> Response:
    return Response(text, status=status, content_type="text/html; charset=utf-8")


def make_shop(
    *,
    database: str,
    inbox: str,
    appkey: str,
    appsecret: str,
    gateway_url: str | None = None,
    name: str = "Demo shop",
) -> WSGIApplication:
    """The shop's WSGI app, its callbacks verified by the middleware."""
    orders = Orders(database)
    gateway = GatePayClient(gateway_url, appkey, appsecret) if gateway_url else None

    def shop(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        try:
            endpoint, args = _ROUTES.bind_to_environ(environ).match()
        except HTTPException as error:
            return error(environ, start_response)
        if endpoint == "home":
            response = _html(home_page(name, orders.recent()))
        elif endpoint == "buy":
            form = request.form
            location, error_page = checkout(
                orders, form.get("product", ""), form.get("type", "alipay"), gateway
            )
            response = _html(error_page, 400) if error_page else redirect(location or "/", 303)
        else:
            response = _html(order_page(orders.get(args["out_order_id"])))
        return response(environ, start_response)

    return GatePayMiddleware(
        shop,
        appkey=appkey,
        appsecret=appsecret,
        inbox=inbox,
        paths={
            "/gatepay/notify": Notify(orders.mark_paid),
            "/gatepay/return": Return(lambda v: thank_you_page(orders.get(v.out_order_id))),
            "/gatepay/timeout": Timeout(lambda v: closed_page(orders.get(v.out_order_id or ""))),
        },
    )

"""The demo shop: ``make_shop(...)``, a small werkzeug app behind ``GatePayMiddleware``.

Buy a product, pay on the gateway's page (the sandbox's, in the demo), come back to a
return page that shows the order's real state; the notify marks it paid exactly once.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from ..callbacks import ReturnVisit, TimeoutVisit
from ..client import GatePayClient
from ..console import Console
from ..endpoints import Return, Timeout
from ..inbox import open_inbox
from ..languages import page_language
from ..languages import remember_language as kept_language
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


_LANG_COOKIE = "demo_shop_lang"
#: Where the demo serves the inbox's console.
CONSOLE_PATH = "/gatepay/console"


def _html(text: str, status: int = 200) -> Response:
    return Response(text, status=status, content_type="text/html; charset=utf-8")


def make_shop(
    *,
    database: str,
    inbox: str,
    appkey: str,
    appsecret: str,
    gateway_url: str | None = None,
    console_users: Mapping[str, str] | None = None,
    console_secret: str = "",
) -> WSGIApplication:
    """The shop's WSGI app, its callbacks verified by the middleware; with
    ``console_users``, the inbox's console at ``/gatepay/console``."""
    orders = Orders(database)
    gateway = GatePayClient(gateway_url, appkey, appsecret) if gateway_url else None

    def shop(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        try:
            endpoint, args = _ROUTES.bind_to_environ(environ).match()
        except HTTPException as error:
            return error(environ, start_response)
        lang, here = language(environ), this_page(environ)
        if endpoint == "home":
            response = _html(home_page(orders.recent(), lang, here))
        elif endpoint == "buy":
            form = request.form
            location, error_page = checkout(
                orders, form.get("product", ""), form.get("type", "alipay"), gateway, lang
            )
            response = _html(error_page, 400) if error_page else redirect(location or "/", 303)
        else:
            response = _html(order_page(orders.get(args["out_order_id"]), lang, here))
        return remember_language(response, environ)(environ, start_response)

    def returned(visit: ReturnVisit) -> WSGIApplication:
        lang, here = language(visit.environ), this_page(visit.environ)
        page = _html(thank_you_page(orders.get(visit.out_order_id), lang, here))
        return remember_language(page, visit.environ)

    def closed(visit: TimeoutVisit) -> WSGIApplication:
        lang, here = language(visit.environ), this_page(visit.environ)
        page = _html(closed_page(orders.get(visit.out_order_id or ""), lang, here))
        return remember_language(page, visit.environ)

    opened = open_inbox(inbox)
    mounts = {}
    if console_users:
        mounts[CONSOLE_PATH] = Console(
            opened, users=console_users, secret_key=console_secret, handler=orders.mark_paid
        )
    return GatePayMiddleware(
        shop,
        appkey=appkey,
        appsecret=appsecret,
        inbox=opened,
        mounts=mounts,
        paths={
            "/gatepay/notify": Notify(orders.mark_paid),
            "/gatepay/return": Return(returned),
            "/gatepay/timeout": Timeout(closed),
        },
    )


def language(environ: Mapping[str, Any]) -> str:
    """The page's language: ``?lang=zh|en``, then the shop's cookie, then the browser's."""
    return page_language(environ, _LANG_COOKIE)


def this_page(environ: Mapping[str, Any]) -> str:
    """The path and query of this request, as the language switch links to it."""
    query = str(environ.get("QUERY_STRING", ""))
    return str(environ.get("PATH_INFO", "/")) + (f"?{query}" if query else "")


def remember_language(response: Response, environ: Mapping[str, Any]) -> Response:
    """Keep a ``?lang=`` choice in a cookie, so the gateway's redirects back keep it."""
    kept_language(response, environ, _LANG_COOKIE)
    return response

"""Bottle: ``app.install(GatePayPlugin())``, configured from ``app.config`` or arguments::

    app.config.update({
        "gatepay.appkey": ..., "gatepay.appsecret": ...,
        "gatepay.inbox": "sqlite:///gatepay.sqlite3",
        "gatepay.notify": "/gatepay/notify shop.payments:mark_paid",
    })
    app.install(GatePayPlugin())

    # or, in code:
    app.install(GatePayPlugin(appkey=..., appsecret=..., paths={"/gatepay/notify": Notify(f)}))

The plugin adds one Bottle route per callback path (and per console or metrics prefix),
so ``parent.mount("/shop/", app)`` and ``parent.merge(app)`` carry the callbacks like any
other route (install it before mounting). Each route hands the request's environ to the
endpoint, a WSGI app, which reads the notify body itself (Bottle never parses it), with
the mount prefix moved into ``SCRIPT_NAME`` so that ``visit.url("/orders/1")`` stays
inside the mount. Page handlers run inside Bottle's request: they may call
``bottle.redirect()`` or ``bottle.abort()``, return or raise a ``bottle.HTTPResponse``,
and set cookies on ``bottle.response``. Uninstalling the plugin removes its routes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any

import bottle

from ..config import middleware_options
from ..endpoints import Return, Timeout
from ..errors import ConfigError
from ..middleware import RoutingTable

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

_PREFIX = "gatepay."


class GatePayPlugin:
    """A Bottle plugin that answers GatePay callbacks on routes of their own."""

    name = "gatepay"
    api = 2

    def __init__(self, **options: Any) -> None:
        """``GatePayPlugin(**GatePayMiddleware arguments)``; none: read ``app.config``."""
        self.options = options
        self.app: bottle.Bottle | None = None
        self.routes: list[bottle.Route] = []

    def setup(self, app: bottle.Bottle) -> None:
        """Called by ``app.install``: read the settings, add one route per path."""
        if self.app is not None:
            raise RuntimeError("this GatePayPlugin is installed already: make one per app")
        table = RoutingTable(**self._options(app))
        for endpoint in table.routes.values():
            if isinstance(endpoint, (Return, Timeout)):  # bound copies: the user's stay
                endpoint.handler = _bottle_page(endpoint.handler)
                if endpoint.error_page is not None:
                    endpoint.error_page = _bottle_page(endpoint.error_page)
        # The callbacks match their path exactly; the console and the metrics every path
        # under their prefix, which moves into SCRIPT_NAME as in any WSGI mount.
        routes = [self._route(app, _rule(path), "", e) for path, e in table.routes.items()]
        for prefix, mounted in table.mounts.items():
            routes.append(self._route(app, _rule(prefix) + "<:re:(/.*)?>", prefix, mounted))
        for route in routes:  # only once every rule was accepted
            app.add_route(route)
        self.app, self.routes = app, routes

    def _options(self, app: bottle.Bottle) -> dict[str, Any]:
        in_config = sorted(k for k in app.config if k.startswith(_PREFIX))
        if not self.options:
            return middleware_options(app.config, prefix=_PREFIX)
        if in_config:
            raise ConfigError(
                f"GatePayPlugin(...) got arguments, so {', '.join(in_config)} in app.config "
                "would be ignored: configure the plugin one way"
            )
        return self.options

    def _route(
        self, app: bottle.Bottle, rule: str, prefix: str, answering: WSGIApplication
    ) -> bottle.Route:
        """The route of ``rule``: ``answering`` runs with ``SCRIPT_NAME`` extended by what
        ``parent.mount()`` put before ``rule``, then by ``prefix`` (a console's)."""

        def gatepay_route() -> Iterable[bytes]:
            if self.app is None:  # uninstalled, and this route was mounted elsewhere
                raise bottle.HTTPError(404, "Not found")
            environ = bottle.request.environ
            # parent.mount("/shop/", app) prefixed the rule: "/shop" is the mount.
            mount = route.rule[: len(route.rule) - len(rule)].encode().decode("latin-1")
            script_name, path_info = environ.get("SCRIPT_NAME", ""), environ["PATH_INFO"]
            raw: str = environ["bottle.raw_path"]  # PATH_INFO as the server sent it
            environ["SCRIPT_NAME"] = script_name + mount + prefix
            environ["PATH_INFO"] = raw[len(mount + prefix) :]
            try:
                return _run(answering, environ)
            finally:  # Bottle and a WSGI mount around the app see their own paths again
                environ["SCRIPT_NAME"], environ["PATH_INFO"] = script_name, path_info

        # PROXY: Bottle's method for a mounted WSGI app, matched before every verb and
        # before any wildcard route; skip: no other plugin wraps the callbacks.
        route = bottle.Route(app, rule, "PROXY", gatepay_route, skiplist=[True])
        return route

    def apply(self, callback: Any, route: Any) -> Any:
        return callback  # nothing for the app's own routes

    def close(self) -> None:
        """Called by ``app.uninstall``: the routes the plugin added are removed."""
        app, self.app = self.app, None
        if app is None:
            return
        app.routes[:] = [r for r in app.routes if r not in self.routes]
        # Bottle's router cannot drop a route, and app.router cannot be replaced: fill
        # the same router again from the routes left, keeping its options and filters.
        router = app.router
        filters = router.filters
        router.__init__(strict=router.strict_order)
        router.filters = filters
        for route in app.routes:
            router.add(route.rule, route.method, route, name=route.name)
        self.routes = []


def _rule(path: str) -> str:
    """The Bottle rule matching exactly ``path`` (PATH_INFO's latin-1 form)."""
    rule = path.encode("latin-1").decode("utf-8")  # Bottle routes the decoded path
    # Bottle would read them as wildcards, and warns about an escaped ":" all the same.
    if ":" in rule or "<" in rule:
        raise ConfigError(f"path {rule!r}: a Bottle route cannot match ':' or '<' literally")
    return rule


def _bottle_page(handler: Callable[..., Any]) -> Callable[..., Any]:
    """A page handler whose ``HTTPResponse``, returned or raised (``redirect()``,
    ``abort()``), becomes a page that raises it again where the endpoint writes its
    page: past the endpoint's guard around the handler, to Bottle, which writes it as it
    writes any route's (its headers and cookies, the app's error page for an ``HTTPError``)."""

    def page(*args: Any) -> Any:
        try:
            answer = handler(*args)
        except bottle.HTTPResponse as raised:
            answer = raised
        if not isinstance(answer, bottle.HTTPResponse):
            return answer

        def to_bottle(environ: WSGIEnvironment, start_response: StartResponse) -> Any:
            raise answer

        return to_bottle

    return page


def _run(app: WSGIApplication, environ: WSGIEnvironment) -> Iterable[bytes]:
    """Run a WSGI app in a Bottle route: its status and headers go on ``bottle.response``
    (beside the cookies a handler set there), its body back to Bottle, which reads the
    first chunk (an app may call ``start_response`` only then) before it starts the
    response, and closes the body.

    Bottle has a WSGI bridge of its own, but only inside ``app.mount``: that one moves as
    many path segments into ``SCRIPT_NAME`` as the child's prefix has, which is wrong once
    the child is itself mounted into another app, and it takes the status before a late
    ``start_response``.
    """
    response = bottle.response
    written: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        response.status = status  # nothing is sent yet: a later call replaces it
        seen = set()
        for name, value in headers:
            if not value.isascii():  # WSGI's latin-1 form; Bottle wants text, encodes it again
                value = value.encode("latin-1").decode("utf-8", "replace")
            key = name.lower()
            if key in seen:  # a repeated header (Set-Cookie, Link) is kept, not replaced
                response.add_header(name, value)
            else:  # replaces what the handler set on bottle.response under this name
                response.set_header(name, value)
                seen.add(key)
        return written.append

    body = app(environ, start_response)
    return _written_first(written, body) if written else body


def _written_first(written: list[bytes], body: Iterable[bytes]) -> Iterator[bytes]:
    """What an app gave ``write()``, then its body; closing this closes the body."""
    try:
        yield from written
        yield from body
    finally:
        close = getattr(body, "close", None)
        if close is not None:
            close()


__all__ = ["ConfigError", "GatePayPlugin"]

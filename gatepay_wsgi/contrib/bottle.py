"""Bottle: ``app.install(GatePayPlugin())``, configured from ``app.config`` or arguments::

    app.config.update({
        "gatepay.appkey": ..., "gatepay.appsecret": ...,
        "gatepay.inbox": "sqlite:///gatepay.sqlite3",
        "gatepay.notify": "/gatepay/notify shop.payments:mark_paid",
    })
    app.install(GatePayPlugin())

    # or, in code:
    app.install(GatePayPlugin(appkey=..., appsecret=..., paths={"/gatepay/notify": Notify(f)}))

The plugin adds one Bottle route per callback path, so ``parent.mount("/shop/", app)``
and ``parent.merge(app)`` carry the callbacks like any other route (install it before
mounting, as with any route). Each route hands the request's environ to the endpoint,
which reads the notify body itself (Bottle never parses it), with the mount prefix moved
into ``SCRIPT_NAME`` so that ``visit.url("/orders/1")`` stays inside the mount. Page
handlers run inside Bottle's request: they may call ``bottle.redirect()`` or
``bottle.abort()``, return or raise a ``bottle.HTTPResponse``, and set cookies on
``bottle.response``. Uninstalling the plugin removes its routes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

import bottle

from ..config import middleware_options
from ..endpoints import Endpoint, Return, Timeout
from ..errors import ConfigError
from ..middleware import RoutingTable
from ..pages import status_line

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

_PREFIX = "gatepay."
# Where a page's Bottle response waits for the route to hand it to Bottle.
_ANSWER = "gatepay.bottle.answer"


class _BottleAnswer:
    """A page handler's ``HTTPResponse``: the route returns it to Bottle, which writes it
    (redirects, headers, cookies, and the app's error pages for an ``HTTPError``)."""

    def __init__(self, response: bottle.HTTPResponse) -> None:
        self.response = response

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> list[bytes]:
        environ[_ANSWER] = self.response
        start_response(
            status_line(HTTPStatus.OK), []
        )  # replaced by the response itself, never written
        return []


def _bottle_page(handler: Callable[..., Any]) -> Callable[..., Any]:
    """A page handler whose ``HTTPResponse``, returned or raised, becomes a page."""

    def page(*args: Any) -> Any:
        try:
            answer = handler(*args)
        except bottle.HTTPResponse as raised:  # redirect(), abort()
            answer = raised
        return _BottleAnswer(answer) if isinstance(answer, bottle.HTTPResponse) else answer

    return page


def _rule(path: str) -> str:
    """The Bottle rule matching exactly ``path`` (PATH_INFO's latin-1 form)."""
    rule = path.encode("latin-1").decode("utf-8")  # Bottle routes the decoded path
    # Bottle would read them as wildcards, and warns about an escaped ":" all the same.
    if ":" in rule or "<" in rule:
        raise ConfigError(f"path {rule!r}: a Bottle route cannot match ':' or '<' literally")
    return rule


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
        routes = []
        for path, endpoint in table.routes.items():
            if isinstance(endpoint, (Return, Timeout)):  # bound copies: the user's stay
                endpoint.handler = _bottle_page(endpoint.handler)
                if endpoint.error_page is not None:
                    endpoint.error_page = _bottle_page(endpoint.error_page)
            rule = _rule(path)
            # PROXY: Bottle's method for a mounted WSGI app, matched before every verb
            # and before any wildcard route; skip: no other plugin wraps the callbacks.
            routes.append(
                bottle.Route(app, rule, "PROXY", self._callback(endpoint, path), skiplist=[True])
            )
        for route in routes:
            app.add_route(route)
        for prefix, mounted in table.mounts.items():  # the console, the metrics
            # A route of its own, as the callbacks have (not app.mount, whose prefix
            # would be wrong once this app is itself mounted into another).
            rule = _rule(prefix) + "<within:re:(/.*)?>"
            callback = self._mounted_callback(mounted, prefix)
            route = bottle.Route(app, rule, "PROXY", callback, skiplist=[True])
            app.add_route(route)
            routes.append(route)
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

    def _callback(self, endpoint: Endpoint, path: str) -> Callable[[], Any]:
        def gatepay_callback() -> Any:
            if self.app is None:  # uninstalled, and these routes were mounted elsewhere
                raise bottle.HTTPError(404, "Not found")
            return _answer(endpoint, path, bottle.request.environ)

        return gatepay_callback

    def _mounted_callback(self, mounted: Any, prefix: str) -> Callable[..., Any]:
        def gatepay_mount(within: str = "") -> Any:
            if self.app is None:
                raise bottle.HTTPError(404, "Not found")
            environ = bottle.request.environ
            return _answer(mounted, prefix + within, environ, within=within)

        return gatepay_mount

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


def _answer(app: Any, path: str, environ: WSGIEnvironment, within: str | None = None) -> Any:
    """Call ``app`` as a WSGI app mounted where the route matched; Bottle's answer.

    ``path`` is what the route matched at the end of the request's path; ``within``,
    for an app mounted at a prefix (the console), the part of it the app sees as its
    ``PATH_INFO``, the rest going to ``SCRIPT_NAME``.
    """
    script_name: str = environ.get("SCRIPT_NAME", "")
    path_info: str = environ.get("PATH_INFO", "")
    raw: str = environ.get("bottle.raw_path") or path_info  # as the server sent it
    # A mount or merge put a prefix before the path: it belongs to SCRIPT_NAME.
    mount = raw[: -len(path)] if path and raw.endswith(path) else ""
    if within is None:
        environ["SCRIPT_NAME"], environ["PATH_INFO"] = script_name + mount, path
    else:
        prefix = path[: len(path) - len(within)]
        environ["SCRIPT_NAME"], environ["PATH_INFO"] = script_name + mount + prefix, within
    endpoint = app
    started: list[tuple[str, list[tuple[str, str]]]] = []
    written: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
        started.append((status, headers))  # nothing is sent yet: a later call replaces it
        return written.append

    try:
        body: Iterable[bytes] = endpoint(environ, start_response)
        if not started:  # an app may start its response with its first chunk
            body = _started(body)
    finally:
        environ["SCRIPT_NAME"], environ["PATH_INFO"] = script_name, path_info
    answer = environ.pop(_ANSWER, None)
    if answer is not None:
        return answer
    status, headers = started[-1]
    response = bottle.response  # kept, with any cookie the handler set on it
    response.status = status
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
    return _Body(written, body) if written else body


def _started(body: Iterable[bytes]) -> Iterable[bytes]:
    """The body with its first chunk read (so that start_response was called)."""
    chunks = iter(body)
    first = next(chunks, None)
    return _Body([] if first is None else [first], chunks, getattr(body, "close", None))


class _Body:
    """Chunks already produced, then the rest of the body; ``close()`` reaches the app."""

    def __init__(
        self, head: list[bytes], rest: Iterable[bytes], close: Callable[[], Any] | None = None
    ) -> None:
        self.head, self.rest = head, rest
        self._close = close or getattr(rest, "close", None)

    def __iter__(self) -> Iterator[bytes]:
        yield from self.head
        yield from self.rest

    def close(self) -> None:
        if self._close is not None:
            self._close()


__all__ = ["ConfigError", "GatePayPlugin"]

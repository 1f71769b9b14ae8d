"""``app = GatePayMiddleware(app, appkey=..., appsecret=..., paths={...})``.

The middleware only routes: it looks ``PATH_INFO`` up in its ``RoutingTable`` (one dict)
and hands the request to the endpoint found there. Every other request goes to the
wrapped app untouched (status, headers, body iterator, ``close()``, ``exc_info``), its
body never read. An integration that routes by itself (the Pyramid tween, the Bottle
plugin) uses a ``RoutingTable`` directly.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from .endpoints import Endpoint, HandlerContext, check_appsecret, check_credential
from .errors import ConfigError
from .inbox import Inbox, MemoryInbox, open_inbox
from .notify import NOT_DURABLE, Notify
from .signing import Appsecret

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

logger = logging.getLogger("gatepay_wsgi")


class RoutingTable:
    """``table = RoutingTable(paths={...}, appkey=..., appsecret=...)``; ``table.get(path)``.

    The callback paths, each endpoint bound with the defaults and checked.

    :param paths: ``{"/gatepay/notify": Notify(mark_paid), ...}``, matched against
        ``PATH_INFO`` exactly (so they hold under any ``SCRIPT_NAME`` mount).
    :param appkey: the merchant's appkey, for every endpoint built without its own.
    :param appsecret: the merchant's appsecret, likewise (never logged).
    :param inbox: an ``Inbox`` or an inbox URL for every ``Notify`` built without its own;
        without one, a memory inbox, and a warning that notifies are not durable.
    :param handler_context: ``handler_context(environ)`` returns a context manager
        entered around each handler call (``app.request_context`` for Flask).
    :param paths_added_later: allow starting with no paths (``add`` brings them).
    :param mounts: ``{"/gatepay/console": console}``: WSGI apps answering every path under
        their prefix, the prefix moved from ``PATH_INFO`` to ``SCRIPT_NAME`` (the
        operators' console, the metrics).
    """

    def __init__(
        self,
        *,
        paths: Mapping[str, Endpoint],
        appkey: str | None = None,
        appsecret: Appsecret | None = None,
        inbox: str | Inbox | None = None,
        handler_context: HandlerContext | None = None,
        paths_added_later: bool = False,
        mounts: Mapping[str, WSGIApplication] | None = None,
    ) -> None:
        check_credential("appkey", appkey)
        appsecret = check_appsecret(appsecret)
        if not isinstance(paths, Mapping) or not (paths or paths_added_later):
            raise ConfigError("paths must be a non-empty dict of path -> Notify/Return/Timeout")
        self.appkey, self.appsecret, self.handler_context = appkey, appsecret, handler_context
        #: The inbox given to every ``Notify`` that has none (``None``: none was needed yet).
        self.inbox: Inbox | None = open_inbox(inbox) if inbox is not None else None
        #: ``PATH_INFO`` (as PEP 3333 carries it: latin-1 code points) -> bound endpoint.
        self.routes: dict[str, Endpoint] = {}
        #: ``table.get(environ["PATH_INFO"])``: the endpoint, or ``None`` for other paths.
        self.get = self.routes.get
        for path, endpoint in paths.items():
            self.add(path, endpoint)
        #: prefix -> the mounted WSGI app (``mounted`` finds it).
        self.mounts: dict[str, WSGIApplication] = {}
        #: The prefixes, for one ``str.startswith`` call on the way through.
        self.mount_prefixes: tuple[str, ...] = ()
        for prefix, app in (mounts or {}).items():
            self.mount(prefix, app)

    def mount(self, prefix: str, app: WSGIApplication) -> None:
        """``table.mount("/gatepay/console", console)``: ``app`` answers under ``prefix``."""
        if not prefix.startswith("/") or prefix.endswith("/") or not callable(app):
            raise ConfigError(f"mount {prefix!r}: a path like '/gatepay/console' and a WSGI app")
        key = prefix.encode("utf-8").decode("latin-1")
        if key in self.mounts:
            raise ConfigError(f"an app is already mounted at {prefix!r}")
        # The longest prefix first, as werkzeug's DispatcherMiddleware finds it: an app
        # at /gatepay/console answers under /gatepay whatever the order they came in.
        self.mounts = dict(sorted({**self.mounts, key: app}.items(), key=lambda m: -len(m[0])))
        self.mount_prefixes = tuple(self.mounts)

    def mounted(self, environ: WSGIEnvironment) -> WSGIApplication | None:
        """The app mounted where this request goes, its prefix already moved from
        ``PATH_INFO`` to ``SCRIPT_NAME`` in ``environ``; ``None`` for any other path."""
        # The shift werkzeug's DispatcherMiddleware makes, kept here because that one is
        # only a WSGI app: it calls the app it finds, where the Pyramid tween needs it
        # back (or None) to hand to Pyramid, and it sets SCRIPT_NAME and PATH_INFO on
        # every request it passes on (``OPTIONS *`` reaches the app with ``*`` moved into
        # SCRIPT_NAME), where every other request must reach the app untouched.
        path = environ.get("PATH_INFO", "")
        for prefix, app in self.mounts.items():
            if path == prefix or path.startswith(prefix + "/"):
                environ["SCRIPT_NAME"] = environ.get("SCRIPT_NAME", "") + prefix
                environ["PATH_INFO"] = path[len(prefix) :]
                return app
        return None

    def add(self, path: str, endpoint: Endpoint) -> None:
        """``table.add("/gatepay/notify", Notify(mark_paid))``: one more callback path,
        seen from the next request on (a framework extension whose handlers are
        registered after it was set up does this)."""
        if not isinstance(path, str) or not path.startswith("/"):
            raise ConfigError(f"path {path!r} must be a string starting with '/'")
        if not isinstance(endpoint, Endpoint):
            raise TypeError(
                f"paths[{path!r}] must be Notify(...), Return(...) or Timeout(...), "
                f"got {type(endpoint).__name__}"
            )
        key = path.encode("utf-8").decode("latin-1")  # PEP 3333's PATH_INFO
        if key in self.routes:
            raise ConfigError(f"a GatePay endpoint is already registered for {path!r}")
        bound = endpoint.with_defaults(
            appkey=self.appkey, appsecret=self.appsecret, context=self.handler_context
        )
        if isinstance(bound, Notify) and bound.inbox is None:
            if self.inbox is None:
                logger.warning(NOT_DURABLE)
                self.inbox = MemoryInbox()
            bound.inbox = self.inbox
        if bound.signed:
            check_credential("appkey", bound.appkey)
            bound.appsecret = check_appsecret(bound.appsecret)
            if not bound.appkey or not bound.appsecret:
                raise ConfigError(
                    f"paths[{path!r}] needs an appkey and an appsecret: pass them to "
                    "GatePayMiddleware(...) or to the endpoint"
                )
        self.routes[key] = bound


class GatePayMiddleware:
    """Verify GatePay callbacks in front of any WSGI app.

    ::

        from gatepay_wsgi import GatePayMiddleware, Notify, Return, Timeout

        app.wsgi_app = GatePayMiddleware(app.wsgi_app, appkey=KEY, appsecret=SECRET, paths={
            "/gatepay/notify": Notify(mark_paid),
            "/gatepay/return": Return(thank_you_page),
            "/gatepay/timeout": Timeout(closed_page),
        })

    :param app: the WSGI app every other request goes to, untouched.
    :param appkey: the merchant's appkey; an endpoint built with its own keeps it (one
        site, several merchants).
    :param appsecret: the merchant's appsecret, likewise (never logged).
    :param paths: ``{path: Notify(...) | Return(...) | Timeout(...)}``, matched against
        ``PATH_INFO`` exactly, so the middleware works under any ``SCRIPT_NAME`` mount.
    :param inbox: ``"sqlite:////var/lib/shop/gatepay.sqlite3"``, ``"memory://"`` or an
        ``Inbox``: every verified notify is kept there before its handler runs. Without
        it, a memory inbox is used and a warning says that notifies are not durable.
    :param handler_context: ``handler_context(environ)`` returns a context manager
        entered around each handler call: ``app.request_context`` gives Flask handlers
        ``current_app``, ``url_for`` and the app's teardown (database sessions).
    :param paths_added_later: allow starting with no paths; ``middleware.add(path,
        endpoint)`` adds them, bound like the others.
    :param mounts: ``{"/gatepay/console": Console(...), "/metrics": metrics.wsgi_app()}``:
        WSGI apps answering every path under their prefix (moved to ``SCRIPT_NAME``).

    ``middleware.app``, ``middleware.routes`` (``PATH_INFO`` -> endpoint) and
    ``middleware.inbox`` say how it was set up.
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        appkey: str | None = None,
        appsecret: Appsecret | None = None,
        paths: Mapping[str, Endpoint],
        inbox: str | Inbox | None = None,
        handler_context: HandlerContext | None = None,
        paths_added_later: bool = False,
        mounts: Mapping[str, WSGIApplication] | None = None,
    ) -> None:
        if not callable(app):
            raise TypeError(f"app must be a WSGI application, got {app!r}")
        self.app = app
        self.table = RoutingTable(
            paths=paths,
            appkey=appkey,
            appsecret=appsecret,
            inbox=inbox,
            handler_context=handler_context,
            paths_added_later=paths_added_later,
            mounts=mounts,
        )
        self.routes = self.table.routes
        self._route = self.table.get

    @property
    def inbox(self) -> Inbox | None:
        """The inbox of the notifies that were given none."""
        return self.table.inbox

    def add(self, path: str, endpoint: Endpoint) -> None:
        """``middleware.add("/gatepay/notify", Notify(mark_paid))``: one more callback path."""
        self.table.add(path, endpoint)

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        endpoint = self._route(path)
        if endpoint is not None:
            return endpoint(environ, start_response)
        if self.table.mount_prefixes and path.startswith(self.table.mount_prefixes):
            mounted = self.table.mounted(environ)
            if mounted is not None:
                return mounted(environ, start_response)
        return self.app(environ, start_response)

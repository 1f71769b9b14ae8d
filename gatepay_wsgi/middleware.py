"""``app = GatePayMiddleware(app, appkey=..., appsecret=..., paths={...})``.

The middleware only routes: it looks ``PATH_INFO`` up in one dict and hands the request
to the endpoint found there. Every other request goes to the wrapped app untouched
(status, headers, body iterator, ``close()``, ``exc_info``), its body never read.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from .endpoints import Endpoint, HandlerContext, check_credential
from .inbox import Inbox, MemoryInbox, open_inbox
from .notify import NOT_DURABLE, Notify

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

logger = logging.getLogger("gatepay_wsgi")


class GatePayMiddleware:
    """Verify GatePay callbacks in front of any WSGI app.

    ::

        from gatepay_wsgi import GatePayMiddleware, Notify, Return, Timeout

        app.wsgi_app = GatePayMiddleware(app.wsgi_app, appkey=KEY, appsecret=SECRET, paths={
            "/gatepay/notify": Notify(mark_paid),
            "/gatepay/return": Return(thank_you_page),
            "/gatepay/timeout": Timeout(closed_page),
        })

    Paths are matched against ``PATH_INFO`` exactly, so the middleware works under any
    ``SCRIPT_NAME`` mount. An endpoint built with its own ``appkey``/``appsecret`` keeps
    them (one site, several merchants); the others use the middleware's.

    ``inbox`` (``"sqlite:////var/lib/shop/gatepay.sqlite3"``, ``"memory://"`` or an
    ``Inbox``) keeps every verified notify before its handler runs; without it, a memory
    inbox is used and a warning says that notifies are not durable.

    ``handler_context(environ)`` returns a context manager entered around each handler
    call: ``app.request_context`` gives Flask handlers ``current_app``, ``url_for`` and
    the app's teardown (database sessions).
    """

    def __init__(
        self,
        app: WSGIApplication,
        *,
        appkey: str | None = None,
        appsecret: str | None = None,
        paths: Mapping[str, Endpoint],
        inbox: str | Inbox | None = None,
        handler_context: HandlerContext | None = None,
    ) -> None:
        if not callable(app):
            raise TypeError(f"app must be a WSGI application, got {app!r}")
        check_credential("appkey", appkey)
        check_credential("appsecret", appsecret)
        if not isinstance(paths, Mapping) or not paths:
            raise ValueError("paths must be a non-empty dict of path -> Notify/Return/Timeout")
        self.app = app
        self.inbox = open_inbox(inbox) if inbox is not None else None
        self.routes: dict[str, Endpoint] = {}
        for path, endpoint in paths.items():
            if not isinstance(path, str) or not path.startswith("/"):
                raise ValueError(f"path {path!r} must be a string starting with '/'")
            if not isinstance(endpoint, Endpoint):
                raise TypeError(
                    f"paths[{path!r}] must be Notify(...), Return(...) or Timeout(...), "
                    f"got {type(endpoint).__name__}"
                )
            bound = endpoint.with_defaults(
                appkey=appkey, appsecret=appsecret, context=handler_context
            )
            if isinstance(bound, Notify) and bound.inbox is None:
                bound.inbox = self._default_inbox()
            if bound.signed:
                check_credential("appkey", bound.appkey)
                check_credential("appsecret", bound.appsecret)
                if not bound.appkey or not bound.appsecret:
                    raise ValueError(
                        f"paths[{path!r}] needs an appkey and an appsecret: pass them to "
                        "GatePayMiddleware(...) or to the endpoint"
                    )
            # PEP 3333: PATH_INFO carries the request's bytes as latin-1 code points.
            self.routes[path.encode("utf-8").decode("latin-1")] = bound

    def _default_inbox(self) -> Inbox:
        if self.inbox is None:
            logger.warning(NOT_DURABLE)
            self.inbox = MemoryInbox()
        return self.inbox

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        endpoint = self.routes.get(environ.get("PATH_INFO", ""))
        if endpoint is None:
            return self.app(environ, start_response)
        return endpoint(environ, start_response)

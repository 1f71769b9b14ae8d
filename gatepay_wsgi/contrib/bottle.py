"""Bottle: ``app.install(GatePayPlugin())``, configured from ``app.config`` or arguments::

    app.config.update({
        "gatepay.appkey": ..., "gatepay.appsecret": ...,
        "gatepay.inbox": "sqlite:///gatepay.sqlite3",
        "gatepay.notify": "/gatepay/notify shop.payments:mark_paid",
    })
    app.install(GatePayPlugin())

    # or, in code:
    app.install(GatePayPlugin(appkey=..., appsecret=..., paths={"/gatepay/notify": Notify(f)}))

The plugin (api 2) wraps ``app.wsgi`` when installed and restores it when uninstalled;
routes are left as they are. Page handlers may return a ``bottle.HTTPResponse``.
"""

from __future__ import annotations

from typing import Any

import bottle

from ..config import ConfigError, middleware_options
from ..middleware import GatePayApp, GatePayMiddleware


class GatePayPlugin:
    """A Bottle plugin that puts ``GatePayMiddleware`` in front of the app."""

    name = "gatepay"
    api = 2

    def __init__(self, **options: Any) -> None:
        self.options = options
        self.middleware: GatePayApp | None = None

    def setup(self, app: bottle.Bottle) -> None:
        options = self.options or middleware_options(app.config, prefix="gatepay.")
        self.middleware = GatePayMiddleware(app.wsgi, **options)
        app.wsgi = self.middleware  # the instance attribute wins over Bottle.wsgi

    def apply(self, callback: Any, route: Any) -> Any:
        return callback  # nothing per route: the callbacks never reach Bottle's router

    def close(self) -> None:
        """Called by ``app.uninstall``: Bottle's own ``wsgi`` is back in charge."""
        if self.middleware is not None:
            app = getattr(self.middleware.app, "__self__", None)
            if isinstance(app, bottle.Bottle) and app.__dict__.get("wsgi") is self.middleware:
                del app.wsgi
            self.middleware = None


__all__ = ["ConfigError", "GatePayPlugin"]

"""Pyramid: ``config.include("gatepay_wsgi.contrib.pyramid")``, configured from the .ini::

    gatepay.appkey = ...
    gatepay.appsecret = ...
    gatepay.inbox = sqlite:///%(here)s/gatepay.sqlite3
    gatepay.notify = /gatepay/notify shop.payments:mark_paid
    gatepay.return = /gatepay/return shop.payments:thank_you
    gatepay.timeout = /gatepay/timeout shop.payments:closed
    gatepay.max_body_size = 65536
    gatepay.clock_skew = 600

The callbacks are answered by a tween at the very top of the tween chain, before
routing and outside any transaction tween (``pyramid_tm``): a notify handler commits
its own work, so ``success`` is only ever written after it did. Handlers reach the
registry and settings with ``pyramid.threadlocal.get_current_registry()`` (and the
request with ``get_current_request()``); page handlers may return any Pyramid
``Response``. Dotted names take ``package.module:function`` or ``package.module.function``,
or a relative ``.payments:mark_paid``, resolved the way Pyramid resolves the settings'
own names (``pyramid.includes``): from the package of the app's ``Configurator``. A
``gatepay.*`` key that is not a setting is a ``ConfigError``: a typo is never ignored.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pyramid.config import Configurator
from pyramid.path import DottedNameResolver
from pyramid.registry import Registry
from pyramid.request import Request
from pyramid.response import Response
from pyramid.tweens import INGRESS

from ..config import middleware_options
from ..errors import ConfigError
from ..middleware import RoutingTable


def includeme(config: Configurator) -> None:
    """Read ``gatepay.*`` settings (``ConfigError`` names a wrong one) and add the tween."""
    settings = config.get_settings()
    options = middleware_options(settings, prefix="gatepay.", load=_resolver(config))
    config.registry["gatepay"] = RoutingTable(**options)
    config.add_tween("gatepay_wsgi.contrib.pyramid.gatepay_tween_factory", under=INGRESS)


def _resolver(config: Configurator) -> Callable[[str, str], Any]:
    """Dotted names resolved as Pyramid does. Inside ``includeme`` ``config.package`` is
    this module's package, so relative names start from the app's (``root_package``)."""
    resolver = DottedNameResolver(package=config.root_package)

    def load(spec: str, setting: str) -> Any:
        try:
            return resolver.maybe_resolve(spec.strip())
        except (ImportError, ValueError, AttributeError) as error:
            raise ConfigError(f"{setting}: cannot resolve {spec.strip()!r}: {error}") from None

    return load


def gatepay_tween_factory(
    handler: Callable[[Request], Response], registry: Registry
) -> Callable[[Request], Response]:
    """The tween: one dict lookup on ``path_info``; other requests go on untouched."""
    table: RoutingTable = registry["gatepay"]
    route = table.get

    def gatepay_tween(request: Request) -> Response:
        answering: Any = route(request.path_info)
        if answering is None and table.mount_prefixes:  # the console, the metrics
            answering = table.mounted(request.environ)
        if answering is None:
            return handler(request)
        response: Response = request.get_response(answering)
        return response

    return gatepay_tween


__all__ = ["ConfigError", "gatepay_tween_factory", "includeme"]

"""Flask: ``gatepay = GatePay(app)``, or ``gatepay.init_app(app)`` in an app factory.

Reads ``GATEPAY_APPKEY``, ``GATEPAY_APPSECRET``, ``GATEPAY_INBOX``, ``GATEPAY_MAX_BODY_SIZE``,
``GATEPAY_CLOCK_SKEW`` and either ``GATEPAY_NOTIFY = "/gatepay/notify shop.payments:mark_paid"``
(and ``GATEPAY_RETURN``, ``GATEPAY_TIMEOUT``), ``GATEPAY_PATHS = {path: Notify(...)}``, or
handlers registered with the decorators, before or after ``init_app``::

    gatepay = GatePay()

    @gatepay.notify("/gatepay/notify")
    def mark_paid(n):
        Order.query.filter_by(number=n.out_order_id).one().mark_paid(n.price)
        db.session.commit()

    gatepay.init_app(app)

Settings errors raise ``ConfigError`` at ``init_app``; an app with no notify endpoint at
all fails its first request with ``ConfigError`` (a notify path falling through to a 404
would lose payments quietly). Handlers run inside a request context of the app, so
``current_app``, ``url_for`` (with the mount's ``SCRIPT_NAME``), ``render_template``,
``redirect`` and ``abort`` and Flask-SQLAlchemy sessions (removed at teardown) work.

``init_app`` puts the callbacks inside a ``ProxyFix`` that already wraps ``app.wsgi_app``
(so ``X-Forwarded-For``/``X-Forwarded-Prefix`` reach them either way); another
middleware already there is left outside with a warning: call ``init_app`` first.

``flask gatepay list|show|stats|replay`` read the app's inbox, as ``gatepay-wsgi inbox``.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from werkzeug.exceptions import HTTPException
from werkzeug.middleware.proxy_fix import ProxyFix

from ..cli.commands import Argument, Command
from ..cli.inbox import FRAMEWORK_COMMANDS, run_action
from ..config import middleware_options, read_notify_options
from ..console import Console
from ..endpoints import Endpoint, Return, Timeout
from ..errors import ConfigError, GatePayException
from ..middleware import GatePayMiddleware
from ..notify import Notify

F = TypeVar("F", bound=Callable[..., Any])
logger = logging.getLogger("gatepay_wsgi")


def _setting(name: str) -> str:
    return f"GATEPAY_{name.upper()}"


def _flask_pages(handler: Callable[..., Any]) -> Callable[..., Any]:
    """A page handler whose ``abort(404)`` shows Flask's 404 page rather than a 500."""

    def page(visit: Any) -> Any:
        try:
            return handler(visit)
        except HTTPException as error:  # abort(), and redirects raised as RequestRedirect
            return error.get_response()

    return page


class GatePay:
    """The Flask extension; one instance can serve several apps."""

    def __init__(self, app: Flask | None = None) -> None:
        #: path -> (endpoint class, handler, the decorator's own options)
        self._handlers: dict[str, tuple[type[Endpoint], Callable[..., Any], dict[str, Any]]] = {}
        self._apps: list[Flask] = []
        if app is not None:
            self.init_app(app)

    # -- registering handlers --------------------------------------------------------

    def notify(self, path: str = "/gatepay/notify", **options: Any) -> Callable[[F], F]:
        """``@gatepay.notify("/gatepay/notify")``: the async notify handler.

        ``GATEPAY_MAX_BODY_SIZE`` and ``GATEPAY_CLOCK_SKEW`` apply unless given here.
        """
        return self._decorator(path, Notify, options)

    def return_page(self, path: str = "/gatepay/return", **options: Any) -> Callable[[F], F]:
        """``@gatepay.return_page("/gatepay/return")``: the page after paying."""
        return self._decorator(path, Return, options)

    def timeout_page(self, path: str = "/gatepay/timeout", **options: Any) -> Callable[[F], F]:
        """``@gatepay.timeout_page("/gatepay/timeout")``: the page after the order closed."""
        return self._decorator(path, Timeout, options)

    def _decorator(
        self, path: str, kind: type[Endpoint], options: dict[str, Any]
    ) -> Callable[[F], F]:
        def register(handler: F) -> F:
            if path in self._handlers:
                raise ConfigError(f"a GatePay handler is already registered for {path!r}")
            self._handlers[path] = (kind, handler, options)
            for app in self._apps:  # registered after init_app: the app gets it too
                _add(app, path, self._endpoint(app, kind, handler, options))
            return handler

        return register

    @staticmethod
    def _endpoint(
        app: Flask, kind: type[Endpoint], handler: Callable[..., Any], options: dict[str, Any]
    ) -> Endpoint:
        if kind is Notify:
            return Notify(handler, **{**read_notify_options(app.config, _setting), **options})
        return kind(_flask_pages(handler), **options)

    # -- setting up an app -----------------------------------------------------------

    def init_app(self, app: Flask) -> None:
        """Put the callbacks in front of ``app``; settings errors raise ``ConfigError`` here."""
        if "gatepay" in app.extensions:
            raise RuntimeError("GatePay is already initialised on this app")
        paths = dict(app.config.get("GATEPAY_PATHS") or {})
        for path, (kind, handler, options) in self._handlers.items():
            paths[path] = self._endpoint(app, kind, handler, options)
        options = middleware_options(
            app.config, setting_name=_setting, paths=paths, require_notify=False
        )
        app.wsgi_app = _install(  # type: ignore[method-assign]
            app,
            lambda inner: GatePayMiddleware(
                inner,
                handler_context=app.request_context,
                paths_added_later=True,
                **options,
            ),
        )
        self._apps.append(app)
        app.cli.add_command(gatepay_command)
        if not _has_notify(app):
            app.before_request(_require_notify)


def _install(app: Flask, wrap: Callable[[Any], GatePayMiddleware]) -> Any:
    """Wrap ``app.wsgi_app``, inside the ProxyFix layers already around it."""
    outer = app.wsgi_app
    holder: Any = None  # the innermost ProxyFix, whose .app we replace
    layer: Any = outer
    while isinstance(layer, ProxyFix):
        holder, layer = layer, layer.app
    if getattr(layer, "__self__", None) is not app:  # another middleware is already there
        logger.warning(
            "GatePay.init_app: app.wsgi_app is already wrapped by %s; the GatePay callbacks "
            "see the environ before it. Call init_app before wrapping app.wsgi_app.",
            type(layer).__name__,
        )
    middleware = wrap(layer)
    app.extensions["gatepay"] = middleware
    if holder is None:
        return middleware
    holder.app = middleware
    return outer


def _add(app: Flask, path: str, endpoint: Endpoint) -> None:
    middleware: GatePayMiddleware = app.extensions["gatepay"]
    middleware.add(path, endpoint)
    if isinstance(endpoint, Notify):  # a console mounted before its handler was known
        for mounted in middleware.table.mounts.values():
            if isinstance(mounted, Console) and mounted.handler is None:
                mounted.handler = endpoint.handler


def _has_notify(app: Flask) -> bool:
    middleware: GatePayMiddleware = app.extensions["gatepay"]
    return any(isinstance(e, Notify) for e in middleware.routes.values())


def _require_notify() -> None:
    """Before the app's first request: a notify endpoint must exist by now."""
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not _has_notify(app):
        raise ConfigError(
            "GatePay has no notify endpoint: set GATEPAY_NOTIFY or register one with "
            "@gatepay.notify(path); payments would go unnoticed"
        )
    app.before_request_funcs[None].remove(_require_notify)


# -- flask gatepay ... -------------------------------------------------------------------


def _inbox() -> Any:
    middleware: GatePayMiddleware = current_app.extensions["gatepay"]
    notifies = [e for e in middleware.routes.values() if isinstance(e, Notify)]
    inbox = middleware.inbox or (notifies[0].inbox_in_use() if notifies else None)
    if inbox is None:
        raise click.UsageError("this app has no inbox: set GATEPAY_INBOX")
    return inbox


def _handler() -> Callable[..., Any]:
    """The app's one notify handler, which ``replay`` runs inside the app context."""
    middleware: GatePayMiddleware = current_app.extensions["gatepay"]
    notifies = [e for e in middleware.routes.values() if isinstance(e, Notify)]
    if len(notifies) != 1:
        raise click.UsageError("this app has several notify endpoints: use gatepay-wsgi")
    return notifies[0].handler


def _run(command: Command, **options: Any) -> None:
    for argument in command.arguments:
        if argument.many:  # click gives a tuple; the other front ends, and replay, a list
            options[argument.dest] = list(options[argument.dest])
    if command.needs_handler:
        options["handler"] = _handler()
    try:
        code = run_action(command.name, _inbox(), **options)
    except GatePayException as error:  # ours (an unreachable inbox too); a bug: traceback
        click.echo(f"flask gatepay: {error}", err=True)
        sys.exit(2)
    sys.exit(code)


def _click_parameter(argument: Argument) -> click.Parameter:
    kind: Any = click.Choice(argument.choices) if argument.choices else argument.type
    if not argument.is_option:
        if argument.many:  # click shows a metavar as given: say it takes any number
            many = f"[{argument.metavar}]..." if argument.metavar else None
            return click.Argument([argument.dest], type=kind, nargs=-1, metavar=many)
        return click.Argument([argument.dest], type=kind, metavar=argument.metavar)
    if argument.flag:
        return click.Option([argument.name], is_flag=True, help=argument.help)
    return click.Option([argument.name], type=kind, default=argument.default, help=argument.help)


def _click_command(command: Command) -> click.Command:
    """``flask gatepay <command.name>``, from the one description of the inbox commands."""

    def run(**options: Any) -> None:
        _run(command, **options)

    return click.Command(
        command.name,
        callback=with_appcontext(run),
        params=[_click_parameter(argument) for argument in command.arguments],
        help=command.help[0].upper() + command.help[1:] + ".",  # click's own style
    )


@click.group("gatepay", commands=[_click_command(command) for command in FRAMEWORK_COMMANDS])
def gatepay_command() -> None:
    """Inspect and replay the GatePay inbox of this app (as gatepay-wsgi inbox does)."""


__all__ = ["ConfigError", "GatePay"]

"""Flask: ``gatepay = GatePay(app)``, or ``gatepay.init_app(app)`` in an app factory.

Reads ``GATEPAY_APPKEY``, ``GATEPAY_APPSECRET``, ``GATEPAY_INBOX`` and either
``GATEPAY_NOTIFY = "/gatepay/notify shop.payments:mark_paid"`` (and ``GATEPAY_RETURN``,
``GATEPAY_TIMEOUT``), ``GATEPAY_PATHS = {path: Notify(...)}``, or handlers registered
with the decorators::

    gatepay = GatePay()

    @gatepay.notify("/gatepay/notify")
    def mark_paid(n):
        Order.query.filter_by(number=n.out_order_id).one().mark_paid(n.price)
        db.session.commit()

    gatepay.init_app(app)

Handlers run inside a request context of the app, so ``current_app``, ``url_for``,
``render_template`` and Flask-SQLAlchemy sessions (removed at teardown) work.
``flask gatepay replay --failed`` replays failed notifies inside the app context.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from ..config import ConfigError, middleware_options
from ..endpoints import Endpoint, Return, Timeout
from ..middleware import GatePayApp, GatePayMiddleware
from ..notify import Notify

F = TypeVar("F", bound=Callable[..., Any])


class GatePay:
    """The Flask extension; one instance can serve several apps."""

    def __init__(self, app: Flask | None = None) -> None:
        self.endpoints: dict[str, Endpoint] = {}
        if app is not None:
            self.init_app(app)

    def _register(self, path: str, endpoint: Endpoint) -> None:
        if path in self.endpoints:
            raise ValueError(f"a GatePay handler is already registered for {path!r}")
        self.endpoints[path] = endpoint

    def notify(self, path: str = "/gatepay/notify", **options: Any) -> Callable[[F], F]:
        """``@gatepay.notify("/gatepay/notify")``: the async notify handler."""

        def register(handler: F) -> F:
            self._register(path, Notify(handler, **options))
            return handler

        return register

    def return_page(self, path: str = "/gatepay/return", **options: Any) -> Callable[[F], F]:
        """``@gatepay.return_page("/gatepay/return")``: the page after paying."""

        def register(handler: F) -> F:
            self._register(path, Return(handler, **options))
            return handler

        return register

    def timeout_page(self, path: str = "/gatepay/timeout", **options: Any) -> Callable[[F], F]:
        """``@gatepay.timeout_page("/gatepay/timeout")``: the page after the order closed."""

        def register(handler: F) -> F:
            self._register(path, Timeout(handler, **options))
            return handler

        return register

    def init_app(self, app: Flask) -> None:
        """Wrap ``app.wsgi_app``; configuration mistakes raise ``ConfigError`` here."""
        if "gatepay" in app.extensions:
            raise RuntimeError("GatePay is already initialised on this app")
        paths = {**dict(app.config.get("GATEPAY_PATHS") or {}), **self.endpoints}
        options = middleware_options(
            app.config, setting_name=lambda name: f"GATEPAY_{name.upper()}", paths=paths
        )
        middleware = GatePayMiddleware(app.wsgi_app, handler_context=app.request_context, **options)
        app.wsgi_app = middleware  # type: ignore[method-assign]
        app.extensions["gatepay"] = middleware
        app.cli.add_command(gatepay_command)


@click.group("gatepay")
def gatepay_command() -> None:
    """Inspect and replay the GatePay inbox of this app."""


@gatepay_command.command("replay")
@click.option("--failed", is_flag=True, help="every failed or stale notify")
@click.argument("order_ids", nargs=-1, type=int)
@with_appcontext
def replay_command(failed: bool, order_ids: tuple[int, ...]) -> None:
    """Run the app's notify handler again for failed notifies (or the ORDER_IDS)."""
    if bool(order_ids) == failed:
        raise click.UsageError("give ORDER_IDS or --failed (not both)")
    middleware: GatePayApp = current_app.extensions["gatepay"]
    notifies = [e for e in middleware.routes.values() if isinstance(e, Notify)]
    if len(notifies) != 1:
        raise click.UsageError("this app has several notify endpoints: use gatepay-wsgi")
    endpoint = notifies[0]
    results = endpoint.inbox_in_use().replay(endpoint.handler, order_ids or None)
    for result in results:
        click.echo(f"{result.order_id}\t{result.outcome}\t{result.error or ''}".rstrip())
    if not results:
        click.echo("nothing to replay")
    if any(r.outcome == "failed" for r in results):
        raise SystemExit(1)


__all__ = ["ConfigError", "GatePay"]

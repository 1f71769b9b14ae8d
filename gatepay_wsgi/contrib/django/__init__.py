"""Django: ``from gatepay_wsgi.contrib.django import get_wsgi_application`` in ``wsgi.py``.

Configured from one dict in the settings::

    GATEPAY = {
        "APPKEY": os.environ["GATEPAY_APPKEY"],
        "APPSECRET": os.environ["GATEPAY_APPSECRET"],
        "INBOX": "sqlite:////var/lib/shop/gatepay.sqlite3",
        "NOTIFY": "/gatepay/notify shop.payments:mark_paid",
        "RETURN": "/gatepay/return shop.payments:thank_you",
        "TIMEOUT": "/gatepay/timeout shop.payments:closed",
        "MAX_BODY_SIZE": 65536,
        "CLOCK_SKEW": 600,
    }

``get_wsgi_application()`` is Django's application with the callbacks in front; an
unknown key or a wrong value is a ``ConfigError`` naming ``GATEPAY["..."]``. Handlers run
as a request would: ``request_started`` and ``request_finished`` are sent around them (so
old database connections are closed before and after, ``CONN_MAX_AGE`` honoured), and
the script prefix is the one of the request being served (``reverse()`` is right under
any mount). Page handlers may return Django responses (``HttpResponse``, ``redirect()``,
``render(None, ...)``). ``"gatepay_wsgi.contrib.django"`` in ``INSTALLED_APPS`` adds
``python manage.py gatepay list|show|stats|replay``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.core import signals
from django.core.handlers.wsgi import WSGIHandler, get_script_name
from django.http import HttpResponseBase
from django.urls import get_script_prefix, set_script_prefix

from ...config import SETTINGS, middleware_options
from ...dotted_names import load_object
from ...errors import ConfigError
from ...middleware import GatePayMiddleware

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

#: The keys ``settings.GATEPAY`` may hold.
KNOWN_KEYS = tuple(name.upper() for name in SETTINGS)


def _key(name: str) -> str:
    return f'GATEPAY["{name.upper()}"]'


def gatepay_settings() -> dict[str, Any]:
    """``settings.GATEPAY``, checked: a dict whose keys are all known."""
    value = getattr(settings, "GATEPAY", None)
    if not isinstance(value, Mapping):
        raise ConfigError("settings.GATEPAY is missing: a dict with APPKEY, APPSECRET, NOTIFY, ...")
    unknown = sorted(str(k) for k in value if k not in KNOWN_KEYS)
    if unknown:
        raise ConfigError(
            f"settings.GATEPAY has unknown keys {', '.join(unknown)} "
            f"(known: {', '.join(KNOWN_KEYS)})"
        )
    return dict(value)


def middleware_settings() -> dict[str, Any]:
    """Keyword arguments for ``GatePayMiddleware`` from ``settings.GATEPAY``."""
    flat = {_key(name): value for name, value in gatepay_settings().items()}

    def load(spec: str, setting: str) -> Any:
        target = load_object(spec, setting)
        pages = setting in (_key("return"), _key("timeout"))
        return django_pages(target) if pages and callable(target) else target

    return middleware_options(flat, setting_name=_key, load=load)


@contextmanager
def as_a_request(environ: WSGIEnvironment) -> Iterator[None]:
    """Run a handler as Django runs a view: the request signals around it (old DB
    connections closed before and after) and this request's script prefix."""
    previous = get_script_prefix()
    set_script_prefix(get_script_name(environ))
    signals.request_started.send(sender=WSGIHandler, environ=environ)
    try:
        yield
    finally:
        signals.request_finished.send(sender=WSGIHandler)
        set_script_prefix(previous)


def django_response_app(response: HttpResponseBase) -> WSGIApplication:
    """A Django response as a WSGI app, written as Django's own handler writes it."""

    def app(environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        status = f"{response.status_code} {response.reason_phrase}"
        headers = [
            *response.items(),
            *(("Set-Cookie", cookie.output(header="")) for cookie in response.cookies.values()),
        ]
        start_response(status, headers)
        result: Iterable[bytes] = response
        return result

    return app


def django_pages(handler: Callable[..., Any]) -> Callable[..., Any]:
    """A page handler that may answer with a Django response."""

    def page(visit: Any) -> Any:
        answer = handler(visit)
        return django_response_app(answer) if isinstance(answer, HttpResponseBase) else answer

    page.__wrapped__ = handler  # type: ignore[attr-defined]
    return page


def get_wsgi_application() -> GatePayMiddleware:
    """``application = get_wsgi_application()``: Django's, with the GatePay callbacks."""
    from django.core.wsgi import get_wsgi_application as django_application

    application = django_application()  # django.setup(): settings and apps are ready
    return GatePayMiddleware(application, handler_context=as_a_request, **middleware_settings())


__all__ = ["ConfigError", "as_a_request", "get_wsgi_application", "middleware_settings"]

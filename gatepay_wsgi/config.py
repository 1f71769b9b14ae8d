"""Settings as strings (an .ini file, the environment) -> ``GatePayMiddleware`` arguments.

``middleware_options({"appkey": ..., "notify": "/gatepay/notify shop.payments:mark_paid"})``
is what the Pyramid include and the PasteDeploy filter share. An endpoint setting is a
path and a dotted handler name; numbers are converted here; every mistake is a
``ConfigError`` that names the setting.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any

from .endpoints import Endpoint, Return, Timeout
from .notify import Notify

#: Setting name -> endpoint class, in the order the gateway's console lists them.
ENDPOINT_SETTINGS: dict[str, type[Endpoint]] = {
    "notify": Notify,
    "return": Return,
    "timeout": Timeout,
}
_NOTIFY_INTS = ("max_body_size", "clock_skew")


class ConfigError(ValueError):
    """A setting is missing or wrong; the message names it."""


def load_object(spec: str, setting: str) -> Any:
    """``load_object("shop.payments:mark_paid", "gatepay.notify")`` -> the object.

    ``package.module.attribute`` is accepted too, as Pyramid writes dotted names.
    """
    module_name, colon, attribute = spec.strip().partition(":")
    if not colon:
        module_name, _, attribute = spec.strip().rpartition(".")
    if not module_name or not attribute:
        raise ConfigError(f"{setting}: {spec!r} is not package.module:function")
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as error:
        raise ConfigError(f"{setting}: cannot import {module_name}: {error}") from None
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ConfigError(f"{setting}: {module_name} has no {attribute!r}") from None
    return target


def load_handler(spec: str, setting: str) -> Callable[..., Any]:
    """``load_handler("shop.payments:mark_paid", "--handler")`` -> a callable, or ConfigError."""
    handler = load_object(spec, setting)
    if not callable(handler):
        raise ConfigError(f"{setting}: {spec!r} is not callable")
    result: Callable[..., Any] = handler
    return result


def build_endpoint(kind: str, handler: Any, setting: str, **options: Any) -> Endpoint:
    """``build_endpoint("notify", "shop.payments:mark_paid", "gatepay.notify")`` -> Notify."""
    if isinstance(handler, Endpoint):
        return handler
    if isinstance(handler, str):
        handler = load_handler(handler, setting)
    if not callable(handler):
        raise ConfigError(f"{setting}: expected a handler, got {handler!r}")
    return ENDPOINT_SETTINGS[kind](handler, **options)


def middleware_options(
    settings: Mapping[str, Any],
    prefix: str = "",
    *,
    setting_name: Callable[[str], str] | None = None,
    paths: Mapping[str, Endpoint] | None = None,
) -> dict[str, Any]:
    """Keyword arguments for ``GatePayMiddleware`` from flat string settings.

    Reads ``appkey``, ``appsecret``, ``inbox``, ``max_body_size``, ``clock_skew`` and,
    for each of ``notify``, ``return`` and ``timeout``, ``<path> <package.module:function>``,
    each under ``prefix`` (or the key ``setting_name(name)`` gives). ``paths`` adds
    endpoints built in code.
    """
    key = setting_name or (lambda name: prefix + name)

    def text(name: str) -> str:
        return str(settings.get(key(name)) or "").strip()

    def number(name: str) -> int | None:
        if not text(name):
            return None
        try:
            return int(text(name))
        except ValueError:
            raise ConfigError(f"{key(name)}: {text(name)!r} is not a whole number") from None

    for name in ("appkey", "appsecret"):
        if not text(name):
            raise ConfigError(f"{key(name)} is missing or empty")
    notify_options = {n: v for n in _NOTIFY_INTS if (v := number(n)) is not None}
    endpoints: dict[str, Endpoint] = {}
    for kind in ENDPOINT_SETTINGS:
        if not text(kind):
            continue
        path, _, spec = text(kind).partition(" ")
        if not path.startswith("/") or not spec.strip():
            raise ConfigError(f"{key(kind)}: write it as '/path package.module:function'")
        extra = notify_options if kind == "notify" else {}
        endpoints[path] = build_endpoint(kind, spec.strip(), key(kind), **extra)
    endpoints.update(paths or {})
    if not any(isinstance(e, Notify) for e in endpoints.values()):
        raise ConfigError(f"{key('notify')} is missing: name the notify path and its handler")
    options: dict[str, Any] = {
        "appkey": text("appkey"),
        "appsecret": text("appsecret"),
        "paths": endpoints,
    }
    if text("inbox"):
        options["inbox"] = text("inbox")
    return options

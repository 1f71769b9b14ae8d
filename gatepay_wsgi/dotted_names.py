"""``load_handler("shop.payments:mark_paid", "--handler")``: objects named in settings.

Settings, the command line and the console name a handler as ``package.module:function``;
this is the one place that imports it. Its own module, below ``config`` and ``console``,
because both need it and ``config`` builds the console.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from .errors import ConfigError


def load_object(spec: str, setting: str) -> Any:
    """``load_object("shop.payments:mark_paid", "gatepay.notify")`` -> the object.

    ``package.module.attribute`` is accepted too, as Pyramid writes dotted names. A
    relative name (``.payments:mark_paid``) has no package to be relative to here: the
    Pyramid include resolves those itself.
    """
    if spec.strip().startswith((".", ":")):
        raise ConfigError(
            f"{setting}: {spec!r} is relative; write the whole name, package.module:function"
        )
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

"""Settings as strings (an .ini file, the environment) -> ``GatePayMiddleware`` arguments.

``middleware_options({"appkey": ..., "notify": "/gatepay/notify shop.payments:mark_paid"})``
is what the framework integrations and the PasteDeploy filter share. An endpoint setting
is a path and a dotted handler name; numbers are converted here; the inbox URL is opened
here; every mistake is a ``ConfigError`` that names the setting.

Two kinds of start-up failure stay apart: a setting written wrong is a ``ConfigError``
(a ``ValueError``: fix the .ini); an inbox that is written right but cannot be used
(a missing folder, a file owned by another user, a database that refuses the login) is
``InboxNotWritable`` (an ``InboxUnavailable``: fix the machine), raised unchanged.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any
from urllib.parse import urlsplit

from .dotted_names import load_object
from .endpoints import Endpoint, Return, Timeout
from .errors import ConfigError as ConfigError  # its older home: still importable here
from .inbox import Inbox, open_inbox
from .notify import Notify
from .signing import Appsecret, configured_appsecret

#: Setting name -> endpoint class, in the order the gateway's console lists them.
ENDPOINT_SETTINGS: dict[str, type[Endpoint]] = {
    "notify": Notify,
    "return": Return,
    "timeout": Timeout,
}
_NOTIFY_INTS = ("max_body_size", "clock_skew")
#: The operators' console and the metrics, mounted beside the shop (off unless set).
MOUNT_SETTINGS = ("console_path", "console_users", "console_secret", "metrics_path")
#: Every setting ``middleware_options`` reads, in the order the README lists them.
SETTINGS = ("appkey", "appsecret", "inbox", *ENDPOINT_SETTINGS, *_NOTIFY_INTS, *MOUNT_SETTINGS)


def build_endpoint(
    kind: str,
    handler: Any,
    setting: str,
    *,
    load: Callable[[str, str], Any] = load_object,
    **options: Any,
) -> Endpoint:
    """``build_endpoint("notify", "shop.payments:mark_paid", "gatepay.notify")`` -> Notify.

    ``load(spec, setting)`` resolves a dotted name (``load_object`` unless a framework
    resolves names its own way); it raises ``ConfigError``.
    """
    if isinstance(handler, Endpoint):
        return handler
    if isinstance(handler, str):
        spec, handler = handler, load(handler, setting)
        if not callable(handler):
            raise ConfigError(f"{setting}: {spec!r} is not callable")
    if not callable(handler):
        raise ConfigError(f"{setting}: expected a handler, got {handler!r}")
    return ENDPOINT_SETTINGS[kind](handler, **options)


def middleware_options(
    settings: Mapping[str, Any],
    prefix: str = "",
    *,
    setting_name: Callable[[str], str] | None = None,
    paths: Mapping[str, Endpoint] | None = None,
    load: Callable[[str, str], Any] = load_object,
    require_notify: bool = True,
) -> dict[str, Any]:
    """Keyword arguments for ``GatePayMiddleware`` from flat string settings.

    Reads ``appkey``, ``appsecret``, ``inbox``, ``max_body_size``, ``clock_skew`` and,
    for each of ``notify``, ``return`` and ``timeout``, ``<path> <package.module:function>``,
    each under ``prefix`` (or the key ``setting_name(name)`` gives). ``paths`` adds
    endpoints built in code; ``load(spec, setting)`` resolves the dotted names.

    With ``prefix``, the keys under it belong to us: one that is not a setting
    (``gatepay.inbx``) is a ``ConfigError``, since ignoring a typo would quietly give a
    memory inbox. The inbox is opened last, so a wrong setting is reported before any
    file or server is touched; ``options["inbox"]`` is then the open ``Inbox``.
    """
    key = setting_name or (lambda name: prefix + name)
    if setting_name is None:
        check_known(settings, prefix)

    def text(name: str) -> str:
        return str(settings.get(key(name)) or "").strip()

    if not text("appkey"):
        raise ConfigError(f"{key('appkey')} is missing or empty")
    appsecret = read_appsecret(settings.get(key("appsecret")), key("appsecret"))
    notify_options = read_notify_options(settings, key)
    endpoints: dict[str, Endpoint] = {}
    for kind in ENDPOINT_SETTINGS:
        if not text(kind):
            continue
        path, _, spec = text(kind).partition(" ")
        if not path.startswith("/") or not spec.strip():
            raise ConfigError(f"{key(kind)}: write it as '/path package.module:function'")
        extra = notify_options if kind == "notify" else {}
        endpoints[path] = build_endpoint(kind, spec.strip(), key(kind), load=load, **extra)
    endpoints.update(paths or {})
    if require_notify and not any(isinstance(e, Notify) for e in endpoints.values()):
        raise ConfigError(f"{key('notify')} is missing: name the notify path and its handler")
    options: dict[str, Any] = {
        "appkey": text("appkey"),
        "appsecret": appsecret,
        "paths": endpoints,
    }
    build_mounts = read_mounts(settings, key, endpoints)
    if text("inbox"):
        options["inbox"] = open_setting_inbox(text("inbox"), key("inbox"))
    mounts = build_mounts(options.get("inbox"))
    if mounts:
        options["mounts"] = mounts
    return options


def read_appsecret(value: Any, setting: str) -> Appsecret:
    """``read_appsecret("new old", "gatepay.appsecret")`` -> ``("new", "old")``: a setting's
    appsecret, or several separated by whitespace (or a list) while the gateway's secret
    is rotated, the current one first (it signs what goes out)."""
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ConfigError(f"{setting} is missing or empty")
    try:
        return configured_appsecret(value.strip() if isinstance(value, str) else value)
    except ConfigError as error:
        raise ConfigError(f"{setting}: {error}") from None


def read_mounts(
    settings: Mapping[str, Any], key: Callable[[str], str], paths: Mapping[str, Endpoint]
) -> Callable[[Inbox | None], dict[str, Any]]:
    """The console (``console_path``, ``console_users``, ``console_secret``) and the
    metrics (``metrics_path``), checked now (a wrong setting is named before the inbox is
    opened); the answer builds them as ``{path: WSGI app}`` once the inbox is open."""

    def path_of(name: str) -> str:
        path = str(settings.get(key(name)) or "").strip()
        if path and (not path.startswith("/") or path.endswith("/")):
            raise ConfigError(f"{key(name)}: write a path like /gatepay/console, got {path!r}")
        return path

    console_path, metrics_path = path_of("console_path"), path_of("metrics_path")
    users: dict[str, str] = {}
    secret = ""
    if console_path:
        if not str(settings.get(key("inbox")) or "").strip():
            raise ConfigError(f"{key('console_path')}: the console needs {key('inbox')}")
        from .console.auth import Users, check_secret  # only for a site that turns it on

        users = read_users(settings.get(key("console_users")), key("console_users"))
        secret = str(settings.get(key("console_secret")) or "").strip()
        # The same checks as Console's, here to name the setting at fault.
        try:
            Users(users)
        except ConfigError as error:
            raise ConfigError(f"{key('console_users')}: {error}") from None
        try:
            check_secret(secret)
        except ConfigError as error:
            raise ConfigError(f"{key('console_secret')}: {error}") from None
    if metrics_path:
        try:
            import prometheus_client  # noqa: F401  # only to say what to install, now
        except ImportError:
            raise ConfigError(
                f"{key('metrics_path')}: metrics need prometheus_client: "
                "pip install 'gatepay_wsgi[metrics]'"
            ) from None

    def build(inbox: Inbox | None) -> dict[str, Any]:
        mounts: dict[str, Any] = {}
        if console_path:
            from .console import Console

            assert inbox is not None  # required above, before it was opened
            handler = next((e.handler for e in paths.values() if isinstance(e, Notify)), None)
            mounts[console_path] = Console(inbox, users=users, secret_key=secret, handler=handler)
        if metrics_path:
            from .metrics import GatePayMetrics

            # One per process: an app built again replaces the first one's (metrics.py).
            mounts[metrics_path] = GatePayMetrics(inbox=inbox).wsgi_app()
        return mounts

    return build


def read_users(value: Any, setting: str) -> dict[str, str]:
    """``{"alice": "scrypt:...$...$..."}`` from a mapping, or from ``"alice=HASH bob=HASH"``
    (an .ini or the environment: whitespace or commas between, ``=`` in each)."""
    if isinstance(value, Mapping):
        return {str(name): str(hashed) for name, hashed in value.items()}
    users: dict[str, str] = {}
    for item in str(value or "").replace(",", " ").split():
        name, equals, hashed = item.partition("=")
        if not equals or not name or not hashed:
            raise ConfigError(f"{setting}: write name=password-hash pairs, got {item[:20]!r}...")
        users[name] = hashed
    return users


def read_notify_options(settings: Mapping[str, Any], key: Callable[[str], str]) -> dict[str, int]:
    """``{"max_body_size": 4096}`` from the settings named ``key("max_body_size")`` and
    ``key("clock_skew")``: whole numbers (a Django int or an .ini string), else ConfigError."""
    options: dict[str, int] = {}
    for name in _NOTIFY_INTS:
        value = settings.get(key(name))
        if value is None or str(value).strip() == "":
            continue
        try:
            options[name] = int(str(value).strip())
        except ValueError:
            raise ConfigError(f"{key(name)}: {value!r} is not a whole number") from None
        if options[name] < (1 if name == "max_body_size" else 0):
            least = "positive" if name == "max_body_size" else "0 or more"
            raise ConfigError(f"{key(name)}: {value!r} must be {least}")
    return options


def check_known(settings: Iterable[str], prefix: str = "") -> None:
    """``check_known(settings, "gatepay.")``: ConfigError naming each key under ``prefix``
    that is not one of ``SETTINGS`` (with ``prefix=""``, every key), listing the known."""
    unknown = sorted(
        k for k in settings if k.startswith(prefix) and k[len(prefix) :] not in SETTINGS
    )
    if unknown:
        known = ", ".join(prefix + name for name in SETTINGS)
        raise ConfigError(f"unknown setting {', '.join(unknown)} (known: {known})")


def open_setting_inbox(url: str, setting: str) -> Inbox:
    """``open_setting_inbox("sqlite:///gatepay.sqlite3", "gatepay.inbox")`` -> the inbox.

    A URL written wrong (its form, scheme or options) is a ``ConfigError`` naming the
    setting; an inbox this process cannot write raises ``InboxNotWritable`` unchanged.
    """
    try:
        return open_inbox(url)
    except ValueError as error:  # InboxNotWritable is no ValueError: it goes through
        message = str(error).replace(url, hide_password(url))
        raise ConfigError(f"{setting}: {message}") from None


def hide_password(url: str) -> str:
    """The URL for an error message: a start-up traceback must not show the password."""
    try:
        password = urlsplit(url).password
    except ValueError:  # a malformed netloc (an unclosed "[")
        return url
    return url.replace(f":{password}@", ":***@") if password else url

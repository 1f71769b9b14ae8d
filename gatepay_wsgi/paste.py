"""PasteDeploy: a filter for legacy stacks, configured from the .ini::

    [filter:gatepay]
    use = egg:gatepay_wsgi
    appkey = ...
    appsecret = ...
    inbox = sqlite:///%(here)s/gatepay.sqlite3
    notify = /gatepay/notify shop.payments:mark_paid
    return = /gatepay/return shop.payments:thank_you
    timeout = /gatepay/timeout shop.payments:closed
    max_body_size = 65536

    [pipeline:main]
    pipeline = gatepay shop

Values arrive as strings and are converted here; a wrong one raises ``ConfigError``
naming it when the pipeline is loaded, and so does an option that is not a setting.

PasteDeploy drops a section's option when a global (``[DEFAULT]``, ``loadapp(...,
global_conf=...)``, ``pserve site.ini inbox=...``) has the same name: the filter is
never shown the line. Such a setting is a ``ConfigError`` too (else ``inbox`` would
quietly become a memory inbox): name the global apart (``inbox = %(gatepay_inbox)s``),
or take the global on purpose with ``get inbox = inbox``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import SETTINGS, middleware_options
from .errors import ConfigError
from .middleware import GatePayMiddleware

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


def filter_app_factory(
    app: WSGIApplication, global_conf: dict[str, Any], **local_conf: Any
) -> GatePayMiddleware:
    """The ``paste.filter_app_factory`` entry point (``use = egg:gatepay_wsgi``).

    Only the section's own options are read and checked: the globals are every
    section's (``here``, ``__file__``, the variables the .ini is filled in with).
    """
    shadowed = [name for name in SETTINGS if name in global_conf and name not in local_conf]
    if shadowed:
        name = shadowed[0]
        raise ConfigError(
            f"{', '.join(shadowed)}: a global has this name, so PasteDeploy drops the "
            f"filter's own line; name the global apart ({name} = %(gatepay_{name})s), "
            f"or take the global on purpose with: get {name} = {name}"
        )
    return GatePayMiddleware(app, **middleware_options(local_conf))

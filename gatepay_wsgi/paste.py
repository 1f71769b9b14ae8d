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
naming it when the pipeline is loaded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .config import middleware_options
from .middleware import GatePayApp, GatePayMiddleware

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication


def filter_app_factory(
    app: WSGIApplication, global_conf: dict[str, Any], **local_conf: Any
) -> GatePayApp:
    """The ``paste.filter_app_factory`` entry point (``use = egg:gatepay_wsgi``)."""
    return GatePayMiddleware(app, **middleware_options(local_conf))

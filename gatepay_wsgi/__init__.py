"""Verified GatePay payment callbacks for any WSGI app.

::

    from gatepay_wsgi import GatePayMiddleware, Notify, Return, Timeout

    app.wsgi_app = GatePayMiddleware(app.wsgi_app, appkey=KEY, appsecret=SECRET, paths={
        "/gatepay/notify": Notify(mark_paid),
        "/gatepay/return": Return(thank_you_page),
        "/gatepay/timeout": Timeout(closed_page),
    })
"""

from .callbacks import Notification, ReturnVisit, TimeoutVisit
from .endpoints import Return, Timeout
from .errors import GatePayError, GatePayException
from .middleware import GatePayMiddleware
from .notify import Notify
from .pages import redirect

__all__ = [
    "GatePayError",
    "GatePayException",
    "GatePayMiddleware",
    "Notification",
    "Notify",
    "Return",
    "ReturnVisit",
    "Timeout",
    "TimeoutVisit",
    "redirect",
]
__version__ = "0.1.0"

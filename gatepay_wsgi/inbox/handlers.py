"""The one place the merchant's notify handler is called: ``run_handler(mark_paid, n)``."""

from __future__ import annotations

import logging
from collections.abc import Callable

from ..callbacks import Notification

logger = logging.getLogger("gatepay_wsgi")

#: Characters of a handler's error kept in the record.
MAX_ERROR = 2000


def run_handler(
    handler: Callable[[Notification], object], notification: Notification, log_suffix: str = ""
) -> tuple[bool, str | None]:
    """Call a notify handler: ``(True, None)``, or ``(False, why)`` when it declined or raised.

    Returning ``False`` declines; raising is logged with its traceback.
    """
    try:
        answer = handler(notification)
    except Exception as error:
        logger.exception(
            "notify failed reason=handler_error %s%s", notification_ids(notification), log_suffix
        )
        return False, f"{type(error).__name__}: {error}"[:MAX_ERROR]
    if answer is False:
        logger.warning(
            "notify failed reason=handler_declined %s%s", notification_ids(notification), log_suffix
        )
        return False, "handler returned False"
    return True, None


def notification_ids(notification: Notification) -> str:
    """A notify's ids for a log line (built only when one is logged)."""
    return f"order_id={notification.order_id} out_order_id={notification.out_order_id[:40]!r}"

"""What happens to notifies, as blinker signals: ``notify_failed.connect(alert)``.

::

    from gatepay_wsgi.signals import notify_failed_for_good

    @notify_failed_for_good.connect
    def alert(endpoint, notification, error, **extra):
        post_to_chat(f"order {notification.out_order_id} not handled: {error}")

Each signal is sent by the endpoint (the ``Notify``) or, for replays, the inbox, with
keyword arguments:

- ``notify_received``: a verified notify, before it is claimed (``notification``,
  ``remote_addr``);
- ``notify_refused``: a request refused (``reason``, the stable reason code, ``field``,
  ``remote_addr``, ``order_id``, ``out_order_id``: the last two as sent, untrusted);
- ``notify_handled``: the handler accepted it (``notification``, ``duration`` in seconds);
- ``notify_failed``: the handler declined or raised (``notification``, ``error``,
  ``duration``);
- ``notify_failed_for_good``: it failed after the gateway's automatic retries are over
  (three, a minute apart: ``paytime`` lies more than ``RETRIES_OVER_AFTER`` seconds back),
  so only a person re-sending it or a replay will bring it back (``notification``,
  ``error``);
- ``notify_replayed``: one order replayed (``result``, a ``ReplayResult``, and ``by``, who
  asked, or ``None``).

A receiver runs in the request (keep it quick; a receiver that raises is logged and does
not change the answer). Signals need ``blinker`` (installed with Flask, or the
``[signals]`` extra); without it, sending is a no-op and ``connect`` says what to install.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .callbacks import Notification

logger = logging.getLogger("gatepay_wsgi")

#: Seconds after ``paytime`` when the gateway's own retries are over (3 a minute apart,
#: with a minute's grace): a notify failing later only comes back by hand or by replay.
RETRIES_OVER_AFTER = 4 * 60

__all__ = [
    "RETRIES_OVER_AFTER",
    "notify_failed",
    "notify_failed_for_good",
    "notify_handled",
    "notify_received",
    "notify_refused",
    "notify_replayed",
    "send",
    "send_outcome",
]


class _NoBlinker:
    """A signal without blinker: nobody can listen, so sending does nothing."""

    receivers: dict[Any, Any] = {}  # noqa: RUF012  # always empty, shared on purpose

    def __init__(self, name: str) -> None:
        self.name = name

    def connect(self, receiver: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        raise ImportError(
            f"gatepay_wsgi signal {self.name!r} needs blinker: pip install 'gatepay_wsgi[signals]'"
        )

    def send(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []


try:
    from blinker import Namespace
except ImportError:  # pragma: no cover - the [signals] extra, or Flask, installs it
    _make: Callable[[str], Any] = _NoBlinker
else:
    _make = Namespace().signal

notify_received = _make("notify-received")
notify_refused = _make("notify-refused")
notify_handled = _make("notify-handled")
notify_failed = _make("notify-failed")
notify_failed_for_good = _make("notify-failed-for-good")
notify_replayed = _make("notify-replayed")


def send(signal: Any, sender: Any, **data: Any) -> None:
    """``send(notify_failed, endpoint, notification=n, error=...)``, only where somebody
    listens (the notify's hot path pays one attribute read otherwise); a receiver that
    raises is logged and never changes the answer."""
    if not signal.receivers:
        return
    try:
        signal.send(sender, **data)
    except Exception:
        logger.exception("a receiver of the %s signal raised", signal.name)


def send_outcome(
    sender: Any, notification: Notification, ok: bool, error: str | None, duration: float
) -> None:
    """A handler's outcome to whoever listens: ``notify_handled``, or ``notify_failed``
    and, once the gateway's own retries are over, ``notify_failed_for_good``."""
    if ok:
        send(notify_handled, sender, notification=notification, duration=duration)
        return
    send(notify_failed, sender, notification=notification, error=error, duration=duration)
    if time.time() - notification.paytime > RETRIES_OVER_AFTER:
        send(notify_failed_for_good, sender, notification=notification, error=error)

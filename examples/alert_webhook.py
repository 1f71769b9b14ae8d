"""Post an alert to a chat webhook when a payment notify fails: the signals at work.

``GATEPAY_ALERT_WEBHOOK=https://chat.example/hook`` and import this module once at
start-up (next to where the middleware is built): every notify whose handler failed
after the gateway's own retries were over (only a person, or a replay, brings it back)
is posted there as ``{"text": ...}``, which most chat webhooks (WeCom, DingTalk, Feishu,
Slack) accept. Needs blinker (``pip install "gatepay_wsgi[signals]"``; Flask has it).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import urllib.request

from gatepay_wsgi.signals import notify_failed_for_good

logger = logging.getLogger("shop.alerts")
WEBHOOK = os.environ.get("GATEPAY_ALERT_WEBHOOK", "")


def alert_text(notification, error) -> str:
    return (
        f"GatePay notify for order {notification.out_order_id} "
        f"(gateway order {notification.order_id}, {notification.realprice} yuan) failed "
        f"after the gateway's retries: {error}. Replay it from the console once fixed."
    )


def post(text: str, url: str = WEBHOOK) -> None:
    """POST ``{"text": text}``; a chat that is down never fails the payment path."""
    body = json.dumps({"text": text}).encode()
    request = urllib.request.Request(url, body, {"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            answer.read()
    except OSError:
        logger.exception("the alert could not be posted: %s", text)


@notify_failed_for_good.connect
def on_failed_for_good(endpoint, notification, error, **extra) -> None:
    # In a thread of its own: the gateway's answer does not wait for the chat.
    if WEBHOOK:
        threading.Thread(target=post, args=(alert_text(notification, error),)).start()

"""The sandbox's notifies: ``notifier.post(order, AttemptKind.AUTO)`` POSTs one, keeps
the answer.

As the gateway does: a notify answered with anything but ``success`` (any status, or no
answer) is retried ``retries`` times, ``retry_interval`` apart (60 s at the gateway); the
merchant can re-send one by hand from the console at any time.
"""

from __future__ import annotations

import logging
import threading
import time

from .. import outbound
from ..outbound import Unreachable
from ..signing import notify_sign
from .orders import Attempt, AttemptKind, SandboxOrder
from .texts import LANGUAGES, TEXTS

logger = logging.getLogger("gatepay_wsgi.sandbox")


def _text(body: bytes) -> str:
    """A shop's answer as text; bytes that are not UTF-8 show as U+FFFD, never raise."""
    return body.decode("utf-8", "replace")


class Notifier:
    """Sends the signed notifies of one merchant; ``stop()`` ends its retry threads."""

    def __init__(
        self,
        *,
        appkey: str,
        appsecret: str,
        notify_url: str,
        lock: threading.RLock,
        retry_interval: float = 60.0,
        retries: int = 3,
        notify_timeout: float = 10.0,
    ) -> None:
        self.appkey, self.appsecret, self.notify_url = appkey, appsecret, notify_url
        self.lock = lock  # the order book's: an order's attempts change under it
        self.retry_interval, self.retries = retry_interval, retries
        self.notify_timeout = notify_timeout
        self.stopping = threading.Event()

    def stop(self) -> None:
        self.stopping.set()

    def fields(self, order: SandboxOrder) -> dict[str, str]:
        """The signed notify the gateway sends for a paid order."""
        fields = {
            "order_id": str(order.order_id),
            "out_order_id": order.out_order_id,
            "price": order.price,
            "realprice": order.realprice,
            "type": order.type,
            "paytime": str(order.paytime or int(time.time())),
            "extend": order.custom,
        }
        fields["sign"] = notify_sign(fields, self.appkey, self.appsecret)
        return fields

    def post(self, order: SandboxOrder, kind: AttemptKind) -> Attempt:
        """POST the notify to the merchant and record what it answered."""
        fields = self.fields(order)
        try:  # a 4xx/5xx answer is the shop's word all the same
            answer = outbound.request(
                "POST",
                order.notify_url or self.notify_url,  # the create request's own, if it gave one
                fields,
                timeout=self.notify_timeout,
                limit=200,
            )
        except Unreachable as error:
            words = {lang: self.plain_words(error, lang) for lang in LANGUAGES}
            attempt = Attempt(time.time(), kind, None, "", words["en"], words)
        else:
            attempt = Attempt(time.time(), kind, answer.status, _text(answer.body))
        with self.lock:
            order.attempts.append(attempt)
        logger.info(
            "notify %s order_id=%s -> %s %r",
            kind,
            order.order_id,
            attempt.status or attempt.error,
            attempt.body,
        )
        return attempt

    def plain_words(self, error: Unreachable, lang: str = "en") -> str:
        """What went wrong reaching the shop, as the console shows it to a person (in
        ``lang``, ``"en"`` or ``"zh"``)."""
        texts = TEXTS[lang]
        if error.kind == "timeout":
            return texts["error_timeout"].format(seconds=f"{self.notify_timeout:g}")
        if error.kind == "bad_url":
            return texts["error_unreachable"].format(detail=error.detail)
        if error.kind in ("refused", "not_found", "reset"):
            return texts[f"error_{error.kind}"]
        return texts["error_unreachable"].format(detail=error.detail.lower())

    def retry_later(self, order: SandboxOrder) -> None:
        """Retry in the background until acknowledged, ``retries`` times at the most."""

        def retry() -> None:
            for _ in range(self.retries):
                if self.stopping.wait(self.retry_interval) or order.acknowledged:
                    return
                self.post(order, AttemptKind.RETRY)

        threading.Thread(target=retry, name=f"sandbox-retry-{order.order_id}", daemon=True).start()

"""What the sandbox gateway keeps, and what every route asks of it: ``SandboxState``.

The merchant's credentials and URLs, the create API's rules, the cloud sessions, the
order book and the notifier; an order by its id (404 if none) and the signed return URL
of a paid one. ``app.py``'s ``Sandbox`` is this state answering requests.
"""

from __future__ import annotations

from werkzeug.exceptions import NotFound

from ..errors import ConfigError
from ..outbound import check_http_url, with_query
from ..signing import return_sign
from .cloud_sessions import CloudSessions
from .create import CreateRules
from .notifier import Notifier
from .orders import OrderBook, SandboxOrder


class SandboxState:
    """The sandbox gateway's state; ``close()`` stops its retry threads. The parameters
    are ``Sandbox``'s (``app.py``), the WSGI app that is this state answering requests."""

    def __init__(
        self,
        *,
        appkey: str,
        appsecret: str,
        notify_url: str,
        return_url: str,
        timeout_url: str | None = None,
        retry_interval: float = 60.0,
        retries: int = 3,
        notify_timeout: float = 10.0,
        sessions: CloudSessions | None = None,
        quick_pay_token: str = "sandbox-token",  # noqa: S107  # the console shows it
    ) -> None:
        if not appkey or not appsecret:
            raise ConfigError("the sandbox needs the merchant's appkey and appsecret")
        self.appkey, self.appsecret = appkey, appsecret
        # Empty URLs are allowed: the create API then answers 109 or 108, as the gateway
        # does for a console without them.
        self.return_url, self.timeout_url = return_url, timeout_url
        self.rules = CreateRules(appkey, appsecret)
        self.quick_pay_token = quick_pay_token
        self.sessions = CloudSessions() if sessions is None else sessions
        self.book = OrderBook()
        self.notifier = Notifier(
            appkey=appkey,
            appsecret=appsecret,
            notify_url=check_http_url(notify_url, "notify_url") if notify_url else "",
            lock=self.book.lock,
            retry_interval=retry_interval,
            retries=retries,
            notify_timeout=notify_timeout,
        )

    @property
    def notify_url(self) -> str:
        """Where notifies go; the console's settings may change it."""
        return self.notifier.notify_url

    @notify_url.setter
    def notify_url(self, url: str) -> None:
        self.notifier.notify_url = check_http_url(url, "notify_url") if url else ""

    @property
    def orders(self) -> dict[int, SandboxOrder]:
        """Every order, by gateway order id (read them under ``book.lock``)."""
        return self.book.orders

    def close(self) -> None:
        self.notifier.stop()

    def order(self, order_id: int) -> SandboxOrder:
        """The order ``order_id``; ``NotFound`` (a 404) if there is none."""
        order = self.book.get(order_id)
        if order is None:
            raise NotFound(f"no order {order_id}")
        return order

    def return_url_for(self, order: SandboxOrder) -> str:
        """Where the gateway sends the buyer of a paid order: the return URL, signed."""
        fields = {
            "price": order.price,
            "type": order.type,
            "product_id": order.product_id,  # stablepay's product; empty for any amount
            "order_id": str(order.order_id),
            "out_order_id": order.out_order_id,
        }
        fields["sign"] = return_sign(fields, self.appkey, self.appsecret)
        return with_query(order.return_url or self.return_url, fields)

"""The sandbox's orders: ``order = book.open(price, fields)``, and the notifies sent for them.

``realprice`` is the price less a cent for each other open order of the same amount and
pay type, as gateways of this kind do to tell concurrent payments apart. The create API
takes a price with up to two decimals; an order keeps it with exactly two (``10.00``), as
the notify and return carry it. State lives in memory.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum


class OrderStatus(str, Enum):
    """Where a sandbox order stands (reads as its value: ``"open"``)."""

    OPEN = "open"
    PAID = "paid"
    CLOSED = "closed"

    def __str__(self) -> str:
        return self.value


class AttemptKind(str, Enum):
    """Why a notify was sent: on paying, as one of the retries, or by the console."""

    AUTO = "auto"
    RETRY = "retry"
    MANUAL = "manual"

    def __str__(self) -> str:
        return self.value


OPEN, PAID, CLOSED = OrderStatus.OPEN, OrderStatus.PAID, OrderStatus.CLOSED

#: An order's name by the API that opened it: anypay's as the page's example shows it
#: ("任意金额支付:1.88元"); the others in the same shape, from their APIs' names (the
#: page shows no example of theirs).
ORDER_NAMES = {
    "anypay": "任意金额支付:{price}元",
    "cloudpay": "任意金额支付:{price}元",
    "grouppay": "组合商品支付:{price}元",
    "stablepay": "固定商品支付:{price}元",
    "quickpay": "快捷收款:{price}元",
}


@dataclass
class Attempt:
    """One notify sent to the merchant, and what it answered."""

    at: float
    kind: AttemptKind
    status: int | None
    body: str
    error: str | None = None  # why no answer came, in plain words
    #: ``error`` in each language of the console's pages (``{"zh": ...}``), if known.
    error_words: dict[str, str] = field(default_factory=dict, compare=False, repr=False)

    @property
    def acknowledged(self) -> bool:
        return self.body.strip() == "success"


@dataclass
class SandboxOrder:
    """One payment the sandbox opened."""

    order_id: int
    out_order_id: str
    price: str
    realprice: str
    type: str
    custom: str
    created_at: float
    product_id: str = ""  # stablepay's product: the return visit carries it
    name: str = ""  # the payment-result query's order_name
    notify_url: str = ""  # the create request's own URLs ("": the console's)
    return_url: str = ""
    status: OrderStatus = OPEN
    paytime: int | None = None
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def acknowledged(self) -> bool:
        return any(a.acknowledged for a in self.attempts)


class OrderBook:
    """Every order of one sandbox, by its gateway ``order_id``; ``lock`` guards them."""

    def __init__(self) -> None:
        self.orders: dict[int, SandboxOrder] = {}
        self.lock = threading.RLock()
        self._ids = itertools.count(int(time.time()) % 100000 * 1000 + 1)

    def get(self, order_id: int) -> SandboxOrder | None:
        with self.lock:
            return self.orders.get(order_id)

    def newest_first(self) -> list[SandboxOrder]:
        with self.lock:
            return sorted(self.orders.values(), key=lambda o: o.order_id, reverse=True)

    def newest_for(self, out_order_id: str) -> SandboxOrder | None:
        """The latest order the shop opened with ``out_order_id`` (the payment-result query)."""
        with self.lock:
            found = [o for o in self.orders.values() if o.out_order_id == out_order_id]
            return max(found, key=lambda o: o.order_id, default=None)

    def quick_id(self) -> str:
        """A quick-pay order's out_order_id: the gateway makes it, there being no shop order."""
        return f"QUICK{next(self._ids)}"

    def open(
        self, price: Decimal, fields: dict[str, str], product_id: str = "", kind: str = "anypay"
    ) -> SandboxOrder:
        """The open order for ``fields`` (``out_order_id``, ``type``, ``custom``): a shop's
        retry of the same create gets the same order back. ``kind``: the create API, or
        ``"quickpay"``, which names the order (``ORDER_NAMES``)."""
        with self.lock:
            for order in self.orders.values():
                if (
                    order.out_order_id == fields["out_order_id"]
                    and order.status == OPEN
                    and Decimal(order.price) == price
                    and order.type == fields["type"]
                ):
                    return order
            twins = sum(
                1
                for o in self.orders.values()
                if o.status == OPEN and Decimal(o.price) == price and o.type == fields["type"]
            )
            realprice = max(price - Decimal("0.01") * twins, Decimal("0.01"))
            order = SandboxOrder(
                order_id=next(self._ids),
                out_order_id=fields["out_order_id"],
                price=f"{price:.2f}",
                realprice=f"{realprice:.2f}",
                type=fields["type"],
                custom=fields.get("custom", ""),
                created_at=time.time(),
                product_id=product_id,
                name=ORDER_NAMES[kind].format(price=f"{price:.2f}"),
                notify_url=fields.get("notify_url", ""),
                return_url=fields.get("return_url", ""),
            )
            self.orders[order.order_id] = order
            return order

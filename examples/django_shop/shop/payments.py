"""The GatePay handlers that settings.GATEPAY names; they run as a Django request would."""

import logging

from django.db import transaction
from django.shortcuts import render

from gatepay_wsgi import Notification, ReturnVisit, TimeoutVisit

from .models import Order

logger = logging.getLogger("shop")


def mark_paid(n: Notification) -> bool:
    """Mark the order paid once: ``True`` answers ``success``, ``False`` answers ``fail``.

    The checks every handler makes (README, "The handler contract"): the order exists,
    its price is ``n.price``, ``n.extend`` is the ``custom`` sent, and an order already
    paid was paid by this same gateway order.
    """
    with transaction.atomic():
        order = Order.objects.select_for_update().filter(out_order_id=n.out_order_id).first()
        if order is None or order.price != n.price or order.custom != n.extend:
            logger.warning("notify for %r does not match an order", n.out_order_id)
            return False
        if order.status == "paid":
            return order.gateway_order_id == n.order_id
        order.status, order.gateway_order_id, order.paid_price = "paid", n.order_id, n.realprice
        order.save()
    return True


def thank_you(visit: ReturnVisit):
    # A browser link anyone can reload: it shows the order's state, it never fulfils.
    order = Order.objects.filter(out_order_id=visit.out_order_id).first()
    return render(None, "shop/order.html", {"title": "Thank you", "order": order})


def closed(visit: TimeoutVisit):
    order = Order.objects.filter(out_order_id=visit.out_order_id or "").first()
    return render(None, "shop/order.html", {"title": "Payment window closed", "order": order})

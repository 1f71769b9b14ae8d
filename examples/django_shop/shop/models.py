from decimal import Decimal

from django.db import models

from gatepay_wsgi.client import new_out_order_id

#: product id -> (name, price)
PRODUCTS = {
    "tea": ("A pot of tea", Decimal("10.00")),
    "cake": ("A slice of cake", Decimal("25.50")),
}


class Order(models.Model):
    """An order; ``out_order_id`` from ``new_out_order_id()`` (no boundary shift turns one
    into another), ``custom`` what the gateway sends back as the notify's ``extend``."""

    out_order_id = models.CharField(max_length=32, unique=True, default=new_out_order_id)
    product = models.CharField(max_length=20)
    price = models.DecimalField(max_digits=14, decimal_places=2)
    custom = models.CharField(max_length=255)
    status = models.CharField(max_length=10, default="pending")
    gateway_order_id = models.BigIntegerField(null=True)
    paid_price = models.DecimalField(max_digits=14, decimal_places=2, null=True)
    created_at = models.DateTimeField(auto_now_add=True)

    @property
    def name(self) -> str:
        return PRODUCTS[self.product][0]

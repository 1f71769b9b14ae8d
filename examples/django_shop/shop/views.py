from django.conf import settings
from django.http import HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from gatepay_wsgi.client import GatePayClient, GatewayError

from .models import PRODUCTS, Order


@require_GET
def home(request):
    orders = Order.objects.order_by("-created_at")[:10]
    return render(request, "shop/home.html", {"products": PRODUCTS, "orders": orders})


@require_POST
def create_order(request):
    product = request.POST.get("product", "")
    if product not in PRODUCTS:
        return HttpResponseBadRequest("Not for sale.")
    order = Order.objects.create(product=product, price=PRODUCTS[product][1], custom="demo buyer")
    if not settings.SHOP_GATEWAY_URL:  # no gateway configured: the order page
        return redirect("order", out_order_id=order.out_order_id)
    client = _gateway()
    try:
        payment = client.create(
            price=order.price,
            type=request.POST.get("type") or "alipay",
            out_order_id=order.out_order_id,
            custom=order.custom,
        )
    except (GatewayError, ValueError) as error:
        context = {"title": "Payment not available", "order": order, "error": str(error)}
        return render(request, "shop/order.html", context, status=400)
    return redirect(payment.pay_url)


def _gateway():
    gatepay = settings.GATEPAY
    return GatePayClient(settings.SHOP_GATEWAY_URL, gatepay["APPKEY"], gatepay["APPSECRET"])


@require_GET
def show_order(request, out_order_id):
    order = Order.objects.filter(out_order_id=out_order_id).first()
    context = {"title": "Your order", "order": order}
    if order is not None and order.status == "pending" and settings.SHOP_GATEWAY_URL:
        # The payment-result query: not signed, so shown only; the notify marks it paid.
        try:
            found = _gateway().check(order.out_order_id)
        except GatewayError as error:
            context["gateway_says"] = error.message
        else:
            context["gateway_says"] = found.order_status + (" (timed out)" if found.expired else "")
    return render(request, "shop/order.html", context)

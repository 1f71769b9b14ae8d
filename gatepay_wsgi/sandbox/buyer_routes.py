"""The buyer's routes at the sandbox gateway: the pay page, the quick-pay link, "Pay" and
"Let it time out". Each is ``route(sandbox, request, **url_args)``.

"Pay" marks the order paid and POSTs its notify: on ``success`` the browser goes on to
the signed return URL, else the page waits while the notifier retries. "Let it time
out" closes the order and sends the browser to the timeout URL.
"""

from __future__ import annotations

import time

from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from ..client import PAY_TYPES
from ..outbound import with_query
from . import layout, pay_page
from .create import read_create_price
from .gateway_api import order_for_shop
from .orders import CLOSED, OPEN, PAID, AttemptKind
from .state import SandboxState


def show_pay_page(sandbox: SandboxState, request: Request, order_id: int) -> Response:
    """``/pay/<order_id>``: the pay page of the order in its state (JSON for ``api_url``)."""
    order = sandbox.order(order_id)
    if request.args.get("format") == "json":  # the api_url: a shop draws its own page
        return order_for_shop(request, order)
    if order.status == PAID and order.acknowledged:
        return redirect(sandbox.return_url_for(order), 303)
    lang = layout.page_language(request)
    amount = layout.amount(lang, order.realprice, order.type)
    if order.status == PAID:
        tries, of = len(order.attempts), sandbox.notifier.retries + 1
        body = pay_page.waiting_body(lang, amount, tries, of)
        return layout.page_for(request, layout.title(lang, "title_waiting"), body, refresh=2)
    if order.status == CLOSED:
        body = pay_page.closed_body(lang)
        return layout.page_for(request, layout.title(lang, "title_closed"), body)
    if request.args.get("unwatched"):
        body = pay_page.unwatched_body(lang, order_id)
        return layout.page_for(request, layout.title(lang, "title_unwatched"), body)
    title = layout.title(lang, "title_pay", amount=amount)
    return layout.page_for(request, title, pay_page.pay_body(lang, order, amount))


def quick_pay(sandbox: SandboxState, request: Request) -> Response:
    """``GET /pay/any?appkey=...&token=...&price=...&custom=...&skin=0&stable=1``: the
    unsigned quick-pay link. ``stable=1`` with a price opens that order at once; else
    the buyer types the amount (prefilled with ``price``)."""
    fields = request.values
    lang = layout.page_language(request)
    if fields.get("appkey") != sandbox.appkey or fields.get("token") != sandbox.quick_pay_token:
        title = layout.title(lang, "title_link_not_valid")
        return layout.page_for(request, title, layout.message_body(lang, "link_not_valid"))
    pay_type = fields.get("type") or "alipay"
    price = read_create_price(fields.get("price", ""))
    fixed = fields.get("stable") == "1" and price is not None
    if (request.method == "POST" or fixed) and price is not None and price > 0:
        if pay_type not in PAY_TYPES or not sandbox.sessions.online_for(pay_type):
            title = layout.title(lang, "title_not_available")
            return layout.page_for(request, title, layout.message_body(lang, "not_available"))
        order = sandbox.book.open(
            price,
            {
                "out_order_id": sandbox.book.quick_id(),
                "type": pay_type,
                "custom": fields.get("custom", ""),
            },
            kind="quickpay",
        )
        return redirect(f"/pay/{order.order_id}", 303)
    title = layout.title(lang, "title_quick_pay")
    return layout.page_for(request, title, pay_page.quick_pay_body(lang, fields.to_dict()))


def pay(sandbox: SandboxState, request: Request, order_id: int) -> Response:
    """ "Pay": the order is paid, its notify POSTed; on ``success`` on to the return URL."""
    order = sandbox.order(order_id)
    if not sandbox.sessions.online_for(order.type):  # the account dropped off meanwhile
        return redirect(f"/pay/{order_id}?unwatched=1", 303)
    with sandbox.book.lock:
        if order.status != OPEN:
            return redirect(f"/pay/{order_id}", 303)
        order.status, order.paytime = PAID, int(time.time())
    if sandbox.notifier.post(order, AttemptKind.AUTO).acknowledged:
        return redirect(sandbox.return_url_for(order), 303)
    sandbox.notifier.retry_later(order)
    return redirect(f"/pay/{order_id}", 303)


def time_out(sandbox: SandboxState, request: Request, order_id: int) -> Response:
    """ "Let it time out": the order closes unpaid, the browser goes to the timeout URL."""
    order = sandbox.order(order_id)
    with sandbox.book.lock:
        if order.status == OPEN:
            order.status = CLOSED
    if not sandbox.timeout_url:
        return redirect(f"/pay/{order_id}", 303)
    fields = {"out_order_id": order.out_order_id, "order_id": str(order.order_id)}
    return redirect(with_query(sandbox.timeout_url, fields), 303)

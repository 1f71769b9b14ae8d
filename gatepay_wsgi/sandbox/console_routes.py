"""The merchant console's routes at the sandbox gateway: the console page, its settings,
"I have received this payment" (re-send a notify by hand), and the cloud sessions'
scan and take-offline buttons. Each is ``route(sandbox, request, **url_args)``.
"""

from __future__ import annotations

import time
from urllib.parse import urlencode

from werkzeug.utils import redirect
from werkzeug.wrappers import Request, Response

from ..client import PAY_TYPES
from ..outbound import check_http_url
from . import layout, merchant_console
from .cloud_sessions import ScanRefused
from .create import FAULTS
from .orders import PAID, AttemptKind
from .state import SandboxState
from .texts import notice


def console(sandbox: SandboxState, request: Request) -> Response:
    """``/console``: the merchant's URLs, sessions, every order and its notifies, settings."""
    lang = layout.page_language(request)
    message = notice(request.args.get("message", ""), lang)
    sessions = merchant_console.sessions_section(lang, sandbox.sessions, message)
    quick = merchant_console.quick_pay_link(sandbox.appkey, sandbox.quick_pay_token)
    settings = merchant_console.settings_form(
        lang, sandbox.rules, sandbox.notify_url, sandbox.return_url, quick
    )
    body = merchant_console.console_body(
        lang, sandbox.appkey, sandbox.notify_url, sandbox.book.newest_first(), sessions, settings
    )
    return layout.page_for(request, layout.title(lang, "title_console"), body)


def settings(sandbox: SandboxState, request: Request) -> Response:
    """The console's settings: URLs, the API switch, pay types, the plan's quota, stock."""
    form = request.form
    sandbox.notifier.notify_url = (
        check_http_url(form["notify_url"], "notify URL") if form.get("notify_url") else ""
    )  # not the setter: its error names the console's field
    sandbox.return_url = form.get("return_url", "")
    rules = sandbox.rules
    with rules.lock:
        rules.api_open = form.get("api_open") == "on"
        rules.closed_types = {t for t in PAY_TYPES if form.get(f"type_{t}") != "on"}
        quota = form.get("quota", "").strip()
        rules.quota = int(quota) if quota.isdigit() else None
        rules.agent = form.get("agent") == "on"
        rules.fault = form.get("fault", "") if form.get("fault") in FAULTS else ""
        for product in rules.products.values():
            stock = form.get(f"stock_{product.product_id}", "").strip()
            product.stock = int(stock) if stock.isdigit() else None
    return redirect("/console?" + urlencode({"message": "settings saved"}), 303)


def resend(sandbox: SandboxState, request: Request, order_id: int) -> Response:
    """ "I have received this payment" (我已收款): the notify again, by hand."""
    order = sandbox.order(order_id)
    with sandbox.book.lock:
        if order.status != PAID:  # received by hand, also after a timeout
            order.status, order.paytime = PAID, int(time.time())
    sandbox.notifier.post(order, AttemptKind.MANUAL)
    return redirect("/console", 303)


def scan(sandbox: SandboxState, request: Request) -> Response:
    """ "Scan to go online": a new session, or an offline one back; costs the scan fee."""
    form = request.form
    session_id = int(form["session_id"]) if form.get("session_id", "").isdigit() else None
    try:
        sandbox.sessions.scan(form.get("type", ""), form.get("label", ""), session_id)
    except ScanRefused as refused:
        return redirect("/console?" + urlencode({"message": str(refused)}), 303)
    return redirect("/console", 303)


def offline(sandbox: SandboxState, request: Request, session_id: int) -> Response:
    """ "Take offline": the session drops; its type's payments go unnoticed."""
    sandbox.sessions.take_offline(session_id)
    return redirect("/console", 303)

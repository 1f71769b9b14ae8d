"""The sandbox's JSON API and pictures, as the gateway answers them: ``create`` (the
create APIs, the cloud one included), ``check`` (the payment-result query),
``order_for_shop`` (an order's ``api_url``), ``qrcode`` and ``order_json``.

Each route is ``route(sandbox, request, **url_args)`` and answers in the gateway's
envelope (``gateway_json``): code, msg, time and data.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from typing import Any

from werkzeug.exceptions import NotFound
from werkzeug.wrappers import Request, Response

from ..gateway_answers import ORDER_EXPIRED
from ..gateway_codes import SUCCESS, SUCCESS_MESSAGE, message
from .create import CreateRefused, check_create, check_query
from .orders import CLOSED, OPEN, PAID, SandboxOrder
from .state import SandboxState

logger = logging.getLogger("gatepay_wsgi.sandbox")


def qr_data_uri(text: str) -> str:
    """``qr_data_uri(pay_url)`` -> ``"data:image/png;base64,..."``, a QR code of ``text``.

    Drawn by segno (``pip install "gatepay_wsgi[sandbox]"``); without it, ``""``: the
    answer keeps its shape and the pay page works, only the picture is missing.
    """
    try:
        import segno
    except ImportError:
        return ""
    uri: str = segno.make(text, error="m").png_data_uri(scale=4)
    return uri


def gateway_json(code: int, msg: str, data: dict[str, Any] | None = None) -> Response:
    """The gateway's answer envelope: code, msg, time (unix seconds as a string), data."""
    answer: dict[str, Any] = {"code": code, "msg": msg, "time": str(int(time.time()))}
    if data is not None:
        answer["data"] = data
    body = json.dumps(answer, ensure_ascii=False)
    return Response(body, content_type="application/json; charset=utf-8")


def create(sandbox: SandboxState, request: Request, api: str) -> Response:
    """``POST /api/{anypay,grouppay,stablepay,cloudpay}/create``: code 100 and the pay
    links, or the gateway's refusal code for the condition its page names. The cloud
    API's answer has no ``api_url`` or ``qrcode_body``, as its page shows."""
    form = {name: request.form.get(name, "") for name in request.form}
    sandbox.rules.return_url_set, sandbox.rules.notify_url_set = (
        bool(sandbox.return_url),
        bool(sandbox.notify_url),
    )
    try:
        price, product_id = check_create(
            api, form, sandbox.rules, sandbox.sessions.online_for(form.get("type", ""))
        )
        order = sandbox.book.open(price, form, product_id, kind=api)
    except CreateRefused as refused:
        logger.info("create (%s) refused: %s", api, refused)
        return gateway_json(refused.code, refused.message)
    except Exception:  # the gateway's "unknown error", never a traceback to the shop
        logger.exception("create (%s) failed", api)
        return gateway_json(199, "未知错误")
    pay_url = f"{request.host_url}pay/{order.order_id}"
    data = {
        "pay_url": pay_url,
        "api_url": pay_url + "?format=json",
        "qrcode_url": f"{request.host_url}qrcode/{order.order_id}.png",
        "qrcode_body": qr_data_uri(pay_url),
        "params": form,
    }
    if api == "cloudpay":
        del data["api_url"], data["qrcode_body"]
    return gateway_json(SUCCESS, SUCCESS_MESSAGE, data)


#: The payment-result query's ``order_status`` by the sandbox order's state. The page
#: documents only "expired"; "paid" and "unpaid" are the sandbox's own words.
CHECK_STATUSES = {OPEN: "unpaid", PAID: "paid", CLOSED: ORDER_EXPIRED}


def check(sandbox: SandboxState, request: Request) -> Response:
    """``GET /api/order/check?appkey&out_order_id&sign``: the latest order the shop opened
    with that out_order_id, or the page's code for what is wrong (201: no such order)."""
    fields = {name: request.args.get(name, "") for name in request.args}
    try:
        check_query(fields, sandbox.rules)
        order = sandbox.book.newest_for(fields["out_order_id"])
    except CreateRefused as refused:
        logger.info("check refused: %s", refused)
        return gateway_json(refused.code, refused.message)
    except Exception:  # the gateway's "unknown error", never a traceback to the shop
        logger.exception("check failed")
        return gateway_json(199, message("check", 199))
    if order is None:
        return gateway_json(201, message("check", 201))
    data = {
        "order_id": order.order_id,
        "order_name": order.name,
        "order_price": order.price,
        "order_type": order.type,
        "order_status": CHECK_STATUSES[order.status],
    }
    return gateway_json(SUCCESS, SUCCESS_MESSAGE, data)


def order_for_shop(request: Request, order: SandboxOrder) -> Response:
    """The pay page's ``?format=json`` (the ``api_url``): a shop draws its own page."""
    pay_url = f"{request.host_url}pay/{order.order_id}"
    return gateway_json(
        SUCCESS,
        SUCCESS_MESSAGE,
        {
            "order_id": order.order_id,
            "out_order_id": order.out_order_id,
            "price": order.price,
            "realprice": order.realprice,
            "type": order.type,
            "status": order.status,
            "pay_url": pay_url,
            "qrcode_body": qr_data_uri(pay_url),
        },
    )


def qrcode(sandbox: SandboxState, request: Request, order_id: int) -> Response:
    """The pay link's QR code as a PNG (``qrcode_url``)."""
    sandbox.order(order_id)
    uri = qr_data_uri(f"{request.host_url}pay/{order_id}")
    if not uri:
        raise NotFound('no QR codes without segno: pip install "gatepay_wsgi[sandbox]"')
    png = base64.b64decode(uri.partition(",")[2])
    return Response(png, content_type="image/png")


def order_json(sandbox: SandboxState, request: Request, order_id: int) -> Response:
    """``/api/orders/<order_id>``: an order and every notify attempt (the sandbox's own)."""
    order = sandbox.order(order_id)
    data = {
        "order_id": order.order_id,
        "out_order_id": order.out_order_id,
        "status": order.status,
        "acknowledged": order.acknowledged,
        "attempts": [
            {"kind": a.kind, "status": a.status, "body": a.body, "error": a.error}
            for a in order.attempts
        ],
    }
    return Response(json.dumps(data), content_type="application/json")

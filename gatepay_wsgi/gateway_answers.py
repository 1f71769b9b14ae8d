"""What the gateway answers the client, read strictly: ``read_payment`` and ``read_check``.

Every API answers ``{"code", "msg", "time", "data"}``; only code ``100`` is success.
Anything else is a ``GatewayError``: another code (with the page's words and an English
explanation, ``gateway_codes``), an answer that is not the gateway's JSON (a proxy's error
page), a success without the documented data, and a request that got no answer at all
(code ``0``). Pure standard library.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal
from http import HTTPStatus
from typing import Any

from .errors import GatePayException
from .gateway_codes import SUCCESS, explain
from .outbound import ServerAnswer, Unreachable

#: The one order status the gateway's page documents for the payment-result query.
ORDER_EXPIRED = "expired"
_PRICE = re.compile(r"(?:0|[1-9][0-9]{0,11})(?:\.[0-9]{1,2})?")  # "1.88", never "01.88"
_CLOSES_NEXT = re.compile(r"\s*[}\]]")  # after a comma: a trailing one (the page's examples)
_WHOLE = re.compile(r"0|[1-9][0-9]{0,18}")  # a number's digits as text: "100", never " 100"


class GatewayError(GatePayException):
    """The gateway refused the request (its ``code`` and ``message``), or could not be
    reached or understood (``code`` 0); ``explanation`` says it in plain English."""

    def __init__(self, code: int, message: str, explanation: str = "") -> None:
        super().__init__(f"{message} (code {code}: {explanation})" if explanation else message)
        self.code = code
        self.message = message
        self.explanation = explanation


@dataclass(frozen=True)
class Payment:
    """A created payment: send the buyer to ``pay_url``, or show ``qrcode_body``."""

    pay_url: str
    api_url: str  # the pay link with format=json: the order's details for your own page
    qrcode_url: str
    qrcode_body: str  # "data:image/png;base64,...": <img src=...> shows the QR code
    params: dict[str, str]  # the fields sent, as the gateway echoes them
    out_order_id: str  # the shop's id for this payment: the one given, or the generated one
    answer: dict[str, Any] = field(repr=False)  # the gateway's whole answer


@dataclass(frozen=True)
class OrderCheck:
    """The payment-result query's answer (付款结果查询). Not signed: it says what to expect,
    never what to fulfil; only a verified notify fulfils an order.

    ``order_status`` is the gateway's own word. Its page documents one, ``"expired"``
    (``ORDER_EXPIRED``, ``expired``); read any other as "not known to be paid".
    """

    order_id: int  # the gateway's 订单编号, as the notify's order_id carries it
    order_name: str
    order_price: Decimal
    order_type: str  # the pay type: "alipay", "wechat"
    order_status: str
    answer: dict[str, Any] = field(repr=False)  # the gateway's whole answer

    @property
    def expired(self) -> bool:
        """The order timed out unpaid (the status the page documents)."""
        return self.order_status == ORDER_EXPIRED


def _whole_number(value: object) -> int | None:
    """A JSON integer (``100``), or its digits as text (``"100"``), else ``None``: never a
    float, a bool, a sign, a space, an underscore or a leading zero."""
    if type(value) is int:  # not bool
        return value
    if isinstance(value, str) and _WHOLE.fullmatch(value):
        return int(value)
    return None


def unreachable(error: Unreachable, timeout: float) -> GatewayError:
    """A ``GatewayError`` (code 0) saying in plain words why the gateway was not reached."""
    if error.kind == "timeout":
        text = f"no answer from the gateway within {timeout:g} s"
    elif error.kind == "tls":
        text = f"TLS with the gateway failed: {error.detail}"
    elif error.kind == "refused":
        text = "the gateway refused the connection"
    else:
        text = f"the gateway cannot be reached: {error.detail}"
    return GatewayError(0, text, "the request did not reach the gateway, or no answer came")


def _without_trailing_commas(text: str) -> str:
    """``{"a": 1,}`` -> ``{"a": 1}``: the page's own examples end ``params`` with a comma,
    which strict JSON refuses; commas inside strings are left alone."""
    kept: list[str] = []
    in_string = escaped = False
    for index, char in enumerate(text):
        if escaped:
            escaped = False
        elif in_string:
            escaped = char == "\\"
            in_string = char != '"'
        elif char == '"':
            in_string = True
        elif char == "," and _CLOSES_NEXT.match(text, index + 1):
            continue
        kept.append(char)
    return "".join(kept)


def read_answer(api: str, sent: ServerAnswer) -> dict[str, Any]:
    """The gateway's JSON answer if its code is ``100``, else ``GatewayError``."""
    try:
        text = sent.body.decode("utf-8")
        try:
            answer = json.loads(text)
        except ValueError:
            answer = json.loads(_without_trailing_commas(text))
        code, message = _whole_number(answer["code"]), str(answer.get("msg", ""))
        if code is None:
            raise ValueError("no code")
    except (ValueError, KeyError, TypeError):
        kind = "an HTML page" if b"<" in sent.body[:200] else f"{len(sent.body)} bytes"
        raise GatewayError(
            0,
            f"the gateway answered HTTP {sent.status} with {kind}"
            f" ({sent.content_type or 'no type'}), not its JSON",
            "a proxy or server error page stood in for the gateway's answer",
        ) from None
    if code != SUCCESS:
        raise GatewayError(code, message, explain(api, code))
    if sent.status != HTTPStatus.OK:  # a success under an error status: not one
        raise GatewayError(
            0,
            f"the gateway answered HTTP {sent.status} with code {SUCCESS}",
            "a success answer must come with HTTP 200",
        )
    result: dict[str, Any] = answer
    return result


def _undocumented(what: str) -> GatewayError:
    return GatewayError(0, f"the gateway's success answer {what}", "not the documented answer")


def read_payment(api: str, sent: ServerAnswer, out_order_id: str) -> Payment:
    """A create API's answer as a ``Payment``, or ``GatewayError``."""
    answer = read_answer(api, sent)
    data = answer.get("data")
    if not isinstance(data, dict) or not isinstance(data.get("pay_url"), str):
        raise _undocumented("has no data.pay_url")
    return Payment(
        pay_url=data["pay_url"],
        api_url=str(data.get("api_url", "")),
        qrcode_url=str(data.get("qrcode_url", "")),
        qrcode_body=str(data.get("qrcode_body", "")),  # the cloud API sends none
        params={str(k): str(v) for k, v in (data.get("params") or {}).items()},
        out_order_id=out_order_id,
        answer=answer,
    )


def read_check(sent: ServerAnswer) -> OrderCheck:
    """The payment-result query's answer as an ``OrderCheck``, or ``GatewayError``
    (201, 订单不存在, included): every field typed, or none."""
    answer = read_answer("check", sent)
    data = answer.get("data")
    if not isinstance(data, dict):
        raise _undocumented("has no data")
    order_id = _whole_number(data.get("order_id"))
    if order_id is None or order_id < 1:
        raise _undocumented(f"has no order id: data.order_id = {data.get('order_id')!r}")
    price = data.get("order_price")
    if isinstance(price, bool) or not _PRICE.fullmatch(str(price)):
        raise _undocumented(f"has no amount: data.order_price = {price!r}")
    order_price = Decimal(str(price))
    words: dict[str, str] = {}
    for name in ("order_name", "order_type", "order_status"):
        value = data.get(name)
        if not isinstance(value, str):
            raise _undocumented(f"has no text in data.{name} ({value!r})")
        words[name] = value
    return OrderCheck(
        order_id=order_id,
        order_name=words["order_name"],
        order_price=order_price,
        order_type=words["order_type"],
        order_status=words["order_status"],
        answer=answer,
    )

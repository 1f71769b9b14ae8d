"""Reading callbacks: ``read_notification(fields, appkey=..., appsecret=...)`` -> ``Notification``.

Each reader checks that every field is present and in its strict format *before* the
sign, because the gateway concatenates fields without separators: ``"10.05" + "9.98"``
and ``"10.0" + "59.98"`` hash alike, and only strict formats tell them apart. Money is
a canonical decimal with exactly two decimals, as the gateway's page documents (精确小数点后2位,
``10.23``; no sign, exponent or leading zero: "at most two" would let the split above
through), ids and times are digits, the pay type is letters, and paytime may not lie in
the future by more than ``clock_skew`` seconds. The shifts no format can close (between
order_id, out_order_id and price, and between paytime and extend) are left to the inbox
and the handler's own check: see the README's security notes. What the readers hand
back (``Notification``, ``ReturnVisit``, ``TimeoutVisit``) is ``callbacks.py``'s. Pure
standard library.
"""

from __future__ import annotations

import operator
import re
import time
from collections.abc import Mapping
from decimal import Decimal

from .callbacks import (
    GatewayForm,
    Notification,
    ReceivedFields,
    ReturnVisit,
    TimeoutVisit,
    checked_notification,
)
from .errors import InvalidField, MissingField
from .signing import (
    NOTIFY_SIGNED_FIELDS,
    RETURN_SIGNED_FIELDS,
    Appsecret,
    matching_secret,
    verify,
)

__all__ = [
    "DEFAULT_CLOCK_SKEW",
    "MAX_ORDER_ID",
    "is_order_id",
    "parse_notification",
    "read_gateway_notify",
    "read_money",
    "read_notification",
    "read_return",
    "read_timeout",
]

#: Seconds a notify's paytime may lie ahead of this machine's clock.
DEFAULT_CLOCK_SKEW = 600

_MONEY = re.compile(r"(?:0|[1-9][0-9]{0,11})\.[0-9]{2}")  # exactly 2 decimals: "10.23"
_ORDER_ID = re.compile(r"0|[1-9][0-9]{0,18}")  # canonical: "0100" would alias order 100
_PAYTIME = re.compile(r"0|[1-9][0-9]{0,11}")
_PAY_TYPE = re.compile(r"[A-Za-z]{1,32}")
# No control character, C0, DEL or C1 (0x9b is a one-byte CSI to some terminals); a
# bidi mark is allowed, as a shop's id may be Arabic or Hebrew: ``printable`` shows it.
_OUT_ORDER_ID = re.compile(r"[^\x00-\x1f\x7f-\x9f]{1,255}")
_PRODUCT_ID = re.compile(r"[^\x00-\x1f\x7f-\x9f]{0,255}")
_SIGN = re.compile(r"[0-9A-Fa-f]{32}")
# The notify's formats in one pattern, over its checked fields joined by newlines (no
# field may hold one): one regex call where six ran. A mismatch goes the field-by-field
# way, which names the field; a match is exactly what the six patterns accept.
_NOTIFY_CHECKED = ("order_id", "out_order_id", "price", "realprice", "type", "paytime")
_NOTIFY_PATTERNS = (_ORDER_ID, _OUT_ORDER_ID, _MONEY, _MONEY, _PAY_TYPE, _PAYTIME)
_NOTIFY = re.compile("\n".join(f"(?:{p.pattern})" for p in _NOTIFY_PATTERNS))
# The same with the sign last, for a notify off the network: one call for all seven.
_SIGNED_NOTIFY_CHECKED = (*_NOTIFY_CHECKED, "sign")
_SIGNED_NOTIFY = re.compile("\n".join(f"(?:{p.pattern})" for p in (*_NOTIFY_PATTERNS, _SIGN)))
_SIGNED_NOTIFY_VALUES = operator.itemgetter(*_SIGNED_NOTIFY_CHECKED)  # in C, no frame
# The notify in the gateway's own form: its eight fields in the order its page lists them,
# nothing percent-encoded, every value in its strict format. One pattern splits and
# checks the whole body in C; a body of any other shape is parsed and read field by field
# (the same checks, a subset of what that way accepts: no value may hold "&=%+").
_PLAIN = r"[^\x00-\x1f\x7f-\x9f&=%+]"
_GATEWAY_FORM = re.compile(
    "&".join(
        f"{name}=({pattern})"
        for name, pattern in (
            ("order_id", _ORDER_ID.pattern),
            ("out_order_id", _PLAIN + "{1,255}"),
            ("price", _MONEY.pattern),
            ("realprice", _MONEY.pattern),
            ("type", _PAY_TYPE.pattern),
            ("paytime", _PAYTIME.pattern),
            ("extend", "[^&=%+]*"),
            ("sign", _SIGN.pattern),
        )
    )
)
#: The largest ``order_id`` a notify may carry: what an SQL BIGINT holds.
MAX_ORDER_ID = 2**63 - 1
_MAX_PAYTIME = 253402300799  # 9999-12-31T23:59:59Z, the last second a datetime holds


def is_order_id(value: int) -> bool:
    """``is_order_id(n)``: whether a notify can carry ``n`` as its ``order_id``.

    An id a person typed (the console, the CLI) outside ``0 .. MAX_ORDER_ID`` names no
    notify: the inbox answers it as one it does not hold, without asking its database
    (SQLite's driver raises ``OverflowError`` for it).
    """
    return 0 <= value <= MAX_ORDER_ID


def _require(fields: Mapping[str, str], names: tuple[str, ...]) -> None:
    for name in names:
        if name not in fields:
            raise MissingField(f"missing field {name!r}", field=name)


def _match(fields: Mapping[str, str], name: str, pattern: re.Pattern[str], what: str) -> str:
    value = fields[name]
    if pattern.fullmatch(value) is None:
        raise InvalidField(f"field {name!r} is not {what}", field=name)
    return value


def _money(fields: Mapping[str, str], name: str) -> Decimal:
    return Decimal(_match(fields, name, _MONEY, "canonical money with exactly 2 decimals"))


def read_money(text: str) -> Decimal | None:
    """``read_money("10.50")`` -> ``Decimal("10.50")``; ``None`` unless canonical money.

    The callbacks' format: exactly two decimals, so ``"10"`` and ``"10.5"`` are ``None``.
    """
    return Decimal(text) if _MONEY.fullmatch(text) else None


def _order_id(fields: Mapping[str, str]) -> int:
    value = int(_match(fields, "order_id", _ORDER_ID, "digits without a leading zero"))
    if value > MAX_ORDER_ID:
        raise InvalidField("field 'order_id' is out of range", field="order_id")
    return value


def parse_notification(fields: Mapping[str, str], *, appkey: str) -> Notification:
    """``parse_notification(stored_fields, appkey=...)``: type a notify without its sign.

    For fields verified once already (a stored notify being replayed); everything that
    comes off the network goes through ``read_notification``.
    """
    _require(fields, NOTIFY_SIGNED_FIELDS)
    if _NOTIFY.fullmatch("\n".join([fields[name] for name in _NOTIFY_CHECKED])) is None:
        _explain_refusal(fields)
    return _typed_notification(fields, appkey)


def _explain_refusal(fields: Mapping[str, str]) -> None:
    """Raise the ``InvalidField`` of the first field out of format, one pattern at a time."""
    _order_id(fields)
    _match(fields, "out_order_id", _OUT_ORDER_ID, "1-255 printable characters")
    _money(fields, "price")
    _money(fields, "realprice")
    _match(fields, "type", _PAY_TYPE, "letters")
    _match(fields, "paytime", _PAYTIME, "digits without a leading zero")
    raise AssertionError("the joined pattern refused what each pattern accepts")


def _typed_notification(fields: Mapping[str, str], appkey: str) -> Notification:
    """A ``Notification`` of fields whose formats were checked."""
    order_id = int(fields["order_id"])
    if order_id > MAX_ORDER_ID:
        raise InvalidField("field 'order_id' is out of range", field="order_id")
    paytime = int(fields["paytime"])
    if paytime > _MAX_PAYTIME:
        raise InvalidField("field 'paytime' is out of range", field="paytime")
    return checked_notification(
        order_id,
        fields["out_order_id"],
        fields["type"],
        paytime,
        fields["extend"],
        appkey,
        ReceivedFields(fields),
    )


def read_gateway_notify(
    text: str,
    *,
    appkey: str,
    appsecret: Appsecret,
    clock_skew: int = DEFAULT_CLOCK_SKEW,
    now: float | None = None,
) -> Notification | None:
    """``read_gateway_notify(body_text, appkey=..., appsecret=...)``: a UTF-8 notify body in
    the gateway's own form (its fields in the order its page lists them, nothing
    percent-encoded), split, checked and verified by one pattern and one sign.

    ``None`` for a body of any other shape or one that does not verify: read that the
    general way (``parse_urlencoded``, then ``read_notification``), which accepts all
    this accepts and names what is wrong with the rest. The notify's hot path.
    """
    match = _GATEWAY_FORM.fullmatch(text)
    if match is None:
        return None
    order_id, out_order_id, price, realprice, pay_type, paytime, extend, sign = match.groups()
    number, seconds = int(order_id), int(paytime)
    if (
        number > MAX_ORDER_ID
        or seconds > _MAX_PAYTIME
        or seconds > (time.time() if now is None else now) + clock_skew
    ):
        return None
    secret_index = matching_secret(
        sign,
        order_id + out_order_id + price + realprice + pay_type + paytime + extend,
        appkey,
        appsecret,
    )
    if secret_index is None:
        return None
    raw = GatewayForm(
        order_id=order_id,
        out_order_id=out_order_id,
        price=price,
        realprice=realprice,
        type=pay_type,
        paytime=paytime,
        extend=extend,
        sign=sign,
    )
    return checked_notification(
        number, out_order_id, pay_type, seconds, extend, appkey, raw, secret_index
    )


def read_notification(
    fields: Mapping[str, str],
    *,
    appkey: str,
    appsecret: Appsecret,
    encoding: str = "utf-8",
    clock_skew: int = DEFAULT_CLOCK_SKEW,
    now: float | None = None,
) -> Notification:
    """``read_notification(form, appkey=..., appsecret=...)``: verify and type a notify.

    Raises a ``GatePayError`` subclass for anything missing, malformed or forged.
    """
    try:
        joined = "\n".join(_SIGNED_NOTIFY_VALUES(fields))
    except KeyError:
        joined = ""  # a field is missing: the checks below say which
    if "extend" in fields and _SIGNED_NOTIFY.fullmatch(joined) is not None:
        notification = _typed_notification(fields, appkey)
    else:  # the checks one at a time, in their order, for the error that names the field
        notification = parse_notification(fields, appkey=appkey)
        _require(fields, ("sign",))
        _match(fields, "sign", _SIGN, "32 hex digits")
    if notification.paytime > (time.time() if now is None else now) + clock_skew:
        raise InvalidField("field 'paytime' lies in the future", field="paytime")
    secret_index = verify(fields, NOTIFY_SIGNED_FIELDS, appkey, appsecret, encoding=encoding)
    if secret_index:
        notification.__dict__["secret_index"] = secret_index  # frozen: set as __init__ does
    return notification


def read_return(
    fields: Mapping[str, str], *, appkey: str, appsecret: Appsecret, encoding: str = "utf-8"
) -> ReturnVisit:
    """``read_return(query, appkey=..., appsecret=...)``: verify and type a sync return."""
    _require(fields, (*RETURN_SIGNED_FIELDS, "sign"))
    price = _money(fields, "price")
    pay_type = _match(fields, "type", _PAY_TYPE, "letters")
    _match(fields, "product_id", _PRODUCT_ID, "at most 255 printable characters")
    order_id = _order_id(fields)
    _match(fields, "out_order_id", _OUT_ORDER_ID, "1-255 printable characters")
    _match(fields, "sign", _SIGN, "32 hex digits")
    verify(fields, RETURN_SIGNED_FIELDS, appkey, appsecret, encoding=encoding)
    return ReturnVisit(
        price=price,
        type=pay_type,
        product_id=fields["product_id"],
        order_id=order_id,
        out_order_id=fields["out_order_id"],
        appkey=appkey,
        raw=ReceivedFields(fields),
    )


def read_timeout(fields: Mapping[str, str]) -> TimeoutVisit:
    """``read_timeout(query)``: the timeout page's fields, unverified (none are signed)."""
    return TimeoutVisit(fields=ReceivedFields(fields), out_order_id=fields.get("out_order_id"))

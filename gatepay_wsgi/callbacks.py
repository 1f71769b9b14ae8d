"""What a verified callback is, as a handler gets it: ``Notification``, ``ReturnVisit``,
``TimeoutVisit``, and their fields as received (``n.raw``, read-only).

``messages.py`` reads and checks the fields and builds these; ``printable`` is how every
page and command shows a received string to a person. Pure standard library.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from decimal import Decimal
from typing import Any, NoReturn


@dataclass(frozen=True)
class Notification:
    """A verified async notify, as the handler of ``Notify(handler)`` receives it."""

    order_id: int
    out_order_id: str
    price: Decimal
    realprice: Decimal
    type: str
    paytime: int
    paid_at: datetime
    extend: str
    appkey: str
    raw: Mapping[str, str] = field(repr=False, compare=False)
    #: Which configured appsecret verified it: 0, the first (the current one); 1 or more,
    #: an older one still accepted while the gateway's secret is being rotated.
    secret_index: int = field(default=0, compare=False)


class _Typed:
    """A ``Notification`` value typed from its own fields when first read, then kept.

    A non-data descriptor: a value set by ``__init__`` (or computed once) lives in the
    instance's ``__dict__``, which Python reads before this.
    """

    __slots__ = ("compute", "name")

    def __init__(self, name: str, compute: Any) -> None:
        self.name, self.compute = name, compute

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            return self
        value = self.compute(instance)
        instance.__dict__[self.name] = value
        return value


for _name, _compute in (
    ("price", lambda n: Decimal(n.raw["price"])),
    ("realprice", lambda n: Decimal(n.raw["realprice"])),
    ("paid_at", lambda n: datetime.fromtimestamp(n.paytime, tz=timezone.utc)),
):
    setattr(Notification, _name, _Typed(_name, _compute))


def checked_notification(
    order_id: int,
    out_order_id: str,
    pay_type: str,
    paytime: int,
    extend: str,
    appkey: str,
    raw: Mapping[str, str],
    secret_index: int = 0,
) -> Notification:
    """``Notification(...)`` of fields ``messages.py`` has checked, set at once, its money
    and ``paid_at`` typed when first read (``_Typed``): a frozen dataclass's ``__init__``
    sets each field by ``object.__setattr__``, and the two ``Decimal``s and the
    ``datetime`` were a third of a notify's typing. The same object, equal to one built the
    usual way (tests check it)."""
    notification: Notification = object.__new__(Notification)
    notification.__dict__.update(
        order_id=order_id,
        out_order_id=out_order_id,
        type=pay_type,
        paytime=paytime,
        extend=extend,
        appkey=appkey,
        raw=raw,
        secret_index=secret_index,
    )
    return notification


@dataclass(frozen=True)
class ReturnVisit:
    """A verified sync return: the buyer's browser coming back after paying."""

    price: Decimal
    type: str
    product_id: str
    order_id: int
    out_order_id: str
    appkey: str
    raw: Mapping[str, str] = field(repr=False, compare=False)
    #: Where the site is mounted (the request's ``SCRIPT_NAME``, ``""`` at the root).
    script_name: str = ""
    #: The WSGI environ of the visit (``{}`` when read outside a request).
    environ: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def url(self, path: str) -> str:
        """``visit.url("/orders/A7")`` -> ``"/shop/orders/A7"`` when mounted at /shop."""
        return self.script_name + path


@dataclass(frozen=True)
class TimeoutVisit:
    """The buyer's browser after the order closed unpaid. Unsigned: display only."""

    fields: Mapping[str, str]
    out_order_id: str | None
    #: Where the site is mounted (the request's ``SCRIPT_NAME``, ``""`` at the root).
    script_name: str = ""
    #: The WSGI environ of the visit (``{}`` when read outside a request).
    environ: Mapping[str, Any] = field(default_factory=dict, repr=False, compare=False)

    def url(self, path: str) -> str:
        """``visit.url("/orders/A7")`` -> ``"/shop/orders/A7"`` when mounted at /shop."""
        return self.script_name + path


class ReceivedFields(dict[str, str]):
    """``n.raw["extend"]``: a callback's fields as received, read-only.

    A ``dict`` that refuses changes, so that it copies, pickles, goes through
    ``dataclasses.asdict`` and ``json.dumps`` like one (a read-only ``MappingProxyType``
    did none of these, and handlers hand notifications to task queues and logs).
    """

    __slots__ = ()

    def _refuse(self, *args: object, **kwargs: object) -> NoReturn:
        raise TypeError("a callback's fields are read-only")

    __setitem__ = __delitem__ = __ior__ = _refuse
    clear = pop = popitem = setdefault = update = _refuse

    def __reduce__(self) -> tuple[type[ReceivedFields], tuple[dict[str, str]]]:
        return ReceivedFields, (dict(self),)

    def __copy__(self) -> ReceivedFields:
        return self  # nothing can change it: a copy may be itself

    def __deepcopy__(self, memo: dict[int, object]) -> ReceivedFields:
        return self


class GatewayForm(ReceivedFields):
    """``n.raw`` of a notify read in the gateway's own form (``read_gateway_notify``): its
    eight fields exactly, so an inbox keeps it as it is, without looking again."""

    __slots__ = ()


# What ``printable`` writes as an escape: control characters (C0, DEL, C1), invisible
# format characters (bidi embeddings, overrides, isolates and marks, zero widths, the
# soft hyphen), line and paragraph separators, and lone surrogates (no terminal can
# encode one). Spaces, private use and characters newer than this Python are kept.
_HIDDEN_CATEGORIES = frozenset(("Cc", "Cf", "Zl", "Zp", "Cs"))


def _escape(char: str) -> str:
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def printable(text: str) -> str:
    """``printable("GP\\u202e00.01")`` -> ``"GP\\\\u202e00.01"``: a stored string as a
    person may see it, on a page or in a terminal.

    Every character that is invisible, moves the cursor or reorders the text around it
    (``"\\x1b[2J"``, a right-to-left override that makes ``"00.01"`` read ``"10.00"``) is
    written as its escape; Chinese, emoji and punctuation stay as they are. Plain text:
    a page still HTML-escapes it.
    """
    if text.isprintable():  # in C: almost every string, at no cost
        return text
    return "".join(
        _escape(char) if unicodedata.category(char) in _HIDDEN_CATEGORIES else char for char in text
    )

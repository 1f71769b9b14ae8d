"""What the inbox hands back: ``record = inbox.get(order_id)[0]; record.status``.

The answers of its methods (``Claim``, ``InboxRecord``, ``Rejection``, ``InboxStats``,
``ReplayResult``, ``SignInFailures``) and the stored form of a notify's fields, shared
by every backend.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from types import MappingProxyType
from typing import Any

from ..callbacks import GatewayForm
from ..signing import NOTIFY_SIGNED_FIELDS
from .states import ClaimOutcome, ReplayOutcome, Status


@dataclass(frozen=True)
class Claim:
    """The answer of ``Inbox.claim``: what this delivery should do."""

    outcome: ClaimOutcome
    appkey: str
    order_id: int
    token: str | None = None
    took_over: bool = False  # a stale claim (killed worker) was taken over
    new_delivery: bool = False  # the signed fields differ from the stored ones
    #: ``REUSED_SIGN``, or ``BUSY`` because of it: (appkey, order_id, out_order_id) of the
    #: notify that holds this sign with other signed fields.
    other: tuple[str, int, str] | None = None

    @classmethod
    def run(cls, appkey: str, order_id: int, token: str, took_over: bool = False) -> Claim:
        """``Claim(RUN, appkey, order_id, token, took_over=...)``, built at once: once per
        notify (a frozen dataclass's ``__init__`` sets each field by ``object.__setattr__``)."""
        claim: Claim = object.__new__(cls)
        fields = claim.__dict__
        fields.update(_RUN_CLAIM)
        fields["appkey"], fields["order_id"], fields["token"] = appkey, order_id, token
        fields["took_over"] = took_over
        return claim


_RUN_CLAIM = {"outcome": ClaimOutcome.RUN, "new_delivery": False, "other": None}


@dataclass(frozen=True)
class InboxRecord:
    """One stored notify, as ``inbox show`` prints it."""

    appkey: str
    order_id: int
    out_order_id: str
    status: Status
    raw: Mapping[str, str]
    received_at: float
    remote_addr: str | None
    attempts: int
    last_error: str | None
    updated_at: float
    lease_until: float | None
    deliveries: int = 1  # every verified delivery whose fields differed counts once more
    other_deliveries: tuple[Mapping[str, Any], ...] = field(default=(), repr=False)
    #: What happened beyond the status, e.g. an outcome that was written late.
    note: str | None = None
    #: Verified deliveries of this order, repeats included (``attempts``: handler runs).
    received: int = 1
    #: Which configured appsecret verified the delivery its handler last ran for: 0, the
    #: first (the current one); 1 or more, an older one (the secret is being rotated).
    secret_index: int = 0

    def as_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (``--json``)."""
        data = asdict(self)
        data["raw"] = dict(self.raw)
        data["other_deliveries"] = [dict(d) for d in self.other_deliveries]
        return data


@dataclass(frozen=True)
class Rejection:
    """A refused request, kept in a bounded table."""

    at: float
    reason: str
    field: str | None
    remote_addr: str | None
    order_id: str | None
    out_order_id: str | None


@dataclass(frozen=True)
class InboxStats:
    """Counts for ``inbox stats``."""

    by_status: Mapping[str, int]
    stale: int
    rejections: Mapping[str, int]

    def as_dict(self) -> dict[str, Any]:
        return {
            "by_status": dict(self.by_status),
            "stale": self.stale,
            "rejections": dict(self.rejections),
        }


@dataclass(frozen=True)
class SignInFailures:
    """Failed console sign-ins counted for one key (``"user:alice"``, ``"address:..."``),
    kept in the inbox so that every worker process and host counts them together.

    The console's throttle decides what they mean; the inbox only keeps them, and drops
    one once ``forget_at`` and ``blocked_until`` (seconds since the epoch) have passed.
    """

    count: int
    blocked_until: float
    forget_at: float


#: ``Inbox.update_sign_ins``'s ``change``: the stored failures of the keys asked for (a
#: key with none is absent) -> what it answers, and each key's new failures (``None``
#: drops the key; a key left out stays as it is).
SignInChange = Callable[[dict[str, SignInFailures]], tuple[float, dict[str, SignInFailures | None]]]


@dataclass(frozen=True)
class ReplayResult:
    """What ``Inbox.replay`` did with one order (``ReplayOutcome`` lists the outcomes)."""

    appkey: str
    order_id: int
    outcome: ReplayOutcome
    error: str | None = None


_SIGNED_VALUES = operator.itemgetter(*NOTIFY_SIGNED_FIELDS)
_STORED_NAMES = frozenset((*NOTIFY_SIGNED_FIELDS, "sign"))


def stored_fields(raw: Mapping[str, str]) -> dict[str, str]:
    """What an inbox keeps of a delivery: the signed fields and the sign.

    Unsigned extras are left out (the older page's ``appkey`` field too: it was checked
    equal to the merchant's), and the sign is lower-cased, so that nobody can make a
    genuine notify look new (and fill the disk) by adding junk or re-casing the sign.
    """
    if type(raw) is GatewayForm and raw["sign"].islower():  # already what is kept, read-only
        return raw
    if (
        isinstance(raw, (dict, MappingProxyType))
        and raw.keys() == _STORED_NAMES
        and raw["sign"].islower()
    ):  # the same fields from elsewhere: a copy, in C
        return raw.copy()
    try:  # a verified notify has every signed field: built in C
        kept = dict(zip(NOTIFY_SIGNED_FIELDS, _SIGNED_VALUES(raw), strict=True))
    except KeyError:
        kept = {name: raw[name] for name in NOTIFY_SIGNED_FIELDS if name in raw}
    kept["sign"] = raw.get("sign", "").lower()
    return kept


def dump_fields(fields: Mapping[str, str]) -> str:
    """The stored form of a notify's fields: JSON with sorted keys, so equal means equal."""
    return json.dumps(stored_fields(fields), ensure_ascii=False, sort_keys=True)


def signed_values(raw: Mapping[str, str]) -> tuple[str, ...]:
    """The signed fields' values in sign order: what one sign vouches for."""
    values: tuple[str, ...] = _SIGNED_VALUES(raw)  # in C: this runs on every claim
    return values


def dump_signed(raw: Mapping[str, str]) -> str:
    """``signed_values`` as the SQL inboxes store them (JSON: unambiguous, any text)."""
    return json.dumps(signed_values(raw), ensure_ascii=False)

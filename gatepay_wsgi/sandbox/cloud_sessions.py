"""The sandbox's cloud sessions (会话): which payment accounts are online, and the points.

At the real gateway a merchant brings a personal Alipay or WeChat account online by
scanning a code (扫码上线); the resulting session watches that account's bill. Each
successful scan costs the scan fee (上码费) in points (积分, 100 points = 1 yuan). With
no online session for a type, orders of that type cannot be created (code 204), and a
session that drops while an order is open means no notify comes for it.

``CloudSessions(points=1000, scan_fee=200)`` keeps that state for the sandbox, thread-safe.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass

from ..client import PAY_TYPES
from ..errors import ConfigError, GatePayException

#: The create API's answer when no session of the type is online.
NO_PAYMENT_METHOD = (204, "no available payment method")


class ScanRefused(GatePayException):
    """The sandbox: a scan that cannot go through (too few points, unknown type)."""


@dataclass
class CloudSession:
    session_id: int
    type: str
    label: str
    online: bool
    since: float


class CloudSessions:
    """Online and offline sessions, and the merchant's points balance."""

    def __init__(self, *, points: int = 1000, scan_fee: int = 200, online: bool = True) -> None:
        if points < 0 or scan_fee < 0:
            raise ConfigError("points and scan_fee cannot be negative")
        self.points = points
        self.scan_fee = scan_fee
        self.sessions: dict[int, CloudSession] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        if online:  # the demo's default: one online account per type, no points spent
            for pay_type in PAY_TYPES:
                self._add(pay_type, f"demo {pay_type} account", online=True)

    def _add(self, pay_type: str, label: str, *, online: bool) -> CloudSession:
        session = CloudSession(next(self._ids), pay_type, label, online, time.time())
        self.sessions[session.session_id] = session
        return session

    def scan(self, pay_type: str, label: str = "", session_id: int | None = None) -> CloudSession:
        """Bring an account online (a new session, or ``session_id`` revived); costs the fee."""
        with self._lock:
            revived = None if session_id is None else self.sessions.get(session_id)
            if session_id is not None and revived is None:
                raise ScanRefused(f"no session {session_id}")
            if revived is not None and revived.online:
                return revived
            if revived is None and pay_type not in PAY_TYPES:
                raise ScanRefused(f"unknown payment type {pay_type!r}")
            if self.points < self.scan_fee:
                raise ScanRefused(
                    f"not enough points: a scan costs {self.scan_fee} points "
                    f"({self.scan_fee / 100:.2f} yuan), the balance is {self.points}"
                )
            self.points -= self.scan_fee
            if revived is not None:
                revived.online, revived.since = True, time.time()
                return revived
            return self._add(pay_type, label or f"{pay_type} account", online=True)

    def take_offline(self, session_id: int) -> None:
        with self._lock:
            session = self.sessions.get(session_id)
            if session is not None and session.online:
                session.online, session.since = False, time.time()

    def online_for(self, pay_type: str) -> bool:
        """Whether some online session watches accounts of this type."""
        with self._lock:
            return any(s.online and s.type == pay_type for s in self.sessions.values())

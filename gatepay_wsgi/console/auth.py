"""Who may use the console: ``Users`` (password hashes), ``Sessions`` (signed cookies with
a CSRF token) and ``LoginThrottle`` (failed sign-ins, in memory).

- A password is only ever kept as werkzeug's hash (``generate_password_hash``, or
  ``gatepay-wsgi console hash-password``) and checked with ``check_password_hash``
  (constant time). A name that is not a user is checked against a hash of the same kind,
  so that the answer's timing does not say which names exist.
- The session is a cookie: ``base64url(json).base64url(HMAC-SHA256)`` over a key derived
  from the server's secret (at least 32 characters). It carries the user, a random CSRF
  token, its expiry (8 hours after sign-in) and a stamp of the user's password hash, so
  changing a password ends that user's sessions. A visitor who is not signed in gets one
  too, without a user, so that the sign-in form has its CSRF token.
- After 5 failed sign-ins for one user name or from one address, further attempts are
  refused for a minute, doubling with each failure after that (at most an hour); a user's
  count ends when they sign in, an address's an hour after its last failure.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass

from werkzeug.security import check_password_hash, generate_password_hash

from ..errors import ConfigError

#: Seconds a sign-in lasts.
SESSION_SECONDS = 8 * 3600
#: The shortest server secret the console takes.
MIN_SECRET = 32
#: The session cookie's name.
SESSION_COOKIE = "gatepay_console"

# werkzeug's form: method$salt$hash, the method "scrypt:n:r:p" or "pbkdf2:sha256:iterations".
_HASH = re.compile(r"(scrypt|pbkdf2)(:[0-9A-Za-z_-]+)*\$[^$\s]+\$[0-9a-f]+")
_OFF = "the console is off until "


def check_secret(secret_key: str | bytes | None) -> bytes:
    """The server secret as bytes, or ``ConfigError`` if it is missing or short."""
    if isinstance(secret_key, str):
        secret_key = secret_key.encode("utf-8")
    if not secret_key or len(secret_key) < MIN_SECRET:
        raise ConfigError(
            _OFF + f"it has a secret_key of at least {MIN_SECRET} characters (it signs the "
            "session cookies): secrets.token_hex(32) makes one"
        )
    return bytes(secret_key)


class Users:
    """``Users({"alice": generate_password_hash("...")})``: names and password hashes."""

    def __init__(self, users: Mapping[str, str] | None) -> None:
        if not users:
            raise ConfigError(
                _OFF + "it has users: users={'name': generate_password_hash(password)} "
                "(or gatepay-wsgi console hash-password)"
            )
        self._hashes: dict[str, str] = {}
        for name, hashed in users.items():
            if not isinstance(name, str) or not name.strip() or not name.isprintable():
                raise ConfigError(f"console user {name!r}: a name is printable, not empty")
            if not isinstance(hashed, str) or not _HASH.fullmatch(hashed):
                # Never the value itself: it may be a password written where a hash belongs.
                raise ConfigError(
                    f"console user {name!r}: the password must be given as a hash made by "
                    "werkzeug.security.generate_password_hash (or gatepay-wsgi console "
                    "hash-password), never as the password itself"
                )
            self._hashes[name] = hashed
        self._method = next(iter(self._hashes.values())).split("$", 1)[0]
        self._decoy: str | None = None

    def __contains__(self, name: object) -> bool:
        return name in self._hashes

    def check(self, name: str, password: str) -> bool:
        """Whether ``password`` is ``name``'s, in about the same time for any name."""
        hashed = self._hashes.get(name)
        if hashed is None:
            if self._decoy is None:  # made once, of the same kind as the users' hashes
                self._decoy = generate_password_hash(secrets.token_hex(16), self._method)
            check_password_hash(self._decoy, password)
            return False
        return check_password_hash(hashed, password)

    def stamp(self, name: str, key: bytes) -> str | None:
        """A short keyed digest of the user's hash (a session holds it), or ``None``."""
        hashed = self._hashes.get(name)
        if hashed is None:
            return None
        return hmac.new(key, hashed.encode("utf-8"), hashlib.sha256).hexdigest()[:16]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Signer:
    """``Signer(secret, "session").sign({...})``: a value only this secret could have made."""

    def __init__(self, secret: bytes, purpose: str) -> None:
        label = f"gatepay_wsgi.console {purpose}".encode()
        self.key = hmac.new(secret, label, hashlib.sha256).digest()

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self.key, body.encode("ascii"), hashlib.sha256).digest())

    def sign(self, data: Mapping[str, object]) -> str:
        text = json.dumps(dict(data), separators=(",", ":"), sort_keys=True)
        body = _b64(text.encode("utf-8"))
        return f"{body}.{self._mac(body)}"

    def unsign(self, token: str) -> dict[str, object] | None:
        """The signed data, or ``None`` if the token was not made with this key."""
        body, dot, mac = token.rpartition(".")
        if not dot or not body.isascii() or not mac.isascii():
            return None
        if not hmac.compare_digest(self._mac(body).encode(), mac.encode()):
            return None
        try:
            data = json.loads(_unb64(body))
        except (ValueError, binascii.Error):
            return None
        return data if isinstance(data, dict) else None


@dataclass(frozen=True)
class Session:
    """What the session cookie says: who (``None`` before sign-in), the CSRF token, until when."""

    user: str | None
    csrf: str
    expires: float
    stamp: str | None = None

    def csrf_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf.encode(), str(token).encode())


class Sessions:
    """Signed session cookies over a server secret."""

    def __init__(self, secret: bytes, users: Users, seconds: float = SESSION_SECONDS) -> None:
        self.signer = Signer(secret, "session")
        self.users = users
        self.seconds = seconds

    def new(self, user: str | None = None) -> Session:
        """A fresh session (a new CSRF token), signed in as ``user`` or not."""
        stamp = None if user is None else self.users.stamp(user, self.signer.key)
        return Session(user, secrets.token_urlsafe(24), time.time() + self.seconds, stamp)

    def dump(self, session: Session) -> str:
        return self.signer.sign(
            {"u": session.user, "c": session.csrf, "e": session.expires, "s": session.stamp}
        )

    def load(self, cookie: str | None) -> Session | None:
        """The cookie's session if it is genuine, unexpired, and its user's password is
        unchanged; else ``None``."""
        data = self.signer.unsign(cookie) if cookie else None
        if data is None:
            return None
        user, csrf, expires, stamp = (data.get(k) for k in ("u", "c", "e", "s"))
        if not isinstance(csrf, str) or not isinstance(expires, (int, float)):
            return None
        if expires <= time.time():
            return None
        if user is not None:
            if not isinstance(user, str) or user not in self.users:
                return None
            expected = self.users.stamp(user, self.signer.key) or ""
            if not isinstance(stamp, str) or not hmac.compare_digest(stamp, expected):
                return None
        return Session(user, csrf, float(expires), stamp if isinstance(stamp, str) else None)


@dataclass
class _Failures:
    count: int = 0
    last: float = 0.0
    blocked_until: float = 0.0


class LoginThrottle:
    """Failed sign-ins counted per key (a user name, an address), in this process.

    ``limit`` failures in a row block the key for ``delay`` seconds, each further failure
    doubles it (up to ``max_delay``); an unblocked key's count is forgotten ``forget``
    seconds after its last failure. At most ``max_keys`` keys are kept (the oldest go).
    """

    def __init__(
        self,
        *,
        limit: int = 5,
        delay: float = 60.0,
        max_delay: float = 3600.0,
        forget: float = 3600.0,
        max_keys: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.limit, self.delay, self.max_delay = limit, delay, max_delay
        self.forget, self.max_keys = forget, max_keys
        self.clock = clock
        self._keys: dict[Hashable, _Failures] = {}
        self._lock = threading.Lock()

    def wait(self, *keys: Hashable) -> float:
        """Seconds until an attempt for all of ``keys`` is let through (0: now)."""
        now = self.clock()
        with self._lock:
            return max([0.0, *(f.blocked_until - now for k in keys if (f := self._keys.get(k)))])

    def failed(self, *keys: Hashable) -> None:
        now = self.clock()
        with self._lock:
            for key in keys:
                entry = self._keys.pop(key, None) or _Failures()
                if entry.blocked_until <= now and now - entry.last > self.forget:
                    entry = _Failures()
                entry.count, entry.last = entry.count + 1, now
                if entry.count >= self.limit:
                    doubled = self.delay * 2 ** min(entry.count - self.limit, 32)
                    entry.blocked_until = now + min(doubled, self.max_delay)
                self._keys[key] = entry  # the newest last: the oldest are dropped first
            if len(self._keys) > self.max_keys:  # a flood of names: keep the blocked ones
                self._shrink(now)

    def _shrink(self, now: float) -> None:
        over = len(self._keys) - self.max_keys
        idle = [k for k, f in self._keys.items() if f.blocked_until <= now][:over]
        for key in idle:
            del self._keys[key]
        while len(self._keys) > self.max_keys:  # every one blocked: the oldest go
            del self._keys[next(iter(self._keys))]

    def succeeded(self, key: Hashable) -> None:
        with self._lock:
            self._keys.pop(key, None)

"""Who may use the console: ``Users`` (password hashes), ``SessionSigner`` (signed cookies with
a CSRF token) and ``LoginThrottle`` (failed sign-ins, counted in the inbox).

- A password is only ever kept as werkzeug's hash (``generate_password_hash``, or
  ``gatepay-wsgi console hash-password``) and checked with ``check_password_hash``
  (constant time). A name that is not a user is checked against a hash of the same kind,
  so that the answer's timing does not say which names exist.
- The session is a cookie signed by itsdangerous (``URLSafeTimedSerializer``, HMAC-SHA256
  over the server's secret, at least 32 characters). It carries the user, a random CSRF
  token, when it was signed (it ends 8 hours after sign-in) and a stamp of the user's
  password hash, so changing a password ends that user's sessions. A visitor who is not
  signed in gets one too, without a user, so that the sign-in form has its CSRF token. A
  cookie of any other secret, purpose or format reads as signed out.
- After 5 failed sign-ins for one user name or from one address, further attempts are
  refused for a minute, doubling with each failure after that (at most an hour); a user's
  count ends when they sign in, an address's an hour after its last failure. They are
  counted in the inbox before the password is checked, so a burst, spread over any
  number of worker processes and hosts, has at most 5 guesses checked.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from itsdangerous import BadData, URLSafeTimedSerializer
from werkzeug.security import check_password_hash, generate_password_hash

from ..errors import ConfigError
from ..inbox import Inbox, SignInFailures

#: Seconds a sign-in lasts.
SESSION_SECONDS = 8 * 3600
#: The shortest server secret the console takes.
MIN_SECRET = 32

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


@dataclass(frozen=True)
class Session:
    """What the session cookie says: who (``None`` before sign-in), the CSRF token, and
    the stamp of the user's password hash."""

    user: str | None
    csrf: str
    stamp: str | None = None

    def csrf_ok(self, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(self.csrf.encode(), str(token).encode())


class SessionSigner:
    """``sessions.dump(sessions.new("alice"))``: session cookies signed by itsdangerous.

    The cookie is itsdangerous' ``URLSafeTimedSerializer`` over the server's secret: the
    session as JSON, the time it was signed, and an HMAC-SHA256 of both. Its age is
    checked on every read, so a session ends ``seconds`` after it was signed, and a
    session is signed once, when it begins (sign-in, or a visitor's first page).
    """

    def __init__(self, secret: bytes, users: Users, seconds: int = SESSION_SECONDS) -> None:
        self.serializer = URLSafeTimedSerializer(
            secret,
            salt="gatepay_wsgi.console session",
            signer_kwargs={"key_derivation": "hmac", "digest_method": hashlib.sha256},
        )
        # Its own key, so that the stamp in a (readable) cookie says nothing of the hash.
        label = b"gatepay_wsgi.console password stamp"
        self.stamp_key = hmac.new(secret, label, hashlib.sha256).digest()
        self.users = users
        self.seconds = seconds

    def new(self, user: str | None = None) -> Session:
        """A fresh session (a new CSRF token), signed in as ``user`` or not."""
        stamp = None if user is None else self.users.stamp(user, self.stamp_key)
        return Session(user, secrets.token_urlsafe(24), stamp)

    def dump(self, session: Session) -> str:
        """The cookie's value, signed now: the session lasts ``seconds`` from now."""
        return self.serializer.dumps({"u": session.user, "c": session.csrf, "s": session.stamp})

    def load(self, cookie: str | None) -> Session | None:
        """The cookie's session if it is genuine, unexpired, and its user's password is
        unchanged; else ``None`` (a cookie of another secret or format too)."""
        if not cookie:
            return None
        try:
            data = self.serializer.loads(cookie, max_age=self.seconds)
        except BadData:  # tampered, expired, another secret, or not a session at all
            return None
        if not isinstance(data, dict):
            return None
        user, csrf, stamp = (data.get(k) for k in ("u", "c", "s"))
        if not isinstance(csrf, str):
            return None
        if user is not None:
            if not isinstance(user, str) or user not in self.users:
                return None
            expected = self.users.stamp(user, self.stamp_key) or ""
            if not isinstance(stamp, str) or not hmac.compare_digest(stamp, expected):
                return None
        return Session(user, csrf, stamp if isinstance(stamp, str) else None)


#: A key's failures after a change (``None``: forgotten).
Failures = SignInFailures | None


class LoginThrottle:
    """``throttle = LoginThrottle(inbox)``: failed sign-ins per key (a user name, an
    address), counted in the inbox so that every worker process and host counts together.

    An attempt is counted as a failure *before* its password is checked (``attempt``),
    and given back when it signs in (``succeeded``): however many arrive at once, at most
    ``limit`` guesses per key are checked before the key is blocked for ``delay`` seconds,
    each further failure doubling it (up to ``max_delay``). A key's count is forgotten
    ``forget`` seconds after its last failure once it is not blocked. The clock is
    ``time.time``: the hosts sharing the inbox read it alike, give or take a few seconds.
    """

    def __init__(
        self,
        inbox: Inbox,
        *,
        limit: int = 5,
        delay: float = 60.0,
        max_delay: float = 3600.0,
        forget: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.inbox = inbox
        self.limit, self.delay, self.max_delay, self.forget = limit, delay, max_delay, forget
        self.clock = clock

    def wait(self, *keys: str) -> float:
        """Seconds until an attempt for all of ``keys`` is let through (0: now)."""
        now = self.clock()
        return self.inbox.update_sign_ins(
            list(keys), lambda kept: (self._blocked(kept, now), {}), now
        )

    def attempt(self, *keys: str) -> float:
        """``0`` and the attempt counted as a failure of each key, or the seconds left
        until the keys are let through again (nothing counted)."""
        now = self.clock()

        def count(kept: dict[str, SignInFailures]) -> tuple[float, dict[str, Failures]]:
            blocked = self._blocked(kept, now)
            if blocked > 0:
                return blocked, {}
            return 0.0, {key: self._one_more(kept.get(key), now) for key in keys}

        return self.inbox.update_sign_ins(list(keys), count, now)

    def succeeded(self, user: str, address: str) -> None:
        """The attempt signed in: the user's count ends; the address gets back the
        failure its attempt was counted as (and is unblocked if that one blocked it)."""
        now = self.clock()

        def give_back(kept: dict[str, SignInFailures]) -> tuple[float, dict[str, Failures]]:
            changed: dict[str, Failures] = {user: None}
            held = kept.get(address)
            if held is not None and held.count > 1:
                blocked = held.blocked_until if held.count > self.limit else 0.0
                changed[address] = replace(held, count=held.count - 1, blocked_until=blocked)
            elif held is not None:
                changed[address] = None
            return 0.0, changed

        self.inbox.update_sign_ins([user, address], give_back, now)

    @staticmethod
    def _blocked(kept: dict[str, SignInFailures], now: float) -> float:
        return max([0.0, *(failures.blocked_until - now for failures in kept.values())])

    def _one_more(self, held: SignInFailures | None, now: float) -> SignInFailures:
        count = 1 if held is None or held.forget_at < now else held.count + 1
        blocked_until = 0.0
        if count >= self.limit:
            doubled = self.delay * 2 ** min(count - self.limit, 32)
            blocked_until = now + min(doubled, self.max_delay)
        return SignInFailures(count, blocked_until, now + self.forget)

"""Every error gatepay_wsgi raises on purpose: ``except gatepay_wsgi.errors.BadSignature:``.

One root, ``GatePayException``; each error carries its data as attributes. A refused
callback carries a stable ``reason`` code (for logs, metrics and tests) and, where one
field is to blame, its name in ``field``. Messages never contain the appsecret or a
whole sign. Catch at the level you care about::

    GatePayException            anything gatepay_wsgi raises on purpose
    ├── GatePayError            a callback that must not reach the handler (reason, field)
    │   ├── MalformedRequest    the body or query string cannot be read as a form
    │   │   ├── PayloadTooLarge
    │   │   ├── UnsupportedMediaType
    │   │   └── MethodNotAllowed
    │   ├── MissingField
    │   ├── DuplicateField
    │   ├── InvalidField        a field breaks its strict format
    │   └── BadSignature        forged, or signed with other credentials
    │       ├── AppkeyMismatch  the ``appkey`` field names another merchant
    │       └── ReusedSign      a genuine sign replayed with its fields re-split
    ├── ConfigError             a setting missing or wrong (also a ``ValueError``)
    ├── InboxUnavailable        the inbox cannot be read or written: answer ``fail``
    │   └── InboxNotWritable    at start-up: this process cannot write it (path, user)
    └── the tools' own, each beside the tool that raises it:
        ├── outbound.Unreachable               no answer from a server the tools called
        ├── client.GatewayError                the gateway refused a payment (code, message)
        │   └── sandbox.create.CreateRefused   the sandbox refusing one, as the gateway would
        ├── sandbox.cloud_sessions.ScanRefused a sandbox scan that cannot go through
        ├── cli.common.CommandError            a message for the user of ``gatepay-wsgi``
        └── demo.PortInUse                     the port the demo or the sandbox wants is taken

The older homes of the names here (``gatepay_wsgi.config.ConfigError``,
``gatepay_wsgi.inbox.InboxUnavailable``, ``gatepay_wsgi.inbox.startup.InboxNotWritable``)
still import them from here.
"""

from __future__ import annotations


class GatePayException(Exception):
    """The root: anything gatepay_wsgi raises on purpose (never a bug of its own)."""


class GatePayError(GatePayException):
    """A callback that must not reach the merchant's handler."""

    reason = "gatepay_error"

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class MalformedRequest(GatePayError):
    """The request cannot be read as a form (bad encoding, broken pairs, short body)."""

    reason = "malformed_request"


class PayloadTooLarge(MalformedRequest):
    """The body is larger than the endpoint's ``max_body_size``."""

    reason = "payload_too_large"


class UnsupportedMediaType(MalformedRequest):
    """A POST whose body is neither urlencoded nor multipart form data."""

    reason = "unsupported_media_type"


class MethodNotAllowed(MalformedRequest):
    """An HTTP method the endpoint does not take."""

    reason = "method_not_allowed"


class MissingField(GatePayError):
    """A required field is absent."""

    reason = "missing_field"


class DuplicateField(GatePayError):
    """A field appears more than once: which copy was signed would be ambiguous."""

    reason = "duplicate_field"


class InvalidField(GatePayError):
    """A field breaks its strict format (money, digits, letters, time)."""

    reason = "invalid_field"


class BadSignature(GatePayError):
    """The sign does not match the fields and the configured credentials."""

    reason = "bad_signature"


class AppkeyMismatch(BadSignature):
    """The request's own ``appkey`` field differs from the configured appkey."""

    reason = "appkey_mismatch"


class ReusedSign(BadSignature):
    """A sign already stored for other ids: a genuine notify with a field boundary moved.

    The sign input has no separators, so ``order_id=12, out_order_id="345"`` and
    ``order_id=123, out_order_id="45"`` share a sign; the inbox, which remembers every
    sign it has accepted, refuses the second.
    """

    reason = "reused_sign"


class ConfigError(GatePayException, ValueError):
    """A setting is missing or wrong; the message names it.

    Also a ``ValueError``, as it was when settings were first read.
    """


class InboxUnavailable(GatePayException):
    """The inbox cannot be read or written: answer ``fail``, never ``success``."""


class InboxNotWritable(InboxUnavailable):
    """At start-up: this process cannot write the inbox. The message names the absolute
    path (or the server), what is wrong, and the user the process runs as."""

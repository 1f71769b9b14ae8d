"""GatePay's md5 signs: ``notify_sign(fields, appkey, appsecret)``.

``sign = md5_hex(md5_hex(appkey + <fields in order>) + appsecret)``, over the strings
exactly as received: ``"10.00"`` and ``"10.0"`` are different inputs, so nothing here
re-formats a value. Pure standard library, usable without any web framework.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import importlib
import operator
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Union

from .errors import AppkeyMismatch, BadSignature, ConfigError, InvalidField, MissingField

#: Field order of the async notify's sign input (after the appkey).
NOTIFY_SIGNED_FIELDS = (
    "order_id",
    "out_order_id",
    "price",
    "realprice",
    "type",
    "paytime",
    "extend",
)
#: Field order of the sync return's sign input (the gateway's page spells it "prodcut_id").
RETURN_SIGNED_FIELDS = ("price", "type", "product_id", "order_id", "out_order_id")
#: Field order of the order-creation APIs' sign inputs: any amount (anypay), a group of
#: products (grouppay, ``fields = "8:1,7:1"``), one product (stablepay).
CREATE_SIGNED_FIELDS = ("price", "type", "out_order_id", "custom")
GROUP_CREATE_SIGNED_FIELDS = ("fields", "type", "out_order_id", "custom")
PRODUCT_CREATE_SIGNED_FIELDS = ("product_id", "type", "out_order_id", "custom")
#: create API name -> the field order of its sign input.
CREATE_SIGNS = {
    "anypay": CREATE_SIGNED_FIELDS,
    "grouppay": GROUP_CREATE_SIGNED_FIELDS,
    "stablepay": PRODUCT_CREATE_SIGNED_FIELDS,
    "cloudpay": CREATE_SIGNED_FIELDS,  # the cloud host's create: signed as anypay
}
#: Field order of the payment-result query's sign input (``GET /api/order/check``).
CHECK_SIGNED_FIELDS = ("out_order_id",)


def _fastest_md5() -> Callable[[bytes], Any]:
    """CPython's own md5, which hashes a sign's few bytes in 60% of OpenSSL's time (no EVP
    set-up per hash); a build without it (FIPS) gets the same digest through OpenSSL."""
    try:
        md5: Callable[[bytes], Any] = importlib.import_module("_md5").md5
    except ImportError:
        md5 = functools.partial(hashlib.md5, usedforsecurity=False)
    return md5


_md5 = _fastest_md5()

# order -> itemgetter of its values, in C (a comprehension is a frame per sign in 3.11).
_VALUES: dict[tuple[str, ...], Callable[[Mapping[str, str]], tuple[str, ...]]] = {
    order: operator.itemgetter(*order)
    for order in (NOTIFY_SIGNED_FIELDS, RETURN_SIGNED_FIELDS, *CREATE_SIGNS.values())
}


def sign_fields(
    fields: Mapping[str, str],
    order: tuple[str, ...],
    appkey: str,
    appsecret: str,
    *,
    encoding: str = "utf-8",
) -> str:
    """``sign_fields(fields, NOTIFY_SIGNED_FIELDS, appkey, appsecret)`` -> 32 lower-case hex.

    ``encoding`` is the one the strings arrived in: the gateway hashes bytes.
    """
    joined = _joined(fields, order, encoding)
    try:
        return joined_sign(joined, appkey, appsecret, encoding)
    except UnicodeEncodeError:  # the credentials, in an encoding other than UTF-8
        raise InvalidField(f"the credentials cannot be encoded as {encoding}") from None


def _joined(fields: Mapping[str, str], order: tuple[str, ...], encoding: str) -> str:
    """The sign's input after the appkey: the values of ``order``, joined; ``MissingField``
    or ``InvalidField`` (not encodable as the request was) otherwise."""
    getter = _VALUES.get(order)
    try:
        values = [fields[name] for name in order] if getter is None else getter(fields)
    except KeyError:
        missing = next(name for name in order if name not in fields)
        raise MissingField(f"missing field {missing!r}", field=missing) from None
    joined = "".join(values)
    try:
        joined.encode(encoding)
    except UnicodeEncodeError:
        raise InvalidField(f"a signed field cannot be encoded as {encoding}") from None
    return joined


def joined_sign(joined: str, appkey: str, appsecret: str, encoding: str = "utf-8") -> str:
    """``joined_sign(order_id + out_order_id + ..., appkey, appsecret)``: the sign of values
    already joined in their sign order (raises ``UnicodeEncodeError`` as ``str.encode``)."""
    first = _md5((appkey + joined).encode(encoding)).hexdigest()
    signed: str = _md5((first + appsecret).encode(encoding)).hexdigest()
    return signed


#: What every verifier takes as the appsecret: one, or several during a rotation (the
#: first is the current one; outgoing requests are signed with it).
Appsecret = Union[str, Sequence[str]]


def appsecrets(appsecret: Appsecret) -> tuple[str, ...]:
    """``appsecrets("s")`` -> ``("s",)``; ``appsecrets(["new", "old"])`` -> both, in order."""
    return (appsecret,) if isinstance(appsecret, str) else tuple(appsecret)


def configured_appsecret(value: object) -> Appsecret:
    """``configured_appsecret("new old")`` -> ``("new", "old")``: an appsecret as it is set
    up (an argument, a setting, ``GATEPAY_APPSECRET``): one string, several separated by
    whitespace or a list of them while the gateway's secret is rotated, the current one
    first. An empty one, an empty list or a repeat is a ``ConfigError`` (fail closed); a
    set, ``None`` or bytes a ``TypeError``."""
    if isinstance(value, str):
        if not value.strip():
            raise ConfigError("appsecret must be a non-empty string")
        secrets = tuple(value.split())
        if len(secrets) == 1:
            return value  # as given: the signing helpers take it as it is
    elif isinstance(value, (list, tuple)):  # not a set: it has no first one to sign with
        secrets = tuple(value)
        if not secrets:
            raise ConfigError("appsecret is an empty list: give at least one")
        if not all(isinstance(secret, str) for secret in secrets):
            raise TypeError("appsecret: every secret in the list must be a string")
        if not all(secret.strip() for secret in secrets):
            raise ConfigError("appsecret: every secret in the list must be a non-empty string")
    else:  # a wrong type is Python's TypeError, as for every other argument
        raise TypeError(
            f"appsecret must be a string or a list of strings, got {type(value).__name__}"
        )
    if len(set(secrets)) != len(secrets):
        raise ConfigError("appsecret: a secret is listed twice")
    return secrets[0] if len(secrets) == 1 else secrets


def signing_secret(value: object) -> str:
    """``signing_secret("new old")`` -> ``"new"``: the appsecret what this package sends is
    signed with, the first of those ``configured_appsecret`` reads (its errors too)."""
    return appsecrets(configured_appsecret(value))[0]


def matching_secret(
    given: str, joined: str, appkey: str, appsecret: Appsecret, encoding: str = "utf-8"
) -> int | None:
    """``matching_secret(sign, order_id + out_order_id + ..., appkey, ["new", "old"])``:
    the position of the appsecret whose sign ``given`` is (hex, either case), or ``None``.

    Each is compared in constant time; an empty appkey or appsecret never verifies.
    """
    if not appkey:
        return None
    try:  # the inner hash does not depend on the secret: once for all of them
        first = _md5((appkey + joined).encode(encoding)).hexdigest()
    except UnicodeEncodeError:
        return None
    sign = given.lower().encode("ascii", "replace")  # a non-ASCII sign cannot match
    if isinstance(appsecret, str):  # one secret, the usual case: no loop (the hot path)
        return 0 if _signs(sign, first, appsecret, encoding) else None
    for index, secret in enumerate(appsecret):
        if _signs(sign, first, secret, encoding):
            return index
    return None


def _signs(sign: bytes, first: str, appsecret: str, encoding: str) -> bool:
    """Whether ``sign`` is ``md5(first + appsecret)``, compared in constant time."""
    if not appsecret:
        return False
    try:
        expected = _md5((first + appsecret).encode(encoding)).hexdigest()
    except UnicodeEncodeError:
        return False
    return hmac.compare_digest(sign, expected.encode("ascii"))


def notify_sign(
    fields: Mapping[str, str], appkey: str, appsecret: str, *, encoding: str = "utf-8"
) -> str:
    """``notify_sign({"order_id": "1", ...}, appkey, appsecret)``: the async notify's sign."""
    return sign_fields(fields, NOTIFY_SIGNED_FIELDS, appkey, appsecret, encoding=encoding)


def return_sign(
    fields: Mapping[str, str], appkey: str, appsecret: str, *, encoding: str = "utf-8"
) -> str:
    """``return_sign({"price": "10.00", ...}, appkey, appsecret)``: the sync return's sign."""
    return sign_fields(fields, RETURN_SIGNED_FIELDS, appkey, appsecret, encoding=encoding)


def create_sign(
    fields: Mapping[str, str],
    appkey: str,
    appsecret: str,
    *,
    api: str = "anypay",
    encoding: str = "utf-8",
) -> str:
    """``create_sign({"price": "10.00", ...}, appkey, appsecret)``: the order-creation sign.

    ``api="grouppay"`` or ``"stablepay"`` signs those APIs' fields (``CREATE_SIGNS``).
    """
    return sign_fields(fields, CREATE_SIGNS[api], appkey, appsecret, encoding=encoding)


def check_sign(fields: Mapping[str, str], appkey: str, appsecret: str) -> str:
    """``check_sign({"out_order_id": "GP..."}, appkey, appsecret)``: the payment-result
    query's sign, ``md5(md5(appkey + out_order_id) + appsecret)``."""
    return sign_fields(fields, CHECK_SIGNED_FIELDS, appkey, appsecret)


def verify(
    fields: Mapping[str, str],
    order: tuple[str, ...],
    appkey: str,
    appsecret: Appsecret,
    *,
    encoding: str = "utf-8",
) -> int:
    """``verify(fields, NOTIFY_SIGNED_FIELDS, appkey, appsecret)`` or raise ``BadSignature``;
    the position of the appsecret that verified it (0: the first, the current one).

    Fails closed: empty credentials never verify anything. Where the request carries
    its own ``appkey`` field it must equal the configured one. The hex sign is compared
    case-insensitively and in constant time, with each appsecret given.
    """
    secrets = appsecrets(appsecret)
    if not appkey or not secrets or not all(secrets):
        raise BadSignature("no appkey/appsecret configured: refusing to verify")
    if "appkey" in fields and not hmac.compare_digest(
        fields["appkey"].encode("utf-8", "replace"), appkey.encode("utf-8", "replace")
    ):
        raise AppkeyMismatch("the request's appkey field is not this merchant's", field="appkey")
    received = fields.get("sign")
    if received is None:
        raise MissingField("missing field 'sign'", field="sign")
    joined = _joined(fields, order, encoding)
    index = matching_secret(received, joined, appkey, secrets, encoding)
    if index is None:
        raise BadSignature("sign does not match", field="sign")
    return index


def verify_notify(
    fields: Mapping[str, str], appkey: str, appsecret: Appsecret, *, encoding: str = "utf-8"
) -> int:
    """``verify_notify(fields, appkey, appsecret)``: raise unless the notify's sign is right."""
    return verify(fields, NOTIFY_SIGNED_FIELDS, appkey, appsecret, encoding=encoding)


def verify_return(
    fields: Mapping[str, str], appkey: str, appsecret: Appsecret, *, encoding: str = "utf-8"
) -> int:
    """``verify_return(fields, appkey, appsecret)``: raise unless the return's sign is right."""
    return verify(fields, RETURN_SIGNED_FIELDS, appkey, appsecret, encoding=encoding)

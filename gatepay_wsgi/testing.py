"""Signed test callbacks for a merchant's own tests: ``signed_notify(appkey, appsecret)``.

Everything here builds what the gateway would send, correctly signed, with any field
overridable (a deliberately bad sign too), and works without pytest::

    from gatepay_wsgi.testing import signed_notify, send_notify

    fields = signed_notify(KEY, SECRET, out_order_id="GP1", price="10.00")
    answer = send_notify(app, fields)               # through the WSGI app, no server
    assert answer.body == "success" and answer.status == 200

    forged = signed_notify(KEY, SECRET, sign=BAD_SIGN)
    url = return_url("https://shop.example/gatepay/return", KEY, SECRET, out_order_id="GP1")

With pytest, the ``gatepay_wsgi`` plugin (installed with the package) adds fixtures:
``gatepay_credentials`` (override it with your test keys) and ``gatepay_notify``.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

from .outbound import with_query
from .signing import Appsecret, notify_sign, return_sign, signing_secret

if TYPE_CHECKING:
    from _typeshed.wsgi import WSGIApplication

#: A sign that never verifies (well-formed: 32 hex digits).
BAD_SIGN = "0" * 32
_ORDER_IDS = itertools.count(int(time.time()) % 1_000_000 * 1000)


def signed_notify(appkey: str, appsecret: Appsecret, **fields: str) -> dict[str, str]:
    """The fields of a notify, signed; ``sign=...`` replaces the computed sign. With
    several appsecrets (a rotation), signed with the first, as the gateway signs now.

    Defaults: a fresh ``order_id``, ``out_order_id="TEST-<order_id>"``, ``price`` and
    ``realprice`` ``"1.00"``, ``type="alipay"``, ``paytime`` now, an empty ``extend``.
    """
    order_id = fields.get("order_id", str(next(_ORDER_IDS)))
    notify = {
        "order_id": order_id,
        "out_order_id": f"TEST-{order_id}",
        "price": "1.00",
        "realprice": fields.get("price", "1.00"),
        "type": "alipay",
        "paytime": str(int(time.time())),
        "extend": "",
    }
    notify.update(fields)
    notify.setdefault("sign", notify_sign(notify, appkey, signing_secret(appsecret)))
    return notify


def signed_return(appkey: str, appsecret: Appsecret, **fields: str) -> dict[str, str]:
    """The query fields of a sync return, signed; ``sign=...`` replaces the sign."""
    order_id = fields.get("order_id", str(next(_ORDER_IDS)))
    visit = {
        "price": "1.00",
        "type": "alipay",
        "product_id": "",
        "order_id": order_id,
        "out_order_id": f"TEST-{order_id}",
    }
    visit.update(fields)
    visit.setdefault("sign", return_sign(visit, appkey, signing_secret(appsecret)))
    return visit


def notify_body(appkey: str, appsecret: Appsecret, **fields: str) -> bytes:
    """A signed notify as the urlencoded POST body the gateway sends."""
    return urlencode(signed_notify(appkey, appsecret, **fields)).encode()


def return_url(url: str, appkey: str, appsecret: Appsecret, **fields: str) -> str:
    """The return URL the gateway sends the buyer's browser to, signed."""
    return with_query(url, signed_return(appkey, appsecret, **fields))


@dataclass(frozen=True)
class NotifyAnswer:
    """What the shop's WSGI app answered a notify ``send_notify`` delivered to it."""

    status: int
    body: str
    headers: Mapping[str, str]


def send_notify(
    app: WSGIApplication,
    fields: Mapping[str, str],
    *,
    path: str = "/gatepay/notify",
    method: str = "POST",
) -> NotifyAnswer:
    """Deliver a notify to a WSGI app (POST form, or ``method="GET"``) and return its answer."""
    from werkzeug.test import Client  # werkzeug is the core's one dependency

    client = Client(app)
    if method == "GET":
        response = client.get(path, query_string=urlencode(dict(fields)))
    else:
        response = client.open(
            path,
            method=method,
            data=urlencode(dict(fields)),
            content_type="application/x-www-form-urlencoded",
        )
    headers: Iterable[tuple[str, str]] = response.headers.items()
    answer = NotifyAnswer(response.status_code, response.get_data(as_text=True), dict(headers))
    response.close()
    return answer

"""A local GatePay gateway for trying a shop without paying: ``gatepay-wsgi sandbox``.

``Sandbox(appkey=..., appsecret=..., notify_url=..., return_url=..., timeout_url=...)``
is a WSGI app that behaves like the gateway as its public pages describe it:

- ``POST /api/{anypay,grouppay,stablepay}/create`` answers the gateway's envelope
  ``{"code": 100, "msg": "请求成功", "time": ..., "data": {"pay_url", "api_url",
  "qrcode_url", "qrcode_body", "params"}}``, or the gateway's refusal code for the
  condition its page names (``create.py``; every one reachable from the console).
- ``/pay/<order_id>`` is the buyer's page: "Pay" sends the signed notify (POST) to the
  merchant and, on ``success``, redirects the browser to the signed return URL; on
  ``fail`` or no answer it retries three times, ``retry_interval`` apart (60 s, as the
  gateway does), while the page waits. "Let it time out" sends the browser to the
  timeout URL. ``?format=json`` is the order for a shop's own pay page (``api_url``),
  ``/qrcode/<order_id>.png`` its QR code, ``/pay/any`` the quick-pay link.
- ``/console`` lists orders with every notify attempt and its answer, and the
  "I have received this payment" button that re-sends a notify by hand, as the real
  console does, also long after a timeout. It also lists the cloud sessions (which
  accounts are online) and the points balance: "scan to go online" costs the scan fee,
  "take offline" drops a session. With no online session for a type, the create API
  answers code 204, and a payment into an unwatched account is never noticed: no notify.

The package: ``app.py`` (routing), ``state.py`` (what the gateway keeps), its routes in
``gateway_api.py`` (the JSON API, QR codes), ``buyer_routes.py`` and ``console_routes.py``,
``orders.py`` (the order book), ``notifier.py`` (notifies and their retries),
``create.py`` (the create APIs' rules and codes), ``cloud_sessions.py`` (accounts
online), and its HTML, escaped by construction: ``layout.py``, ``pay_page.py`` and
``merchant_console.py``. State lives in memory.
"""

from __future__ import annotations

from .app import Sandbox
from .cloud_sessions import CloudSessions, ScanRefused
from .gateway_api import qr_data_uri
from .orders import Attempt, SandboxOrder

__all__ = ["Attempt", "CloudSessions", "Sandbox", "SandboxOrder", "ScanRefused", "qr_data_uri"]

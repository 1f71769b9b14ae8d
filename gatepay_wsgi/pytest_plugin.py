"""pytest fixtures for a merchant's tests (loaded automatically, ``-p no:gatepay_wsgi`` to not).

::

    @pytest.fixture
    def gatepay_credentials():          # your test appkey and appsecret
        return ("test-key", "test-secret")

    def test_paid(app, gatepay_notify):
        answer = gatepay_notify(app, out_order_id="GP1", price="10.00")
        assert answer.body == "success"

``gatepay_notify(app, path="/gatepay/notify", method="POST", **fields)`` signs the
fields with ``gatepay_credentials`` and delivers them; ``sign=BAD_SIGN`` forges one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest

from .testing import NotifyAnswer, send_notify, signed_notify


@pytest.fixture
def gatepay_credentials() -> tuple[str, str]:
    """``(appkey, appsecret)``: GATEPAY_TEST_APPKEY/SECRET, or fixed test values."""
    return (
        os.environ.get("GATEPAY_TEST_APPKEY", "test-appkey"),
        os.environ.get("GATEPAY_TEST_APPSECRET", "test-appsecret"),
    )


@pytest.fixture
def gatepay_notify(gatepay_credentials: tuple[str, str]) -> Callable[..., NotifyAnswer]:
    """``gatepay_notify(app, **fields)``: deliver a correctly signed notify to a WSGI app."""
    appkey, appsecret = gatepay_credentials

    def deliver(
        app: Any, *, path: str = "/gatepay/notify", method: str = "POST", **fields: str
    ) -> NotifyAnswer:
        return send_notify(
            app, signed_notify(appkey, appsecret, **fields), path=path, method=method
        )

    return deliver

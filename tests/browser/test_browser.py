"""A real browser through the whole offline flow: headless Chromium, the demo shop, the sandbox.

Runs in the ``browser`` tox env (``pytest -m browser``) with Playwright driving the system's
Chromium (``CHROMIUM`` to point elsewhere); skipped, saying why, where there is none.
Screenshots go to ``$BROWSER_SCREENSHOTS`` (default: the test's temporary directory).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
CHROMIUM = os.environ.get("CHROMIUM") or next(
    (p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None
)
if CHROMIUM is None:
    pytest.skip(
        "no Chromium binary on this machine (apt-get install chromium)", allow_module_level=True
    )

# The flags this machine needs: no sandbox as root, and no calls home (the network is closed).
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="module")
def browser() -> Iterator:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def demo(tmp_path) -> Iterator:
    from gatepay_wsgi.demo import Demo

    with Demo(tmp_path / "demo", port=0, retry_interval=0.5) as running:
        yield running


@pytest.fixture
def page(browser, tmp_path, request):
    context = browser.new_context()
    tab = context.new_page()
    tab.set_default_timeout(15_000)
    yield tab
    folder = Path(os.environ.get("BROWSER_SCREENSHOTS", tmp_path))
    folder.mkdir(parents=True, exist_ok=True)
    tab.screenshot(path=str(folder / f"{request.node.name}-last.png"), full_page=True)
    context.close()


def shot(page, name: str) -> None:
    folder = (
        Path(os.environ.get("BROWSER_SCREENSHOTS", ""))
        if os.environ.get("BROWSER_SCREENSHOTS")
        else None
    )
    if folder:
        page.screenshot(path=str(folder / f"{name}.png"), full_page=True)


def inbox_record(demo, order_id: int):
    from gatepay_wsgi.inbox import open_inbox

    (record,) = open_inbox(demo.inbox).get(order_id)
    return record


def test_buy_pay_and_land_on_a_paid_return_page(demo, page):
    page.goto(demo.shop_url + "/")
    shot(page, "1-shop")
    page.click("#buy-tea")
    page.wait_for_url(re.compile(re.escape(demo.gateway_url) + r"/pay/\d+$"))
    assert "Pay 10.00 yuan (alipay)" in page.inner_text("h1")
    shot(page, "2-pay-page")
    order_id = int(page.url.rsplit("/", 1)[1])
    page.click("#pay")
    page.wait_for_url(re.compile(re.escape(demo.shop_url) + r"/gatepay/return\?"))
    assert page.inner_text("h1") == "Thank you"
    assert "paid" in page.inner_text("#status")
    assert f"gateway order {order_id}" in page.inner_text("#status")
    shot(page, "3-return-paid")
    assert inbox_record(demo, order_id).status == "done"


def test_time_out_then_the_manual_re_send_is_acknowledged_without_paying_twice(demo, page):
    page.goto(demo.shop_url + "/")
    page.click("#buy-cake")
    page.wait_for_url(re.compile(r"/pay/\d+$"))
    order_id = int(page.url.rsplit("/", 1)[1])
    page.click("#timeout")
    page.wait_for_url(re.compile(re.escape(demo.shop_url) + r"/gatepay/timeout\?"))
    assert page.inner_text("h1") == "Payment window closed"
    assert "pending" in page.inner_text("#status")
    shot(page, "4-timeout")

    # The money arrived after all: the merchant presses the console's button, twice.
    for _ in range(2):
        page.goto(demo.gateway_url + "/console")
        page.click(f"#resend-{order_id}")
        page.wait_for_url(re.compile(r"/console$"))
    row = page.inner_text(f"#order-{order_id}")
    assert row.count("manual: answered 200 success") == 2
    shot(page, "5-console-resent")

    page.goto(f"{demo.shop_url}/orders/{page.inner_text(f'#order-{order_id} td:nth-child(2)')}")
    assert "paid" in page.inner_text("#status")
    record = inbox_record(demo, order_id)
    assert (record.status, record.attempts) == ("done", 1)  # handled once, acknowledged twice


def test_no_account_online_the_shop_shows_the_gateways_refusal(demo, page):
    page.goto(demo.gateway_url + "/console")
    for session_id in [
        s.session_id for s in demo.sandbox.sessions.sessions.values() if s.type == "alipay"
    ]:
        page.click(f"#offline-{session_id}")
        page.wait_for_url(re.compile(r"/console$"))
    assert "offline" in page.inner_text("#session-1 .state")
    shot(page, "6-session-offline")
    page.goto(demo.shop_url + "/")
    page.click("#buy-tea")  # alipay is the default choice
    assert page.inner_text("h1") == "Payment not available"
    assert "无可用支付方式" in page.inner_text("body")  # the gateway's own words
    assert "no account of this pay type is online" in page.inner_text("body")
    shot(page, "7-shop-refusal")
    page.goto(demo.gateway_url + "/console")
    page.click("#revive-1")
    page.wait_for_url(re.compile(r"/console$"))
    assert page.inner_text("#points") == "800"
    page.goto(demo.shop_url + "/")
    page.click("#buy-tea")
    page.wait_for_url(re.compile(r"/pay/\d+$"))  # online again: the gateway takes the order

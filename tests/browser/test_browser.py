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


# -- phone and desktop, Chinese and English -------------------------------------------

SCREENS = {
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
    "desktop": {"viewport": {"width": 1280, "height": 800}},
}
WORDS = {  # what the demo shop says, per language
    "zh-CN": {
        "buy": "购买一壶茶",
        "thank_you": "谢谢",
        "paid": "已支付",
        "invalid": "支付链接无效",
    },
    "en-US": {
        "buy": "Buy A pot of tea",
        "thank_you": "Thank you",
        "paid": "paid",
        "invalid": "Payment link not valid",
    },
}


def fits_the_screen(page) -> bool:
    """No sideways scrolling: the page is laid out for the device's width."""
    return page.evaluate("document.scrollingElement.scrollWidth <= window.innerWidth + 1")


@pytest.mark.parametrize("screen", sorted(SCREENS))
@pytest.mark.parametrize("locale", sorted(WORDS))
def test_every_page_reads_at_phone_and_desktop_width_in_both_languages(
    demo, browser, tmp_path, screen, locale
):
    context = browser.new_context(locale=locale, **SCREENS[screen])
    page = context.new_page()
    page.set_default_timeout(15_000)
    words = WORDS[locale]
    lang = "zh-CN" if locale.startswith("zh") else "en"
    name = f"{screen}-{lang}"
    try:
        page.goto(demo.shop_url + "/")
        assert page.get_attribute("html", "lang") == lang
        assert words["buy"] in page.inner_text("#buy-tea")
        assert fits_the_screen(page), "the shop scrolls sideways"
        shot(page, f"{name}-1-shop")
        page.click("#buy-tea")
        page.wait_for_url(re.compile(re.escape(demo.gateway_url) + r"/pay/\d+$"))
        assert page.get_attribute("html", "lang") == lang
        assert fits_the_screen(page), "the sandbox's pay page scrolls sideways"
        assert page.locator("#pay").bounding_box()["height"] >= 44  # a thumb can hit it
        shot(page, f"{name}-2-pay")
        page.click("#pay")
        page.wait_for_url(re.compile(re.escape(demo.shop_url) + r"/gatepay/return\?"))
        assert page.inner_text("h1") == words["thank_you"]
        assert words["paid"] in page.inner_text("#status")
        assert fits_the_screen(page), "the return page scrolls sideways"
        shot(page, f"{name}-3-return")
        forged = page.url.replace("price=10.00", "price=0.01")
        page.goto(forged)  # a forged return link: the library's own page
        assert page.inner_text("h1") == words["invalid"]
        assert page.get_attribute("html", "lang") == lang
        assert fits_the_screen(page), "the library's own page scrolls sideways"
        shot(page, f"{name}-4-forged-return")
        page.click("a.back")
        page.wait_for_url(demo.shop_url + "/")
        page.goto(demo.gateway_url + "/console")
        assert page.get_attribute("html", "lang") == lang
        assert fits_the_screen(page), "the console scrolls sideways (tables scroll in a box)"
        shot(page, f"{name}-5-console")
    finally:
        context.close()


# -- the inbox's console ---------------------------------------------------------------

CONSOLE_PASSWORD = "correct horse battery staple"


@pytest.fixture
def console_site(tmp_path) -> Iterator:
    """A shop whose handler fails an order's first delivery (its database was down) and
    the inbox's console beside it, under waitress: (base URL, the failed order id)."""
    import threading
    from urllib.parse import urlencode

    from werkzeug.security import generate_password_hash
    from werkzeug.test import Client

    from gatepay_wsgi import GatePayMiddleware, Notify
    from gatepay_wsgi.console import Console
    from gatepay_wsgi.demo import local_server
    from gatepay_wsgi.inbox import open_inbox
    from gatepay_wsgi.testing import signed_notify

    calls: list[int] = []

    def mark_paid(notification):
        calls.append(notification.order_id)
        if calls.count(notification.order_id) == 1:
            raise RuntimeError("database is down")

    inbox = open_inbox(f"sqlite:///{tmp_path}/inbox.sqlite3")
    console = Console(
        inbox,
        users={"alice": generate_password_hash(CONSOLE_PASSWORD, "pbkdf2:sha256:1000")},
        secret_key="browser-test-secret-" * 3,
        handler=mark_paid,
    )

    def shop(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [b"shop"]

    site = GatePayMiddleware(
        shop,
        appkey="k",
        appsecret="s",
        inbox=inbox,
        paths={"/gatepay/notify": Notify(mark_paid)},
        mounts={"/gatepay/console": console},
    )
    failed = Client(site).post(
        "/gatepay/notify",
        data=urlencode(signed_notify("k", "s", order_id="7001", out_order_id="SHOP-7001")),
        content_type="application/x-www-form-urlencoded",
    )
    assert failed.status_code == 500
    server = local_server(site, 0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}/gatepay/console", 7001, calls
    finally:
        server.close()
        inbox.close()


@pytest.mark.parametrize("screen", sorted(SCREENS))
def test_the_console_signs_in_shows_a_failed_notify_and_replays_it(console_site, browser, screen):
    base, order_id, calls = console_site
    context = browser.new_context(locale="en-US", **SCREENS[screen])
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        # An unauthenticated page goes to the sign-in form, nothing of the inbox shown.
        page.goto(base + f"/notifies/{order_id}")
        assert "/login" in page.url
        assert "SHOP-7001" not in page.inner_text("body")
        # A POST without the CSRF token is refused, signed in or not.
        assert context.request.post(base + "/replay-failed", form={}).status == 403
        # A wrong password is refused.
        page.fill("#user", "alice")
        page.fill("#password", "wrong")
        page.click("#sign-in")
        assert "Wrong user name or password." in page.inner_text("body")
        shot(page, f"{screen}-console-1-wrong-password")
        page.fill("#user", "alice")
        page.fill("#password", CONSOLE_PASSWORD)
        page.click("#sign-in")
        page.wait_for_url(re.compile(rf"/notifies/{order_id}$"))  # back where it was going
        assert fits_the_screen(page), "the notify page scrolls sideways"
        assert "database is down" in page.inner_text("#last-error")
        shot(page, f"{screen}-console-2-failed")
        signed_in_csrfless = context.request.post(base + f"/notifies/{order_id}/replay", form={})
        assert signed_in_csrfless.status == 403
        assert calls == [order_id]  # the refused POST ran nothing
        page.click(f"#replay-{order_id}")
        page.wait_for_load_state()
        assert calls == [order_id, order_id]  # replayed once
        page.goto(base + f"/notifies/{order_id}")
        assert "done" in page.inner_text("body")
        shot(page, f"{screen}-console-3-replayed")
        page.goto(base + "/")
        assert fits_the_screen(page), "the overview scrolls sideways"
        shot(page, f"{screen}-console-4-overview")
    finally:
        context.close()

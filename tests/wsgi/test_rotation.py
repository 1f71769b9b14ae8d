"""A secret rotation that loses nothing: the gateway forces a new appsecret when the
merchant changes its login password (cloud.md), while notifies signed with the old one
are still being retried. ``appsecret`` may list both, the current one first."""

from __future__ import annotations

import json
import logging
from urllib.parse import urlencode

import pytest
from werkzeug.test import Client

from gatepay_wsgi import GatePayMiddleware, Notify, Return
from gatepay_wsgi.cli import main
from gatepay_wsgi.client import GatePayClient
from gatepay_wsgi.config import middleware_options
from gatepay_wsgi.errors import ConfigError
from gatepay_wsgi.signing import verify_notify

from ..gateway import APPKEY, md5, notify_fields, return_fields, shop
from ..servers import http, serving

NEW, OLD = "the-new-secret", "the-old-secret"


class Shop:
    """A handler that declines the orders in ``declining`` and keeps what it got."""

    def __init__(self) -> None:
        self.declining: set[int] = set()
        self.paid: list[tuple[int, int]] = []

    def __call__(self, notification):
        if notification.order_id in self.declining:
            return False
        self.paid.append((notification.order_id, notification.secret_index))
        return True


def test_both_secrets_verify_through_a_real_server_on_every_backend(make_inbox, caplog):
    handler = Shop()
    inbox = make_inbox()
    app = GatePayMiddleware(
        shop, appkey=APPKEY, appsecret=[NEW, OLD], inbox=inbox, paths={"/n": Notify(handler)}
    )
    handler.declining.add(3)
    with serving(app) as base, caplog.at_level(logging.WARNING, logger="gatepay_wsgi"):
        assert http("POST", base + "/n", notify_fields(secret=NEW, order_id="1"))[:2] == (
            200,
            "success",
        )
        assert "older appsecret" not in caplog.text
        assert http("POST", base + "/n", notify_fields(secret=OLD, order_id="2"))[:2] == (
            200,
            "success",
        )
        assert "notify verified with an older appsecret (#2 of 2" in caplog.text
        assert "order_id=2" in caplog.text
        assert OLD not in caplog.text  # never a secret in a log
        assert NEW not in caplog.text
        forged = http("POST", base + "/n", notify_fields(secret="someone-else", order_id="9"))
        assert forged[:2] == (403, "fail")
        # Signed with the old one, declined, retried by the gateway with the old one still.
        retried = notify_fields(secret=OLD, order_id="3")
        assert http("POST", base + "/n", retried)[:2] == (500, "fail")
        handler.declining.clear()
        assert http("POST", base + "/n", retried)[:2] == (200, "success")
        # Fields in another order than the gateway's take the general path: the same rule.
        reordered = dict(reversed(list(notify_fields(secret=OLD, order_id="4").items())))
        assert http("POST", base + "/n", reordered)[:2] == (200, "success")
        assert http("GET", base + "/n?" + urlencode(notify_fields(secret=OLD, order_id="5")))[
            :2
        ] == (200, "success")
    assert handler.paid == [(1, 0), (2, 1), (3, 1), (4, 1), (5, 1)]
    indexes = {order_id: inbox.get(order_id)[0].secret_index for order_id in (1, 2, 3, 4, 5)}
    assert indexes == {1: 0, 2: 1, 3: 1, 4: 1, 5: 1}
    assert inbox.get(9) == []


def test_a_retry_signed_with_the_new_secret_records_the_new_one(make_inbox):
    """The record keeps the secret of the delivery its handler last ran for."""
    handler = Shop()
    handler.declining.add(7)
    inbox = make_inbox()
    app = GatePayMiddleware(
        shop, appkey=APPKEY, appsecret=(NEW, OLD), inbox=inbox, paths={"/n": Notify(handler)}
    )
    client = Client(app)
    form = "application/x-www-form-urlencoded"
    old = urlencode(notify_fields(secret=OLD, order_id="7"))
    assert client.post("/n", data=old, content_type=form).get_data() == b"fail"
    assert inbox.get(7)[0].secret_index == 1
    handler.declining.clear()
    new = urlencode(notify_fields(secret=NEW, order_id="7"))
    assert client.post("/n", data=new, content_type=form).get_data() == b"success"
    assert inbox.get(7)[0].secret_index == 0
    assert handler.paid == [(7, 0)]


def test_the_quickstarts_environment_variable_may_list_both(monkeypatch):
    """``appsecret=os.environ["GATEPAY_APPSECRET"]`` as the Quickstart writes it, the
    variable holding two secrets separated by whitespace."""
    monkeypatch.setenv("GATEPAY_APPSECRET", f"  {NEW}\t{OLD} ")
    import os

    handler = Shop()
    app = GatePayMiddleware(
        shop,
        appkey=APPKEY,
        appsecret=os.environ["GATEPAY_APPSECRET"],
        paths={"/n": Notify(handler)},
    )
    client = Client(app)
    form = "application/x-www-form-urlencoded"
    for order_id, secret in (("21", NEW), ("22", OLD), ("23", f"{NEW} {OLD}")):
        body = urlencode(notify_fields(secret=secret, order_id=order_id))
        client.post("/n", data=body, content_type=form)
    assert handler.paid == [(21, 0), (22, 1)]
    client_with_both = GatePayClient("https://gatepay.io", APPKEY, os.environ["GATEPAY_APPSECRET"])
    assert client_with_both.appsecret == NEW


def test_a_return_signed_with_an_older_secret_is_shown():
    pages = []
    app = GatePayMiddleware(
        shop,
        appkey=APPKEY,
        appsecret=[NEW, OLD],
        paths={"/r": Return(lambda visit: pages.append(visit.order_id) or "thanks")},
    )
    client = Client(app)
    assert client.get("/r?" + urlencode(return_fields(secret=OLD))).get_data() == b"thanks"
    assert client.get("/r?" + urlencode(return_fields(secret="x"))).status_code == 400
    assert pages == [100001]


@pytest.mark.parametrize(
    ("appsecret", "words"),
    [
        ([], "empty list"),
        ([NEW, ""], "non-empty string"),
        ([NEW, "  "], "non-empty string"),
        ([NEW, NEW], "listed twice"),
        ("", "non-empty string"),
        (f"{NEW} {NEW}", "listed twice"),
    ],
)
def test_an_empty_or_odd_secret_list_is_refused_at_start_up(appsecret, words):
    with pytest.raises(ConfigError, match=words):
        GatePayMiddleware(shop, appkey=APPKEY, appsecret=appsecret, paths={"/n": Notify(print)})
    with pytest.raises(ConfigError, match=words):
        Notify(print, appkey=APPKEY, appsecret=appsecret)


@pytest.mark.parametrize("appsecret", [{NEW, OLD}, [NEW, 7], [NEW, None], b"secret", 7])
def test_a_secret_of_the_wrong_type_is_a_type_error(appsecret):
    """As for every other argument (the README's security notes): not a ``ConfigError``."""
    with pytest.raises(TypeError, match="appsecret"):
        Notify(print, appkey=APPKEY, appsecret=appsecret)


def test_a_replay_hands_the_handler_the_secret_that_verified_the_notify(make_inbox):
    handler = Shop()
    handler.declining.add(31)
    inbox = make_inbox()
    app = GatePayMiddleware(
        shop, appkey=APPKEY, appsecret=[NEW, OLD], inbox=inbox, paths={"/n": Notify(handler)}
    )
    body = urlencode(notify_fields(secret=OLD, order_id="31"))
    Client(app).post("/n", data=body, content_type="application/x-www-form-urlencoded")
    handler.declining.clear()
    (result,) = inbox.replay(handler, [31])
    assert result.outcome.value == "done"
    assert handler.paid == [(31, 1)]  # as the live delivery had it: never verified again
    assert inbox.get(31)[0].secret_index == 1  # the replay's claim keeps the stored one


def test_the_testing_kit_signs_with_the_first_of_several():
    from gatepay_wsgi.testing import signed_notify

    fixed = {"order_id": "1", "paytime": "1700000000"}
    assert signed_notify(APPKEY, f"{NEW} {OLD}", **fixed) == signed_notify(APPKEY, NEW, **fixed)
    assert signed_notify(APPKEY, [NEW, OLD], **fixed) != signed_notify(APPKEY, OLD, **fixed)


def test_an_empty_list_never_verifies_even_if_it_got_past_set_up():
    with pytest.raises(Exception, match="refusing to verify"):
        verify_notify(notify_fields(), APPKEY, [])
    with pytest.raises(Exception, match="refusing to verify"):
        verify_notify(notify_fields(secret=NEW), APPKEY, [NEW, ""])


@pytest.mark.parametrize(
    ("setting", "expected"),
    [
        (f"{NEW}  {OLD}", (NEW, OLD)),
        (f"\n  {NEW}\n  {OLD}\n", (NEW, OLD)),  # an .ini value over several lines
        ([NEW, OLD], (NEW, OLD)),  # Django or Flask settings written in Python
        (NEW, NEW),
    ],
)
def test_settings_list_several_secrets_separated_by_whitespace(setting, expected):
    options = middleware_options(
        {"gatepay.appkey": APPKEY, "gatepay.appsecret": setting, "gatepay.notify": "/n json:dumps"},
        prefix="gatepay.",
    )
    assert options["appsecret"] == expected


@pytest.mark.parametrize("setting", ["", "   ", [], [NEW, NEW]])
def test_a_setting_with_no_secret_or_a_repeated_one_names_the_setting(setting):
    with pytest.raises(ConfigError, match=r"gatepay\.appsecret"):
        middleware_options(
            {
                "gatepay.appkey": APPKEY,
                "gatepay.appsecret": setting,
                "gatepay.notify": "/n json:dumps",
            },
            prefix="gatepay.",
        )


def test_flask_settings_take_both_secrets(tmp_path):
    flask = pytest.importorskip("flask")
    from gatepay_wsgi.contrib.flask import GatePay

    app = flask.Flask(__name__)
    app.config.update(
        GATEPAY_APPKEY=APPKEY,
        GATEPAY_APPSECRET=f"{NEW} {OLD}",
        GATEPAY_INBOX=f"sqlite:///{tmp_path}/inbox.sqlite3",
    )
    paid = []
    GatePay(app).notify("/gatepay/notify")(lambda n: paid.append(n.secret_index))
    with serving(app) as base:
        for secret in (NEW, OLD, "neither"):
            http("POST", base + "/gatepay/notify", notify_fields(secret=secret, order_id="8"))
    assert paid == [0]  # the first handled it; the old one's is the same order, done
    with serving(app) as base:
        status, body, _ = http(
            "POST", base + "/gatepay/notify", notify_fields(secret=OLD, order_id="9")
        )
    assert (status, body, paid) == (200, "success", [0, 1])


@pytest.mark.parametrize("value", [f"{NEW} {NEW}", "   "])
def test_the_cli_refuses_a_secret_list_the_settings_would_refuse(capsys, monkeypatch, value):
    monkeypatch.setenv("GATEPAY_APPKEY", APPKEY)
    monkeypatch.setenv("GATEPAY_APPSECRET", value)
    assert main(["sign", "notify", "order_id=1"]) == 2
    assert "GATEPAY_APPSECRET" in capsys.readouterr().err


def test_outgoing_signs_use_the_first_secret(capsys, monkeypatch):
    client = GatePayClient("https://gatepay.io", APPKEY, [NEW, OLD])
    assert client.appsecret == NEW
    with pytest.raises(ConfigError):
        GatePayClient("https://gatepay.io", APPKEY, [])
    monkeypatch.setenv("GATEPAY_APPKEY", APPKEY)
    monkeypatch.setenv("GATEPAY_APPSECRET", f"{NEW} {OLD}")
    fields = notify_fields(secret=NEW)
    argv = [f"{name}={fields[name]}" for name in fields if name != "sign"]
    assert main(["sign", "notify", *argv]) == 0
    assert capsys.readouterr().out.strip() == fields["sign"]
    joined = APPKEY + "".join(
        fields[n]
        for n in ("order_id", "out_order_id", "price", "realprice", "type", "paytime", "extend")
    )
    assert fields["sign"] == md5(md5(joined) + NEW)


def test_inbox_show_and_the_console_say_an_older_secret_verified_it(tmp_path, capsys):
    url = f"sqlite:///{tmp_path}/inbox.sqlite3"
    app = GatePayMiddleware(
        shop, appkey=APPKEY, appsecret=[NEW, OLD], inbox=url, paths={"/n": Notify(lambda n: True)}
    )
    client = Client(app)
    form = "application/x-www-form-urlencoded"
    for order_id, secret in (("11", NEW), ("12", OLD)):
        body = urlencode(notify_fields(secret=secret, order_id=order_id))
        assert client.post("/n", data=body, content_type=form).get_data() == b"success"
    app.inbox.close()
    assert main(["inbox", "show", "12", "--inbox", url]) == 0
    assert "verified with:  an older appsecret (#2 in the settings" in capsys.readouterr().out
    assert main(["inbox", "show", "11", "--inbox", url]) == 0
    assert "older appsecret" not in capsys.readouterr().out
    assert main(["inbox", "show", "12", "--inbox", url, "--json"]) == 0
    assert json.loads(capsys.readouterr().out)[0]["secret_index"] == 1

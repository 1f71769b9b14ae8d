"""``Inbox.search``: the console's one read, the same on the memory, SQLite and PostgreSQL
inboxes (and the base class's default, built on ``records``)."""

from __future__ import annotations

import time
from urllib.parse import urlencode

import pytest
from werkzeug.test import Client

from gatepay_wsgi import GatePayMiddleware, Notify
from gatepay_wsgi.inbox import DONE, FAILED, Inbox, Status
from gatepay_wsgi.inbox.base import InboxStore
from gatepay_wsgi.inbox.search import SearchFilter

from ..gateway import APPKEY, APPSECRET, notify_fields, shop


@pytest.fixture
def inbox(make_inbox):
    """Each kind of inbox in turn (the shared ``make_inbox``: the search contract)."""
    return make_inbox()


def deliver(inbox: Inbox, order_id: int, out_order_id: str, ok: bool = True) -> None:
    app = GatePayMiddleware(
        shop,
        appkey=APPKEY,
        appsecret=APPSECRET,
        paths={"/n": Notify(lambda n: ok)},
        inbox=inbox,
    )
    fields = notify_fields(order_id=str(order_id), out_order_id=out_order_id)
    Client(app).post("/n", data=urlencode(fields), content_type="application/x-www-form-urlencoded")


@pytest.fixture
def stored(inbox):
    """Four notifies, 20 ms apart: 1 done, 2 failed, 3 done, 4 failed; the moment between
    2 and 3 in ``stored.middle``."""
    deliver(inbox, 1, "SHOP-A1")
    time.sleep(0.02)
    deliver(inbox, 2, "shop-a2", ok=False)
    time.sleep(0.02)
    middle = time.time()
    time.sleep(0.02)
    deliver(inbox, 3, "Other_1%")
    time.sleep(0.02)
    deliver(inbox, 4, "SHOP-B4", ok=False)
    inbox.middle = middle
    return inbox


def ids(records) -> list[int]:
    return [r.order_id for r in records]


def test_without_filters_every_notify_newest_first(stored):
    found = stored.search()
    assert ids(found) == [4, 3, 2, 1]
    assert found == sorted(found, key=lambda r: r.updated_at, reverse=True)
    assert found[0].raw["out_order_id"] == "SHOP-B4"


@pytest.mark.parametrize("status", [FAILED, "failed", Status.FAILED])
def test_by_status(stored, status):
    assert ids(stored.search(status=status)) == [4, 2]
    assert ids(stored.search(status=DONE)) == [3, 1]
    assert stored.search(status="received") == []


def test_an_unknown_status_is_an_error(stored):
    with pytest.raises(ValueError, match="paid"):
        stored.search(status="paid")


def test_by_gateway_order_id(stored):
    assert ids(stored.search(order_id=3)) == [3]
    assert stored.search(order_id=99) == []


@pytest.mark.parametrize(
    ("part", "expected"),
    [
        ("SHOP", [4, 2, 1]),  # ASCII letters in either case
        ("shop-a", [2, 1]),
        ("A2", [2]),
        ("_1%", [3]),  # LIKE's wildcards are plain characters here
        ("%", [3]),
        ("_", [3]),
        ("nothing", []),
        ("", [4, 3, 2, 1]),  # empty: any
    ],
)
def test_by_a_part_of_the_shop_order_id(stored, part, expected):
    assert ids(stored.search(out_order_id=part)) == expected


def test_by_when_first_received(stored):
    assert ids(stored.search(since=stored.middle)) == [4, 3]
    assert ids(stored.search(until=stored.middle)) == [2, 1]
    assert ids(stored.search(since=stored.middle, until=time.time() + 60)) == [4, 3]
    assert stored.search(since=time.time() + 60) == []


def test_the_received_time_not_the_last_change(stored, inbox):
    """A replay changes ``updated_at`` (the order) but not when the notify arrived."""
    inbox.replay(lambda n: True, [2])
    assert ids(stored.search()) == [2, 4, 3, 1]
    assert ids(stored.search(until=stored.middle)) == [2, 1]
    assert ids(stored.search(status=DONE, until=stored.middle)) == [2, 1]


def test_filters_combine_and_limit_keeps_the_newest(stored):
    assert ids(stored.search(status=FAILED, out_order_id="shop")) == [4, 2]
    assert ids(stored.search(status=FAILED, since=stored.middle)) == [4]
    assert ids(stored.search(status=DONE, order_id=2)) == []
    assert ids(stored.search(limit=2)) == [4, 3]
    assert ids(stored.search(status=FAILED, limit=1)) == [4]


def test_records_come_whole_without_later_deliveries(stored):
    (record,) = stored.search(order_id=2)
    assert (record.status, record.out_order_id, record.attempts) == (FAILED, "shop-a2", 1)
    assert record.last_error == "handler returned False"
    assert record.raw["sign"]


def test_the_base_class_default_answers_the_same(stored):
    """A third-party inbox without its own ``search`` gets ``records`` filtered."""
    for query in (
        {},
        {"status": FAILED},
        {"out_order_id": "shop-A"},
        {"since": stored.middle},
        {"until": stored.middle, "limit": 1},
        {"order_id": 3},
    ):
        wanted = SearchFilter.of(
            query.get("status"),
            query.get("order_id"),
            query.get("out_order_id"),
            query.get("since"),
            query.get("until"),
        )
        limit = query.get("limit", 100)
        by_default = InboxStore._search(stored, wanted, limit)  # the base class's own
        assert ids(by_default) == ids(stored.search(**query)), query


def test_the_consoles_search_box_finds_the_largest_order_id_and_none_beyond(inbox):
    """A 19-digit gateway order id is a real one (up to 2**63 - 1): the search box finds
    it; a larger number finds nothing, and neither is called a typing mistake."""
    from werkzeug.security import generate_password_hash

    from gatepay_wsgi.console import Console

    largest = 2**63 - 1
    deliver(inbox, largest, "BIG-1")
    deliver(inbox, 7, "SMALL-7")
    console = Console(
        inbox,
        users={"alice": generate_password_hash("pw", "pbkdf2:sha256:1000")},
        secret_key="s" * 40,
    )
    client = Client(console)
    page = client.get("/login").get_data(as_text=True)
    csrf = page.split("name=csrf value='")[1].split("'")[0]
    assert client.post("/login", data={"csrf": csrf, "user": "alice", "password": "pw"})
    found = client.get(f"/notifies?order_id={largest}").get_data(as_text=True)
    assert f"id=row-{largest} " in found
    assert "id=row-7 " not in found
    beyond = client.get(f"/notifies?order_id={largest + 1}").get_data(as_text=True)
    assert "id=row-" not in beyond
    assert "was not understood" not in found + beyond


def test_a_shop_id_with_letters_beyond_ascii_is_found_as_written(inbox):
    """Only ASCII letters match in either case (as SQLite's LOWER): PostgreSQL's LOWER
    would also lower "É", and an id typed exactly as stored would not be found there."""
    deliver(inbox, 11, "ÉCOLE-Straße-订单")
    deliver(inbox, 12, "école-strasse")
    assert ids(inbox.search(out_order_id="ÉCOLE-Straße-订单")) == [11]
    assert ids(inbox.search(out_order_id="École")) == [11]  # É as stored, COLE in any case
    assert ids(inbox.search(out_order_id="écOLE")) == [12]  # é is not É: not ASCII
    assert ids(inbox.search(out_order_id="COLE-STRASSE")) == [12]
    assert ids(inbox.search(out_order_id="订单")) == [11]

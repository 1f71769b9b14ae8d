"""inbox/refusals.py: refused requests are written in batches, never failing the request."""

from __future__ import annotations

import gc
import threading
import time
import weakref

import pytest

from gatepay_wsgi.errors import InboxUnavailable
from gatepay_wsgi.inbox.refusals import RefusalBuffer


class Writes:
    """A ``write(batch)`` that keeps its batches, or raises while ``failing``."""

    def __init__(self) -> None:
        self.batches: list[list[tuple]] = []
        self.failing = False

    def __call__(self, batch):
        if self.failing:
            raise InboxUnavailable("database is locked")
        self.batches.append(list(batch))


@pytest.fixture(autouse=True)
def own_registry(monkeypatch):
    """Buffers of this module only: ``flush_all`` must not write other tests' inboxes."""
    monkeypatch.setattr(RefusalBuffer, "_live", weakref.WeakSet())


def test_the_first_refusal_is_written_at_once_then_a_full_batch():
    writes = Writes()
    buffer = RefusalBuffer(writes, size=3, seconds=60)
    for row in range(1, 6):
        buffer.add((row,))
    assert writes.batches == [[(1,)], [(2,), (3,), (4,)]]
    buffer.flush()
    assert writes.batches[-1] == [(5,)]
    buffer.flush()  # nothing waits: no empty write
    assert len(writes.batches) == 3


def test_the_tail_of_a_burst_is_written_once_it_has_waited():
    writes = Writes()
    buffer = RefusalBuffer(writes, size=100, seconds=0.1)
    buffer.add(("a",))
    buffer.add(("b",))
    buffer.flush_stale()  # too soon
    assert writes.batches == [[("a",)]]
    time.sleep(0.15)
    buffer.flush_stale()
    assert writes.batches == [[("a",)], [("b",)]]


def test_a_failed_write_is_dropped_quietly_by_add_but_raised_by_flush():
    writes = Writes()
    buffer = RefusalBuffer(writes, size=2, seconds=60)
    writes.failing = True
    buffer.add(("lost",))  # written at once, and refused: no error for the request
    buffer.add(("kept",))
    with pytest.raises(InboxUnavailable):
        buffer.flush()
    writes.failing = False
    buffer.add(("new",))
    buffer.flush()
    assert writes.batches == [[("new",)]]


def test_rows_added_from_many_threads_are_each_written_once():
    writes = Writes()
    buffer = RefusalBuffer(writes, size=7, seconds=60)

    def add_many(thread: int) -> None:
        for i in range(200):
            buffer.add((thread, i))

    threads = [threading.Thread(target=add_many, args=(t,)) for t in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    buffer.flush()
    written = [row for batch in writes.batches for row in batch]
    assert sorted(written) == [(t, i) for t in range(8) for i in range(200)]
    assert max(len(batch) for batch in writes.batches) <= 7 + 8  # a batch per full buffer


def test_flush_all_writes_what_every_live_buffer_holds():
    first, second, dropped = Writes(), Writes(), Writes()
    buffers = [RefusalBuffer(w, seconds=60) for w in (first, second)]
    for buffer in buffers:
        buffer.add(("at once",))
        buffer.add(("waiting",))
    RefusalBuffer(dropped, seconds=60).add(("x",))
    gc.collect()  # nothing keeps a buffer alive but its inbox
    RefusalBuffer.flush_all()
    assert first.batches[-1] == second.batches[-1] == [("waiting",)]
    assert len(RefusalBuffer._live) == 2

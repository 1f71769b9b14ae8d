"""Refused requests, kept without slowing payments: ``buffer = RefusalBuffer(write_batch)``."""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from collections.abc import Callable
from contextlib import suppress
from typing import Any, ClassVar

from ..errors import InboxUnavailable


class RefusalBuffer:
    """Refused requests held in memory and written in batches: ``buffer.add(row)``.

    A probe must neither fill the disk, nor fail a request, nor take a durable inbox's
    write lock once per forgery (payments need it). ``write(batch)`` runs once ``size``
    rows wait or ``seconds`` after the last write (so the first refusal is written at
    once); a failed write is dropped quietly, the endpoint having logged each refusal.
    What waits is written when the process exits, too (a worker stopped by its server).
    """

    _live: ClassVar[weakref.WeakSet[RefusalBuffer]] = weakref.WeakSet()

    @classmethod
    def flush_all(cls) -> None:
        """At exit: write what every buffer of this process still holds."""
        for buffer in list(cls._live):
            buffer._flush_quietly()

    def __init__(
        self,
        write: Callable[[list[tuple[Any, ...]]], None],
        size: int = 100,
        seconds: float = 1.0,
    ) -> None:
        self._write, self._size, self._seconds = write, size, seconds
        self._rows: list[tuple[Any, ...]] = []
        self._written = float("-inf")
        self._lock = threading.Lock()
        RefusalBuffer._live.add(self)

    def add(self, row: tuple[Any, ...]) -> None:
        with self._lock:
            self._rows.append(row)
            due = len(self._rows) >= self._size or self._stale()
        if due:
            self._flush_quietly()

    def flush_stale(self) -> None:
        """Write the tail of a burst, if it has waited long enough (cheap otherwise)."""
        if self._rows and self._stale():
            self._flush_quietly()

    def flush(self) -> None:
        """Write what waits; ``InboxUnavailable`` if the inbox cannot take it."""
        with self._lock:
            batch, self._rows = self._rows, []
            self._written = time.monotonic()
        if batch:
            self._write(batch)

    def _stale(self) -> bool:
        return time.monotonic() - self._written >= self._seconds

    def _flush_quietly(self) -> None:
        with suppress(InboxUnavailable):
            self.flush()


atexit.register(RefusalBuffer.flush_all)

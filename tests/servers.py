"""Real servers on 127.0.0.1 for the tests: ``with serving(app) as url: ...``."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

waitress = pytest.importorskip("waitress")


@contextmanager
def serving(app: Any, threads: int = 4) -> Iterator[str]:
    """Serve a WSGI app with waitress on a free loopback port; stop it afterwards."""
    server = waitress.create_server(app, host="127.0.0.1", port=0, threads=threads)
    closing = threading.Event()

    def run() -> None:
        try:
            server.run()
        except (OSError, ValueError):  # the loop's sockets closed under it at shutdown
            if not closing.is_set():
                raise

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.effective_port}"
    finally:
        closing.set()
        server.close()
        thread.join(5)

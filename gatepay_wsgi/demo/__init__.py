"""``gatepay-wsgi demo``: the demo shop and the sandbox gateway together, on 127.0.0.1.

``Demo(directory, port=8000)`` starts both under waitress (the ``demo`` extra) in
background threads: the shop on ``port``, the sandbox on ``port + 1``, wired to each
other with one random appkey/appsecret, orders and the inbox in SQLite files in
``directory``. ``stop()`` (or leaving the ``with`` block) shuts both down.
"""

from __future__ import annotations

import errno
import secrets
import threading
from pathlib import Path
from typing import Any

from werkzeug.security import generate_password_hash

from ..errors import GatePayException
from ..sandbox import CloudSessions, Sandbox
from .shop import CONSOLE_PATH, make_shop

#: The demo console's user name (``Demo.console_password`` is made per run).
CONSOLE_USER = "admin"


class PortInUse(GatePayException):
    """The port the demo or the sandbox would listen on is taken (``--port`` picks another)."""


def local_server(app: Any, port: int) -> Any:
    """``local_server(app, 8000)``: a waitress server on 127.0.0.1 (the demo, the sandbox)."""
    try:
        import waitress
    except ImportError:  # pragma: no cover - the demo extra installs it
        raise SystemExit("the demo needs waitress: pip install 'gatepay_wsgi[demo]'") from None
    try:
        return waitress.create_server(app, host="127.0.0.1", port=port, threads=8)
    except OSError as error:
        if error.errno == errno.EADDRINUSE:
            raise PortInUse(
                f"port {port} on 127.0.0.1 is in use: pass --port with another"
            ) from None
        raise


class Demo:
    """The demo shop and the sandbox gateway, running until ``stop()``."""

    def __init__(
        self,
        directory: str | Path,
        *,
        port: int = 8000,
        gateway_port: int | None = None,
        retry_interval: float = 60.0,
        appkey: str | None = None,
        appsecret: str | None = None,
        sessions: CloudSessions | None = None,
    ) -> None:
        folder = Path(directory)
        folder.mkdir(parents=True, exist_ok=True)
        self.appkey = appkey or "demo-" + secrets.token_hex(4)
        self.appsecret = appsecret or secrets.token_hex(16)
        self.inbox = f"sqlite:///{folder.resolve() / 'gatepay-inbox.sqlite3'}"
        #: The console's one user is ``CONSOLE_USER``; its password is made for this run.
        self.console_password = secrets.token_urlsafe(9)
        placeholder = "http://127.0.0.1:0"
        self.sandbox = Sandbox(
            appkey=self.appkey,
            appsecret=self.appsecret,
            notify_url=placeholder,
            return_url=placeholder,
            timeout_url=placeholder,
            retry_interval=retry_interval,
            sessions=sessions,
        )
        servers: list[Any] = []
        try:  # a port taken (PortInUse): what was opened closes again
            servers.append(
                local_server(
                    self.sandbox,
                    gateway_port if gateway_port is not None else (port + 1 if port else 0),
                )
            )
            self.gateway_server = servers[0]
            self.gateway_url = f"http://127.0.0.1:{self.gateway_server.effective_port}"
            self.shop_server = self._shop_server(folder, port)
        except BaseException:
            for server in servers:
                server.close()
            self.sandbox.close()
            raise
        self.shop_url = f"http://127.0.0.1:{self.shop_server.effective_port}"
        self.console_url = self.shop_url + CONSOLE_PATH
        self.sandbox.notify_url = self.shop_url + "/gatepay/notify"
        self.sandbox.return_url = self.shop_url + "/gatepay/return"
        self.sandbox.timeout_url = self.shop_url + "/gatepay/timeout"
        self._stopping = threading.Event()
        self._threads = [
            threading.Thread(target=self._run, args=(server,), daemon=True)
            for server in (self.gateway_server, self.shop_server)
        ]
        for thread in self._threads:
            thread.start()

    def _shop_server(self, folder: Path, port: int) -> Any:
        shop = make_shop(
            database=str(folder / "shop.sqlite3"),
            inbox=self.inbox,
            appkey=self.appkey,
            appsecret=self.appsecret,
            gateway_url=self.gateway_url,
            console_users={CONSOLE_USER: generate_password_hash(self.console_password)},
            console_secret=secrets.token_urlsafe(32),
        )
        return local_server(shop, port)

    def _run(self, server: Any) -> None:
        try:
            server.run()
        except (OSError, ValueError):  # its sockets closed under the loop at shutdown
            if not self._stopping.is_set():
                raise

    def stop(self) -> None:
        self._stopping.set()
        self.sandbox.close()
        for server in (self.shop_server, self.gateway_server):
            server.close()
        for thread in self._threads:
            thread.join(5)

    def __enter__(self) -> Demo:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

"""``gatepay-wsgi sign|send|sandbox|demo``: the offline developer loop.

::

    gatepay-wsgi sign notify order_id=1 out_order_id=GP1 price=10.00 ...   # prints the sign
    gatepay-wsgi send notify --url http://127.0.0.1:8000/gatepay/notify out_order_id=GP1
    gatepay-wsgi send return --url http://127.0.0.1:8000/gatepay/return out_order_id=GP1
    gatepay-wsgi sandbox --notify-url ... --return-url ... [--timeout-url ...]
    gatepay-wsgi demo                                                       # shop + sandbox

Credentials come from ``--appkey``/``--appsecret`` or ``GATEPAY_APPKEY``/``GATEPAY_APPSECRET``.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import shlex
import shutil
import signal
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from .. import outbound
from ..errors import ConfigError, GatePayError
from ..outbound import Unreachable, check_http_url
from ..signing import notify_sign, return_sign, signing_secret
from ..testing import signed_notify, signed_return
from .common import CommandError

_SIGNERS = {"notify": notify_sign, "return": return_sign}


def _credentials(args: argparse.Namespace) -> tuple[str, str]:
    """The appkey and the appsecret to sign with: the first of several (a rotation lists
    the current one first, as the shop's settings do)."""
    if not args.appkey or not (args.appsecret or "").strip():
        raise CommandError(
            "no credentials: pass --appkey and --appsecret, or set GATEPAY_APPKEY and "
            "GATEPAY_APPSECRET"
        )
    try:  # the rule every setting follows: several separated by whitespace
        return args.appkey, signing_secret(args.appsecret)
    except ConfigError as error:
        raise CommandError(f"--appsecret (or GATEPAY_APPSECRET): {error}") from None


def _pairs(items: list[str]) -> dict[str, str]:
    fields: dict[str, str] = {}
    for item in items:
        name, equals, value = item.partition("=")
        if not equals or not name:
            raise CommandError(f"{item!r}: write fields as name=value")
        fields[name] = value
    return fields


def _sign(args: argparse.Namespace) -> int:
    appkey, appsecret = _credentials(args)
    try:
        print(_SIGNERS[args.kind](_pairs(args.fields), appkey, appsecret))
    except GatePayError as error:
        raise CommandError(f"sign {args.kind}: {error}") from None
    return 0


def _send(args: argparse.Namespace) -> int:
    fields = _pairs(args.fields)
    url = check_http_url(args.url, "--url")
    if args.kind == "timeout":
        method = "GET"
    else:
        appkey, appsecret = _credentials(args)
        build = signed_notify if args.kind == "notify" else signed_return
        fields = build(appkey, appsecret, **fields)
        method = "GET" if args.get or args.kind == "return" else "POST"
    print(f"{method} {url}")
    for name, value in fields.items():
        print(f"  {name} = {value[:6] + '...' if name == 'sign' else value}")
    try:
        sent = outbound.request(method, url, fields, timeout=args.timeout)
    except Unreachable as error:
        raise CommandError(str(error)) from None
    answer = sent.body.decode("utf-8", "replace")
    print(f"-> {sent.status} {sent.reason}")
    print(answer if len(answer) <= 500 else answer[:500] + f"... ({len(sent.body)} bytes)")
    if args.kind == "notify":
        return 0 if answer == "success" else 1
    return 0 if sent.status < 400 else 1


def _on_sigterm() -> threading.Event:
    """An event set by SIGTERM (a supervisor's stop), installed before we say we are up."""
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    return done


def _serve_until_stopped(done: threading.Event, stop: Any) -> int:
    """Block until Ctrl-C or SIGTERM, then ``stop()``."""
    with contextlib.suppress(KeyboardInterrupt):
        done.wait()
    print("stopping")
    stop()
    return 0


def _sandbox(args: argparse.Namespace) -> int:
    from ..demo import local_server
    from ..sandbox import Sandbox

    appkey, appsecret = _credentials(args)
    missing = [
        f"--{name.replace('_', '-')} (or GATEPAY_{name.upper()})"
        for name in ("notify_url", "return_url")
        if not getattr(args, name)
    ]
    if missing:
        raise CommandError(
            f"{' and '.join(missing)} {'is' if len(missing) == 1 else 'are'} required"
        )
    for name in ("notify_url", "return_url", "timeout_url"):
        if getattr(args, name):
            check_http_url(getattr(args, name), "--" + name.replace("_", "-"))
    sandbox = Sandbox(
        appkey=appkey,
        appsecret=appsecret,
        notify_url=args.notify_url,
        return_url=args.return_url,
        timeout_url=args.timeout_url,
        retry_interval=args.retry_interval,
        sessions=_sessions(args),
    )
    try:
        server = local_server(sandbox, args.port)
    except BaseException:
        sandbox.close()
        raise
    base = f"http://127.0.0.1:{server.effective_port}"
    configure_logging()
    done = _on_sigterm()
    print(f"GatePay sandbox on {base}")
    print(f"  create API: {base}/api/anypay/create   (set GATEPAY_GATEWAY_URL={base})")
    print(f"  console:    {base}/console")
    print(f"  notifies go to {args.notify_url}; Ctrl-C stops it", flush=True)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()

    def stop() -> None:
        sandbox.close()
        server.close()

    return _serve_until_stopped(done, stop)


def _demo(args: argparse.Namespace) -> int:
    from ..demo import CONSOLE_USER, Demo

    directory = args.dir or tempfile.mkdtemp(prefix="gatepay-demo-")
    try:
        demo = Demo(
            directory, port=args.port, retry_interval=args.retry_interval, sessions=_sessions(args)
        )
    except BaseException:
        if not args.dir:  # ours, and still empty of anything worth keeping
            shutil.rmtree(directory, ignore_errors=True)
        raise
    configure_logging()
    done = _on_sigterm()
    print("GatePay demo: a shop and a sandbox gateway on this machine, nothing is paid.")
    print(f"  open the shop:    {demo.shop_url}/")
    print(f"  gateway console:  {demo.gateway_url}/console")
    print(
        f"  inbox console:    {demo.console_url}/  "
        f"(user {CONSOLE_USER}, password {demo.console_password})"
    )
    print(f"  orders and inbox: {directory}")
    inbox_list = [*this_command(), "inbox", "list", "--inbox", demo.inbox]
    print(f"  inbox on the command line: {shlex.join(inbox_list)}")
    print(
        "Buy something, then pay (or let it time out) on the gateway's page. Ctrl-C stops.",
        flush=True,  # also when stdout is a pipe: a test or a supervisor reads these lines
    )
    return _serve_until_stopped(done, demo.stop)


def this_command() -> list[str]:
    """How to run ``gatepay-wsgi`` again as printed, from any shell: the script beside this
    Python (a venv's ``bin``, on PATH or not), else ``python -m gatepay_wsgi``."""
    script = Path(sys.executable).parent / "gatepay-wsgi"
    if script.is_file() and os.access(script, os.X_OK):
        return [str(script)]
    return [sys.executable, "-m", "gatepay_wsgi"]


def configure_logging() -> None:
    """The tools' log lines (the sandbox's notifies, refusals) on their terminal."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")


def _sessions(args: argparse.Namespace) -> Any:
    from ..sandbox import CloudSessions

    return CloudSessions(points=args.points, scan_fee=args.scan_fee, online=not args.no_sessions)


def add_commands(commands: Any) -> None:
    """Add ``sign``, ``send``, ``sandbox`` and ``demo`` to the ``gatepay-wsgi`` parser."""
    keys = argparse.ArgumentParser(add_help=False)
    keys.add_argument(
        "--appkey",
        default=os.environ.get("GATEPAY_APPKEY"),
        help="the merchant's appkey (default: $GATEPAY_APPKEY)",
    )
    keys.add_argument(
        "--appsecret",
        default=os.environ.get("GATEPAY_APPSECRET"),
        help="the merchant's appsecret (default: $GATEPAY_APPSECRET; an option shows in ps)",
    )

    sign = commands.add_parser("sign", help="print the sign of a notify or return", parents=[keys])
    sign.add_argument("kind", choices=sorted(_SIGNERS))
    sign.add_argument("fields", nargs="*", metavar="NAME=VALUE")
    sign.set_defaults(run=_sign)

    send = commands.add_parser(
        "send", help="send a correctly signed callback to a URL", parents=[keys]
    )
    send.add_argument("kind", choices=("notify", "return", "timeout"))
    send.add_argument("--url", required=True, help="the shop's callback URL")
    send.add_argument("--get", action="store_true", help="a notify as GET (the older form)")
    send.add_argument("--timeout", type=float, default=10, help="seconds to wait (10)")
    send.add_argument("fields", nargs="*", metavar="NAME=VALUE", help="fields to set")
    send.set_defaults(run=_send)

    sandbox = commands.add_parser("sandbox", help="run the local sandbox gateway", parents=[keys])
    sandbox.add_argument("--port", type=int, default=8001)
    for name in ("notify", "return", "timeout"):
        variable = f"GATEPAY_{name.upper()}_URL"
        sandbox.add_argument(
            f"--{name}-url",
            default=os.environ.get(variable),
            help=f"the shop's {name} URL (default: ${variable})",
        )
    sandbox.add_argument("--retry-interval", type=float, default=60.0, help="seconds (60)")
    sandbox.set_defaults(run=_sandbox)
    _session_options(sandbox)

    demo = commands.add_parser("demo", help="run the demo shop and the sandbox together")
    demo.add_argument("--port", type=int, default=8000, help="the shop's; the gateway's is +1")
    demo.add_argument("--dir", help="where orders and the inbox go (default: a new temp dir)")
    demo.add_argument("--retry-interval", type=float, default=60.0, help="seconds (60)")
    demo.set_defaults(run=_demo)
    _session_options(demo)


def _session_options(command: argparse.ArgumentParser) -> None:
    online = os.environ.get("GATEPAY_SANDBOX_SESSIONS", "online")
    command.add_argument(
        "--no-sessions",
        action="store_true",
        default=online == "none",
        help="start with no account online (or GATEPAY_SANDBOX_SESSIONS=none)",
    )
    command.add_argument("--points", type=int, default=1000, help="points balance (1000)")
    command.add_argument("--scan-fee", type=int, default=200, help="points per scan (200)")

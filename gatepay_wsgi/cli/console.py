"""``gatepay-wsgi console``: the inbox's web console on 127.0.0.1, and its password hashes.

::

    gatepay-wsgi console hash-password          # asks for a password, prints its hash
    GATEPAY_CONSOLE_PASSWORD_HASH='scrypt:...' \\
    gatepay-wsgi console --inbox sqlite:////var/lib/shop/gatepay.sqlite3 --user alice \\
        [--handler shop.payments:mark_paid] [--port 8002]

The password is given only as its hash (``--password-hash`` or
``GATEPAY_CONSOLE_PASSWORD_HASH``). The cookies are signed with ``--secret`` (or
``GATEPAY_CONSOLE_SECRET``), by default a random one for this run: signing in again after
a restart. Without ``--handler`` the replay buttons are off. It listens on 127.0.0.1 only;
reach it from elsewhere through an SSH tunnel, or mount ``Console`` in your app behind
HTTPS.
"""

from __future__ import annotations

import argparse
import contextlib
import getpass
import os
import secrets
import signal
import sys
import threading
from typing import Any

from werkzeug.security import generate_password_hash

from .common import CommandError
from .dev import configure_logging


def _hash_password(args: argparse.Namespace) -> int:
    try:
        password = getpass.getpass("Password: ")
        if not password:
            raise CommandError("an empty password is not a password")
        if getpass.getpass("Again: ") != password:
            raise CommandError("the two passwords differ")
    except EOFError:  # stdin closed or empty (a script, /dev/null)
        raise CommandError("no password was typed: run it in a terminal") from None
    print(generate_password_hash(password))
    return 0


def _serve(args: argparse.Namespace) -> int:
    from ..console import Console
    from ..demo import local_server
    from ..inbox import open_inbox

    if not args.inbox:
        raise CommandError("no inbox: pass --inbox URL or set GATEPAY_INBOX")
    if not args.user:
        raise CommandError("no user: pass --user NAME (or set GATEPAY_CONSOLE_USER)")
    if not args.password_hash:
        raise CommandError(
            "no password hash: pass --password-hash or set GATEPAY_CONSOLE_PASSWORD_HASH "
            "(gatepay-wsgi console hash-password prints one)"
        )
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # --handler: the project's own modules, as gunicorn
    secret = args.secret or secrets.token_hex(32)
    inbox = open_inbox(args.inbox, create=False)
    try:
        console = Console(
            inbox,
            users={args.user: args.password_hash},
            secret_key=secret,
            handler=args.handler,
        )
        server = local_server(console, args.port)
    except BaseException:
        inbox.close()
        raise
    configure_logging()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    print(f"GatePay console on http://127.0.0.1:{server.effective_port}/")
    print(f"  sign in as {args.user}; replay {'on' if args.handler else 'off (no --handler)'}")
    if not args.secret:
        print("  a new secret for this run: sessions end when it stops (--secret keeps them)")
    print("  Ctrl-C stops it", flush=True)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    with contextlib.suppress(KeyboardInterrupt):
        done.wait()
    print("stopping")
    server.close()
    inbox.close()
    return 0


def add_commands(commands: Any) -> None:
    """Add ``console`` (and ``console hash-password``) to the ``gatepay-wsgi`` parser."""
    console = commands.add_parser(
        "console",
        help="the inbox's web console on 127.0.0.1 (or: console hash-password)",
        description="Serve the inbox's web console on 127.0.0.1, or print a password hash "
        "for it with `console hash-password`.",
    )
    console.add_argument(
        "--inbox",
        default=os.environ.get("GATEPAY_INBOX"),
        help="inbox URL, e.g. sqlite:////var/lib/shop/gatepay.sqlite3 (default: $GATEPAY_INBOX)",
    )
    console.add_argument(
        "--user",
        default=os.environ.get("GATEPAY_CONSOLE_USER"),
        help="the user who signs in (default: $GATEPAY_CONSOLE_USER)",
    )
    console.add_argument(
        "--password-hash",
        default=os.environ.get("GATEPAY_CONSOLE_PASSWORD_HASH"),
        help="the user's password hash, from `console hash-password` "
        "(default: $GATEPAY_CONSOLE_PASSWORD_HASH)",
    )
    console.add_argument(
        "--secret",
        default=os.environ.get("GATEPAY_CONSOLE_SECRET"),
        help="signs the session cookies, at least 32 characters (default: "
        "$GATEPAY_CONSOLE_SECRET, else a random one for this run)",
    )
    console.add_argument("--handler", help="package.module:function, to replay with")
    console.add_argument("--port", type=int, default=8002, help="the port on 127.0.0.1 (8002)")
    console.set_defaults(run=_serve)
    actions = console.add_subparsers(dest="action", metavar="[hash-password]")
    hashing = actions.add_parser(
        "hash-password", help="ask for a password and print its hash for --password-hash"
    )
    hashing.set_defaults(run=_hash_password)

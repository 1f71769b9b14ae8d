"""The ``gatepay-wsgi`` command: ``gatepay-wsgi --help``.

``inbox`` (list, show, replay, stats) lives in ``cli/inbox.py``; ``console`` in
``cli/console.py``; ``sign``, ``send``, ``sandbox`` and ``demo`` in ``cli/dev.py``. Exit
codes: 0 done, 1 the thing sent or replayed failed, 2 bad usage or something unreachable.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from ..errors import GatePayException
from . import console, dev, inbox


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="gatepay-wsgi",
        description="GatePay callbacks for WSGI: inspect and replay the inbox (or serve its "
        "web console), sign and send test callbacks, run the sandbox gateway or the demo.",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    inbox.add_commands(commands)
    console.add_commands(commands)
    dev.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gatepay-wsgi`` console script."""
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # argparse stops a positional list at the first option: `sign notify --appkey k a=1`
    # leaves `a=1` over. Fields (name=value) may stand anywhere; anything else is an error.
    fields = getattr(args, "fields", None)
    if isinstance(fields, list) and all("=" in x and not x.startswith("-") for x in extra):
        fields += extra
        extra = []
    if extra:
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        code: int = args.run(args)
    except GatePayException as error:  # ours, for the user; anything else is a bug: traceback
        print(f"gatepay-wsgi: {error}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())

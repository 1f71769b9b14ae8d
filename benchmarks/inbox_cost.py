"""Cost of one notify per inbox: ``python benchmarks/inbox_cost.py [--notifies 2000]``.

Calls the middleware directly with prepared WSGI environs (no server, no sockets), each
a distinct, correctly signed notify, through the memory inbox, the SQLite inbox with
``synchronous=FULL`` (the default) and with ``synchronous=NORMAL``. Also the cost of a
repeated, already-done notify. Prints medians of several runs and ratios against the
memory inbox measured in the same run. The SQLite file lives in a temporary directory
(--dir to choose the disk).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_inprocess import ours, post_environ, signed_body, start_response


def run(app: Callable[..., object], bodies: list[bytes]) -> float:
    """Seconds per notify over the given bodies."""
    environs = [post_environ(b) for b in bodies]
    started = time.perf_counter()
    for env in environs:
        answer = b"".join(app(env, start_response))  # type: ignore[operator]
        if answer != b"success":
            raise SystemExit(f"unexpected answer {answer!r}")
    return (time.perf_counter() - started) / len(bodies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notifies", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--dir", default=None, help="where the SQLite files go")
    parser.add_argument("--postgres", help="also a PostgreSQL inbox at this URL")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.dir) as folder:
        configs = {
            "memory": "memory://",
            "sqlite FULL": f"sqlite:///{Path(folder) / 'full.sqlite3'}",
            "sqlite NORMAL": f"sqlite:///{Path(folder) / 'normal.sqlite3'}?synchronous=normal",
        }
        if args.postgres:
            configs["postgres"] = args.postgres
        apps = {name: ours(url) for name, url in configs.items()}
        new: dict[str, list[float]] = {name: [] for name in configs}
        repeat: dict[str, list[float]] = {name: [] for name in configs}
        next_id = 1
        for _ in range(args.runs):
            for name, app in apps.items():  # interleaved, so drift hits every config alike
                bodies = [signed_body(i) for i in range(next_id, next_id + args.notifies)]
                next_id += args.notifies
                new[name].append(run(app, bodies))
                repeat[name].append(run(app, bodies[:200]))
    base_new = statistics.median(new["memory"])
    base_repeat = statistics.median(repeat["memory"])
    print(f"{args.notifies} distinct notifies x {args.runs} runs (median), in-process")
    print(f"{'inbox':<15}{'new notify':>14}{'ratio':>8}{'repeat (done)':>16}{'ratio':>8}")
    for name in configs:
        first, again = statistics.median(new[name]), statistics.median(repeat[name])
        print(
            f"{name:<15}{first * 1e6:>11.1f} us{first / base_new:>7.1f}x"
            f"{again * 1e6:>13.1f} us{again / base_repeat:>7.1f}x"
        )


if __name__ == "__main__":
    main()

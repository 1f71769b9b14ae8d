"""In-process benchmarks: ``python benchmarks/bench_inprocess.py [--quick] [--json out.json]``.

Every WSGI app is called directly with prepared environs (no server, no sockets). Each
case is measured ``--runs`` times, interleaved with its baseline so that drift hits
both; the median time per request is printed with its ratio to the baseline measured
in the same run. Notify cases send distinct, correctly signed notifies (a new order
each time), so every request does the full work: verify, record, handle, answer.

Cases (issue 27's targets in brackets, restating issue 15's):
- pass-through: the middleware over a trivial app; what it adds per request, as a
  share of a minimal Flask request (``GET /`` answering a string) [< 0.5%]
- notify, memory inbox past its 10,000-record mark (so eviction is in every run) vs a
  bare hand-written verifier: read, parse, two md5s, constant-time compare [<= 2.0x];
  and vs a hand-written Flask route using request.form
- notify, SQLite inbox (FULL, NORMAL) vs a hand-written Flask route committing the same
  row to SQLite with default settings [<= 0.6x]
- the Bottle plugin and the Pyramid tween vs hand-written Bottle and Pyramid routes

Wall-clock figures swing with the machine's load; ``callgrind_notify.py`` counts the
memory notify and the bare verifier in instructions, which do not.
"""

from __future__ import annotations

import argparse
import hashlib
import hmac
import io
import json
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode

from gatepay_wsgi import GatePayMiddleware, Notify

KEY, SECRET = "bench-key", "bench-secret"
ORDER = ("order_id", "out_order_id", "price", "realprice", "type", "paytime", "extend")
App = Callable[[dict[str, Any], Any], Iterable[bytes]]


def md5(text: str) -> str:
    return hashlib.md5(text.encode()).hexdigest()


def signed_body(order_id: int) -> bytes:
    fields = {
        "order_id": str(order_id),
        "out_order_id": f"B{order_id}",
        "price": "10.00",
        "realprice": "9.99",
        "type": "alipay",
        "paytime": "1700000000",
        "extend": "bench",
    }
    fields["sign"] = md5(md5(KEY + "".join(fields[k] for k in ORDER)) + SECRET)
    return urlencode(fields).encode()


def post_environ(body: bytes, path: str = "/gatepay/notify") -> dict[str, Any]:
    return {
        "REQUEST_METHOD": "POST",
        "SCRIPT_NAME": "",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body)),
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "80",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "127.0.0.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }


def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
    pass


class Bodies:
    """Distinct signed notify bodies, handed out once each across all cases."""

    def __init__(self) -> None:
        self.next_id = 1

    def take(self, count: int) -> list[bytes]:
        bodies = [signed_body(i) for i in range(self.next_id, self.next_id + count)]
        self.next_id += count
        return bodies


def time_notifies(app: App, bodies: list[bytes], expect: bytes = b"success") -> float:
    """Seconds per request over fresh environs (built outside the timed loop)."""
    environs = [post_environ(body) for body in bodies]
    started = time.perf_counter()
    for environ in environs:
        result = app(environ, start_response)
        answer = b"".join(result)
        if hasattr(result, "close"):
            result.close()
    elapsed = time.perf_counter() - started
    if answer != expect:
        raise SystemExit(f"unexpected answer {answer!r}")
    return elapsed / len(bodies)


def time_pass_through(app: App, count: int) -> float:
    environ = post_environ(b"", path="/shop/page")
    environ["REQUEST_METHOD"] = "GET"
    started = time.perf_counter()
    for _ in range(count):
        app(environ, start_response)
    return (time.perf_counter() - started) / count


# -- what users write instead ------------------------------------------------------------


def verify(fields: dict[str, str]) -> bool:
    try:
        expected = md5(md5(KEY + "".join(fields[k] for k in ORDER)) + SECRET)
    except KeyError:
        return False
    return hmac.compare_digest(expected, fields.get("sign", "").lower())


def raw_floor(environ: dict[str, Any], start: Any) -> list[bytes]:
    """The least a verifier can do: read, parse, verify, answer. No checks, no record."""
    size = int(environ.get("CONTENT_LENGTH") or 0)
    fields = dict(parse_qsl(environ["wsgi.input"].read(size).decode()))
    answer = b"success" if verify(fields) else b"fail"
    start("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(answer)))])
    return [answer]


def flask_route(database: sqlite3.Connection | None = None) -> App:
    from flask import Flask, request

    app = Flask("hand_written")

    @app.post("/gatepay/notify")
    def notify() -> str:
        fields = request.form.to_dict()
        if not verify(fields):
            return "fail"
        if database is not None:
            database.execute(
                "INSERT INTO notifies (order_id, raw, received_at) VALUES (?, ?, ?)",
                (int(fields["order_id"]), json.dumps(fields), time.time()),
            )
            database.commit()
        return "success"

    return app


def bottle_route() -> App:
    import bottle

    app = bottle.Bottle()

    @app.post("/gatepay/notify")
    def notify() -> str:
        return "success" if verify(dict(bottle.request.forms.decode())) else "fail"

    return app


def pyramid_route() -> App:
    from pyramid.config import Configurator
    from pyramid.response import Response

    def notify(request: Any) -> Response:
        return Response("success" if verify(dict(request.POST)) else "fail")

    with Configurator() as config:
        config.add_route("notify", "/gatepay/notify")
        config.add_view(notify, route_name="notify", request_method="POST")
        return config.make_wsgi_app()


# -- ours --------------------------------------------------------------------------------


def minimal_flask() -> App:
    from flask import Flask

    app = Flask("minimal")
    app.add_url_rule("/shop/page", "page", lambda: "ok")
    return app


def bare(environ: dict[str, Any], start: Any) -> list[bytes]:
    start("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def ours(inbox: str, app: App = bare) -> App:
    return GatePayMiddleware(
        app,
        appkey=KEY,
        appsecret=SECRET,
        paths={"/gatepay/notify": Notify(lambda n: None)},
        inbox=inbox,
    )


def ours_bottle(inbox: str) -> App:
    import bottle

    from gatepay_wsgi.contrib.bottle import GatePayPlugin

    app = bottle.Bottle()
    app.install(
        GatePayPlugin(
            appkey=KEY,
            appsecret=SECRET,
            inbox=inbox,
            paths={"/gatepay/notify": Notify(lambda n: None)},
        )
    )
    return app


def ours_pyramid(inbox: str) -> App:
    from pyramid.config import Configurator

    settings = {
        "gatepay.appkey": KEY,
        "gatepay.appsecret": SECRET,
        "gatepay.inbox": inbox,
        "gatepay.notify": "/gatepay/notify bench_inprocess:handled",
    }
    with Configurator(settings=settings) as config:
        config.include("gatepay_wsgi.contrib.pyramid")
        return config.make_wsgi_app()


def handled(notification: Any) -> None:
    """The no-op notify handler named by the Pyramid settings."""


# -- the run -----------------------------------------------------------------------------


def measure(cases: dict[str, Callable[[], float]], runs: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, case in cases.items():  # interleaved: drift hits every case alike
            samples[name].append(case())
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--notifies", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="fewer, shorter runs")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.notifies = 3, 300
    sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_inprocess:handled
    bodies = Bodies()
    n = args.notifies
    folder = Path(tempfile.mkdtemp(prefix="gatepay-bench-"))
    plain = sqlite3.connect(folder / "hand.sqlite3", check_same_thread=False)
    plain.execute(
        "CREATE TABLE notifies (order_id INTEGER PRIMARY KEY, raw TEXT, received_at REAL)"
    )
    past_eviction = ours("memory://")
    for body in bodies.take(10_500):  # past the memory inbox's 10,000-record mark
        b"".join(past_eviction(post_environ(body), start_response))
    apps = {
        "flask": flask_route(),
        "floor": raw_floor,
        "ours_memory": past_eviction,
        "flask_sqlite": flask_route(plain),
        "ours_sqlite_full": ours(f"sqlite:///{folder}/full.sqlite3"),
        "ours_sqlite_normal": ours(f"sqlite:///{folder}/normal.sqlite3?synchronous=normal"),
        "bottle": bottle_route(),
        "ours_bottle": ours_bottle("memory://"),
        "pyramid": pyramid_route(),
        "ours_pyramid": ours_pyramid("memory://"),
    }
    sqlite_n = max(n // 10, 50)  # fsyncs are slow: fewer of them, same medians
    cases: dict[str, Callable[[], float]] = {
        name: (
            lambda app=app, count=(sqlite_n if "sqlite" in name else n): time_notifies(
                app, bodies.take(count)
            )
        )
        for name, app in apps.items()
    }
    middleware = ours("memory://")
    loops = n * 50
    cases["bare"] = lambda: time_pass_through(bare, loops)
    cases["pass_through"] = lambda: time_pass_through(middleware, loops)
    flask_page = minimal_flask()
    cases["flask_page"] = lambda: time_pass_through(flask_page, n * 5)
    medians = measure(cases, args.runs)
    rows = [
        ("pass-through, added per request", "pass_through", "bare", "added_ns", None),
        ("pass-through added / minimal Flask request", "pass_through", "flask_page", "share", 0.5),
        ("notify, memory inbox / bare verifier", "ours_memory", "floor", "ratio", 2.0),
        ("notify, memory inbox / hand-written Flask", "ours_memory", "flask", "ratio", None),
        ("notify, SQLite FULL / Flask + SQLite", "ours_sqlite_full", "flask_sqlite", "ratio", 0.6),
        (
            "notify, SQLite NORMAL / Flask + SQLite",
            "ours_sqlite_normal",
            "flask_sqlite",
            "ratio",
            0.6,
        ),
        ("Bottle plugin / hand-written Bottle", "ours_bottle", "bottle", "ratio", None),
        ("Pyramid tween / hand-written Pyramid", "ours_pyramid", "pyramid", "ratio", None),
    ]
    print(f"median of {args.runs} runs; {n} notifies per run ({sqlite_n} with SQLite)")
    print(f"{'case':<44}{'ours':>11}{'baseline':>11}{'figure':>10}{'target':>9}")
    report = {"medians_us": {k: v * 1e6 for k, v in medians.items()}, "rows": []}
    for label, mine, base, kind, target in rows:
        if kind == "added_ns":
            figure = (medians[mine] - medians[base]) * 1e9
            shown = f"{figure:+.0f} ns"
            met = figure <= target if target is not None else None
        elif kind == "share":  # what the middleware adds, in percent of the baseline
            figure = (medians[mine] - medians["bare"]) / medians[base] * 100
            shown = f"{figure:.2f}%"
            met = figure < target if target is not None else None
        else:
            figure = medians[mine] / medians[base]
            shown = f"{figure:.2f}x"
            met = figure <= target if target is not None else None
        units = {"added_ns": " ns", "share": "%", "ratio": "x"}
        target_text = "-" if target is None else f"{target}{units[kind]}"
        mark = "" if met is None else (" ok" if met else " MISS")
        print(
            f"{label:<44}{medians[mine] * 1e6:>9.2f}us{medians[base] * 1e6:>9.2f}us"
            f"{shown:>10}{target_text:>9}{mark}"
        )
        report["rows"].append(
            {
                "case": label,
                "ours_us": medians[mine] * 1e6,
                "baseline_us": medians[base] * 1e6,
                "figure": figure,
                "kind": kind,
                "target": target,
                "met": met,
            }
        )
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()

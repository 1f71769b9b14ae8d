"""Over HTTP on 127.0.0.1: ``python benchmarks/bench_http.py [--seconds 5] [--chart out.png]``.

Serves six apps under three servers and loads each with ``wrk`` (Debian's package)
and a Lua script that POSTs pre-signed, distinct notifies:

- apps: ``bare`` (answers ``success`` to anything: the ceiling), ``notify`` (the
  middleware with the memory inbox: verify, record, handle, answer), ``flask`` (a
  hand-written Flask route verifying with ``request.form``, storing nothing),
  ``notify_durable`` (the middleware with the default inbox: SQLite,
  ``synchronous=full``, shared by the workers), ``flask_sqlite`` (the hand-written route
  committing the same row to SQLite with sqlite3's defaults) and ``notify_sqlite``
  (SQLite at ``synchronous=normal``, for reference);
- servers: gunicorn sync (2 workers), gunicorn gthread (2 workers x 4 threads), waitress
  (4 threads), each the only load on the machine.

Each pair runs ``--rounds`` times (5: gthread rounds sometimes fall to a third for any
app, and the median absorbs two such), the apps interleaved round by round so that a
noisy neighbour hits them alike, each run on a fresh server and fresh database files after
a warm-up with orders of its own (every measured notify is a new order). Prints the median
round's req/s, p50, p99 and errors per pair; the ratios notify/bare (target >= 0.8),
notify/flask (>= 1.5 under gthread and waitress) and notify_durable/flask_sqlite (>= 1.5,
its p99 no worse) under the same server; then 200k distinct notifies through one gunicorn
sync worker (memory inbox, then the durable default), its RSS sampled every 10k (target:
flat within 5%).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
FORM = "application/x-www-form-urlencoded"
sys.path.insert(0, str(HERE))
from bench_inprocess import signed_body  # noqa: E402

APPS_MODULE = """
import os, hashlib, hmac
from gatepay_wsgi import GatePayMiddleware, Notify
KEY, SECRET = "bench-key", "bench-secret"
ORDER = ("order_id", "out_order_id", "price", "realprice", "type", "paytime", "extend")

def bare(environ, start_response):
    size = int(environ.get("CONTENT_LENGTH") or 0)
    environ["wsgi.input"].read(size)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "7")])
    return [b"success"]

def _ours(inbox):
    return GatePayMiddleware(bare, appkey=KEY, appsecret=SECRET,
                             paths={"/gatepay/notify": Notify(lambda n: None)}, inbox=inbox)
notify = _ours("memory://")
notify_sqlite = _ours("sqlite:///" + os.environ["BENCH_DB"] + "/normal.sqlite3?synchronous=normal")
notify_durable = _ours("sqlite:///" + os.environ["BENCH_DB"] + "/durable.sqlite3")  # the default

def _verified(f):
    try:
        inner = hashlib.md5((KEY + "".join(f[k] for k in ORDER)).encode()).hexdigest()
    except KeyError:
        return False
    sign = hashlib.md5((inner + SECRET).encode()).hexdigest()
    return hmac.compare_digest(sign, f.get("sign", "").lower())

def _flask():
    from flask import Flask, request
    app = Flask("hand_written")
    @app.post("/gatepay/notify")
    def route():
        return "success" if _verified(request.form) else "fail"
    return app
flask = _flask()

def _flask_sqlite():
    # What a merchant writes by hand to keep each notify: Flask's tutorial pattern (a
    # connection per request), sqlite3's defaults (rollback journal, synchronous=FULL,
    # a 5 s lock timeout), the row committed before the answer.
    import json, sqlite3, time
    from flask import Flask, request
    path = os.environ["BENCH_DB"] + "/hand.sqlite3"
    with sqlite3.connect(path, timeout=30) as db:
        db.execute("CREATE TABLE IF NOT EXISTS notifies "
                   "(order_id INTEGER PRIMARY KEY, raw TEXT, received_at REAL)")
    app = Flask("hand_written_sqlite")
    @app.post("/gatepay/notify")
    def route():
        f = request.form
        if not _verified(f):
            return "fail"
        db = sqlite3.connect(path)
        try:
            db.execute("INSERT OR IGNORE INTO notifies VALUES (?, ?, ?)",
                       (int(f["order_id"]), json.dumps(f.to_dict()), time.time()))
            db.commit()
        finally:
            db.close()
        return "success"
    return app
flask_sqlite = _flask_sqlite()
"""

LUA = """
local bodies = dofile("%(bodies)s")
local count = 0
local offset, threads = 0, 0
function setup(thread)
  thread:set("offset", threads * %(span)d)  -- each thread its own run of bodies
  threads = threads + 1
end
function init(args)
  offset = tonumber(wrk.thread:get("offset") or 0) or 0
end
function request()
  count = count + 1
  local body = bodies[((offset + count) %% #bodies) + 1]
  return wrk.format("POST", "/gatepay/notify",
    {["Content-Type"] = "application/x-www-form-urlencoded"}, body)
end
"""

SERVERS = {
    "gunicorn sync": ["-m", "gunicorn", "-w", "2", "-k", "sync"],
    "gunicorn gthread": ["-m", "gunicorn", "-w", "2", "-k", "gthread", "--threads", "4"],
    "waitress": ["-m", "waitress", "--threads=4"],
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def start(
    server: str, app: str, port: int, workdir: Path, database: Path, workers: int | None = None
) -> Any:
    args = list(SERVERS[server])
    if workers is not None:
        args[args.index("-w") + 1] = str(workers)
    if server.startswith("gunicorn"):
        args += [
            "-b",
            f"127.0.0.1:{port}",
            "--pythonpath",
            str(workdir),
            "--log-level",
            "error",
            f"bench_apps:{app}",
        ]
    else:
        args += [f"--listen=127.0.0.1:{port}", f"bench_apps:{app}"]
    env = {**os.environ, "BENCH_DB": str(database), "PYTHONPATH": str(workdir)}
    log = workdir / "server.log"  # a file, not a pipe: a full pipe would stall the server
    with log.open("ab") as errors:
        process = subprocess.Popen(
            [sys.executable, *args], cwd=workdir, env=env, stdout=subprocess.DEVNULL, stderr=errors
        )
    deadline = time.monotonic() + 30
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                tail = log.read_text()[-500:]
                raise SystemExit(f"{server} did not start: {tail}") from None
            time.sleep(0.1)


def wrk(
    port: int, lua: Path, seconds: float, connections: int = 16, threads: int = 2
) -> dict[str, float]:
    out = subprocess.run(
        [
            "wrk",
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, int(seconds))}s",
            "--latency",
            "-s",
            str(lua),
            f"http://127.0.0.1:{port}/gatepay/notify",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout

    def latency(label: str) -> float:
        match = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out)
        if not match:
            return float("nan")
        value, unit = float(match.group(1)), match.group(2)
        return value * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

    errors = sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
        "p50_ms": latency("50"),
        "p99_ms": latency("99"),
        "errors": errors + (int(non2xx.group(1)) if non2xx else 0),
        "requests": int(re.search(r"(\d+) requests in", out).group(1)),
    }


def write_bodies(path: Path, count: int, first_id: int) -> None:
    with path.open("w") as out:
        out.write("return {\n")
        for order_id in range(first_id, first_id + count):
            out.write(json.dumps(signed_body(order_id).decode()) + ",\n")
        out.write("}\n")


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def worker_pid(master: int) -> int:
    children = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    return int(children[0])


def post(port: int, body: bytes) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", "/gatepay/notify", body, {"Content-Type": FORM})
        response = connection.getresponse()
        response.read()
        return response.status
    finally:
        connection.close()


def rss_run(workdir: Path, total: int, app: str) -> list[int]:
    """``total`` distinct notifies through one gunicorn sync worker; its RSS every 10k."""
    port = free_port()
    database = Path(tempfile.mkdtemp(dir=workdir))
    process = start("gunicorn sync", app, port, workdir, database, workers=1)
    samples: list[int] = []
    try:
        time.sleep(1)
        pid = worker_pid(process.pid)
        with ThreadPoolExecutor(4) as pool:
            for first in range(0, total, 10_000):
                bodies = [signed_body(2_000_000 + n) for n in range(first, first + 10_000)]
                statuses = list(pool.map(lambda body: post(port, body), bodies))
                if statuses.count(200) != len(bodies):
                    raise SystemExit(f"RSS run: {len(bodies) - statuses.count(200)} failed")
                samples.append(rss_kib(pid))
    finally:
        process.terminate()
        process.wait(30)
    return samples


APPS = ("bare", "notify", "notify_sqlite", "flask", "notify_durable", "flask_sqlite")


def measure(
    server: str, app: str, workdir: Path, lua: Path, warm_lua: Path, seconds: float
) -> dict[str, float]:
    """One round: a fresh server, a warm-up of its own orders, then ``seconds`` of load."""
    port = free_port()
    database = Path(tempfile.mkdtemp(dir=workdir))  # each round its own files: new orders
    process = start(server, app, port, workdir, database)
    try:
        wrk(port, warm_lua, 1)
        row = wrk(port, lua, seconds)
    finally:
        process.terminate()
        process.wait(30)
    if row["requests"] > 120_000:  # a thread went past its run of distinct bodies
        print(f"warning: {server} {app}: some orders were posted twice")
    return row


def chart(results: dict[str, dict[str, dict[str, float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    servers = list(results)
    apps = list(next(iter(results.values())))
    figure, axes = plt.subplots(figsize=(7, 3.2))
    width = 0.8 / len(apps)
    for i, app in enumerate(apps):
        values = [results[s][app]["rps"] for s in servers]
        offset = (i - (len(apps) - 1) / 2) * width
        axes.bar([x + offset for x in range(len(servers))], values, width, label=app)
    axes.set_xticks(range(len(servers)), servers)
    axes.set_ylabel("requests / s")
    axes.set_title("POST notify over HTTP on 127.0.0.1 (wrk -t2 -c16)")
    axes.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5)
    parser.add_argument("--rounds", type=int, default=5, help="runs per pair; the median counts")
    parser.add_argument("--rss-notifies", type=int, default=200_000)
    parser.add_argument("--rss-only", action="store_true", help="only the RSS runs")
    parser.add_argument("--servers", nargs="*", default=list(SERVERS), choices=list(SERVERS))
    parser.add_argument("--apps", nargs="*", default=list(APPS), choices=list(APPS))
    parser.add_argument("--chart", help="write a bar chart (PNG) here")
    parser.add_argument("--json", help="write the figures here")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    workdir = Path(tempfile.mkdtemp(prefix="gatepay-http-"))
    (workdir / "bench_apps.py").write_text(APPS_MODULE)
    # Distinct orders throughout: the warm-up posts orders of its own, so no measured
    # request is the duplicate of one already handled (a duplicate is cheaper).
    lua, warm_lua = workdir / "post.lua", workdir / "warm.lua"
    for script, count, first_id in ((lua, 120_000, 1), (warm_lua, 30_000, 5_000_001)):
        bodies = script.with_suffix(".bodies.lua")
        write_bodies(bodies, count, first_id)
        script.write_text(LUA % {"bodies": bodies, "span": count // 2})
    results: dict[str, dict[str, dict[str, float]]] = {}
    for server in [] if args.rss_only else args.servers:
        runs: dict[str, list[dict[str, float]]] = {app: [] for app in args.apps}
        for _ in range(args.rounds):  # interleaved: a noisy neighbour hits every app alike
            for app in args.apps:
                runs[app].append(measure(server, app, workdir, lua, warm_lua, args.seconds))
        results[server] = {}
        for app in args.apps:  # the round with the median req/s stands for the app
            ordered = sorted(runs[app], key=lambda run: run["rps"])
            row = results[server][app] = ordered[len(ordered) // 2]
            all_rps = ", ".join(f"{run['rps']:.0f}" for run in runs[app])
            print(
                f"{server:<17}{app:<14}{row['rps']:>7.0f} req/s  p50 {row['p50_ms']:6.2f} ms"
                f"  p99 {row['p99_ms']:6.2f} ms  errors {row['errors']:.0f}  (rounds: {all_rps})",
                flush=True,
            )
    print()
    for server, rows in results.items() if set(args.apps) == set(APPS) else ():
        bare_ratio = rows["notify"]["rps"] / rows["bare"]["rps"]
        flask_ratio = rows["notify"]["rps"] / rows["flask"]["rps"]
        # What a notify costing nothing would read against Flask under this server: the
        # room the 1.5 target leaves (under gunicorn sync, the server's own work per
        # connection is most of every request).
        ceiling = rows["bare"]["rps"] / rows["flask"]["rps"]
        print(
            f"{server:<17} notify/bare {bare_ratio:.2f} (>= 0.8)   "
            f"notify/flask {flask_ratio:.2f} (>= 1.5; bare/flask {ceiling:.2f})"
        )
    for server, rows in (
        results.items() if {"notify_durable", "flask_sqlite"} <= set(args.apps) else ()
    ):
        durable, hand = rows["notify_durable"], rows["flask_sqlite"]
        print(
            f"{server:<17} durable/flask_sqlite {durable['rps'] / hand['rps']:.2f} (>= 1.5)   "
            f"p99 {durable['p99_ms']:.1f} ms against {hand['p99_ms']:.1f} ms (no worse)"
        )
    rss: dict[str, list[int]] = {}
    for app in ("notify", "notify_durable") if args.rss_notifies else ():  # memory, durable
        samples = rss[app] = rss_run(workdir, args.rss_notifies, app)
        steady = samples[1:] or samples  # past the first 10k: start-up, caches filling
        spread = (max(steady) - min(steady)) / min(steady)
        print(
            f"\nRSS of one worker ({app}) every 10k of {args.rss_notifies} notifies (KiB): "
            f"{samples}; after the first 10k: {spread:.1%} spread (target <= 5%)",
            flush=True,
        )
    if args.chart and results:
        chart(results, Path(args.chart))
    if args.json:
        Path(args.json).write_text(json.dumps({"http": results, "rss_kib": rss}, indent=2))


if __name__ == "__main__":
    main()

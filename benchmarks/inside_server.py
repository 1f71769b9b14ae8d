"""Inside a server: ``python benchmarks/inside_server.py [--server waitress] [--rounds 5]``.

Where a notify's time goes once a real server runs it, which the req/s of
``bench_http.py`` only show as a whole. One gunicorn worker (or waitress) at a time, under
wrk, for each app in turn, the rounds alternated: the thread CPU time spent inside the
WSGI call per request (``time.thread_time_ns`` around it; steady to about 1 us under
gunicorn sync), and the worker's whole CPU time and minor page faults per request (from
``/proc``; far noisier under the threaded servers). Apps, each a step further:

- ``bare``: reads the body and answers (what the server's own work costs);
- ``verify``: our body read, pattern and sign, nothing after;
- ``no_store``: the whole middleware, the handler called, nothing kept;
- ``dict_store``: the same with a bare 10,000-entry dict as the only store;
- ``notify``: the middleware with the memory inbox, as in ``bench_http.py``.

``--tree DIR`` (repeatable) runs the ``notify`` app from each source tree instead (an A/B
of two checkouts: ``git archive HEAD gatepay_wsgi | tar -x -C /tmp/a``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_http

TIMED = """
import itertools, threading, time
from gatepay_wsgi.inbox import Delivered, MemoryInbox
from gatepay_wsgi.messages import read_gateway_notify
from gatepay_wsgi.request_fields import gateway_body

_spent = {"calls": 0, "ns": 0}


def _timed(app):
    def timed(environ, start_response):
        started = time.thread_time_ns()
        answer = app(environ, start_response)
        _spent["ns"] += time.thread_time_ns() - started
        _spent["calls"] += 1
        if _spent["calls"] % 1000 == 0:
            with open(os.environ["BENCH_DIR"] + f"/inside-{os.getpid()}", "w") as out:
                out.write(f"{_spent['calls']} {_spent['ns']}")
        return answer
    return timed


def _verify(environ, start_response):
    read_gateway_notify(gateway_body(environ, 65536).decode(), appkey=KEY, appsecret=SECRET)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "7")])
    return [b"success"]


class _NoStore(MemoryInbox):
    def deliver(self, notification, handler, **where):
        handler(notification)
        return Delivered.HANDLED


class _DictStore(MemoryInbox):
    kept, lock = {}, threading.Lock()

    def deliver(self, notification, handler, **where):
        with self.lock:
            if notification.order_id in self.kept:
                return Delivered.DONE_BEFORE
            self.kept[notification.order_id] = notification.raw
            if len(self.kept) > 10_000:
                for order_id in list(itertools.islice(self.kept, 1000)):
                    del self.kept[order_id]
        handler(notification)
        return Delivered.HANDLED


timed_bare, timed_verify = _timed(bare), _timed(_verify)
timed_no_store, timed_dict_store = _timed(_ours(_NoStore())), _timed(_ours(_DictStore()))
timed_notify = _timed(notify)
"""

APPS = ("bare", "verify", "no_store", "dict_store", "notify")


def proc_stat(pid: int) -> tuple[int, float]:
    """Minor page faults and CPU seconds of a process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()
    return int(fields[7]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def one_round(server: str, app: str, workdir: Path, lua: Path, seconds: float) -> list[float]:
    """In-app us, worker CPU us and minor faults per request, for one fresh server."""
    port = bench_http.free_port()
    workers = {"workers": 1} if server.startswith("gunicorn") else {}
    process = bench_http.start(server, f"timed_{app}", port, workdir, **workers)
    try:
        worker = bench_http.worker_pid(process.pid) if workers else process.pid
        bench_http.wrk(port, lua, 2)  # the memory inbox past its 10,000-record mark
        for stale in workdir.glob("inside-*"):
            stale.unlink()
        faults, cpu = proc_stat(worker)
        requests = bench_http.wrk(port, lua, seconds)["requests"]
        faults_after, cpu_after = proc_stat(worker)
        time.sleep(0.2)
        calls, spent = map(int, next(workdir.glob("inside-*")).read_text().split())
    finally:
        process.terminate()
        process.wait(30)
    return [
        spent / calls / 1000,
        1e6 * (cpu_after - cpu) / requests,
        (faults_after - faults) / requests,
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="gunicorn sync", choices=list(bench_http.SERVERS))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4)
    parser.add_argument("--tree", action="append", default=[], help="a source tree to A/B")
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    cases = {tree: "notify" for tree in args.tree} or {app: app for app in APPS}
    workdirs = {case: Path(tempfile.mkdtemp(prefix="gatepay-inside-")) for case in cases}
    for case, workdir in workdirs.items():
        (workdir / "bench_apps.py").write_text(bench_http.APPS_MODULE + TIMED)
        if case in args.tree:  # this checkout's gatepay_wsgi first on the server's path
            shutil.copytree(Path(case) / "gatepay_wsgi", workdir / "gatepay_wsgi")
        bodies = workdir / "bodies.lua"
        bench_http.write_bodies(bodies, 100_000, 1)
        (workdir / "post.lua").write_text(bench_http.LUA % {"bodies": bodies, "span": 50_000})
    results: dict[str, list[list[float]]] = {case: [] for case in cases}
    for _ in range(args.rounds):  # alternated: drift and neighbours hit every case alike
        for case, app in cases.items():
            workdir = workdirs[case]
            results[case].append(
                one_round(args.server, app, workdir, workdir / "post.lua", args.seconds)
            )
    print(f"{args.server}, median of {args.rounds} rounds, per request:")
    for case, rows in results.items():
        inside, cpu, faults = (statistics.median(row[i] for row in rows) for i in range(3))
        spread = ", ".join(f"{row[0]:.1f}" for row in rows)
        print(
            f"{case:<24} inside the app {inside:6.1f} us ({spread})"
            f"   worker CPU {cpu:6.1f} us   minor faults {faults:.2f}"
        )


if __name__ == "__main__":
    main()

"""A separate worker process for the inbox tests: ``python inbox_worker.py MODE ...``.

race DB ORDER_ID CALLS START_FILE THREADS
    wait for START_FILE, then deliver one notify from THREADS threads at once through a
    middleware of this process's own; print the answers as JSON. The handler appends a
    line to CALLS for every call.
hang DB STARTED_FILE
    deliver a notify whose handler writes STARTED_FILE and then hangs (to be killed).
start URL
    as an unprivileged user (nobody, when we are root), build a middleware over the inbox
    URL; print as JSON the user and either the start-up error or the answer to a notify
    and the handler calls.
cli ARG ...
    as an unprivileged user, run ``gatepay-wsgi ARG ...``; print as JSON its exit code,
    its output and its errors.
"""

from __future__ import annotations

import io
import json
import os
import pwd
import shutil
import sys
import tempfile
import threading
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from urllib.parse import urlencode

from werkzeug.test import Client

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gatepay_wsgi import GatePayMiddleware, Notify
from gatepay_wsgi.cli import main as gatepay_wsgi_command
from tests.gateway import APPKEY, APPSECRET, notify_fields

NOBODY = 65534


def shop(environ, start_response):
    start_response("200 OK", [])
    return [b"shop"]


def client(handler, db: str, **inbox_options: str) -> Client:
    query = urlencode(inbox_options)
    app = GatePayMiddleware(
        shop,
        appkey=APPKEY,
        appsecret=APPSECRET,
        paths={"/notify": Notify(handler)},
        inbox=f"sqlite:///{db}" + (f"?{query}" if query else ""),
    )
    return Client(app)


def deliver(http: Client, fields) -> list:
    response = http.post(
        "/notify", data=urlencode(fields), content_type="application/x-www-form-urlencoded"
    )
    return [response.status_code, response.get_data(as_text=True)]


def race(db: str, order_id: str, calls: str, start_file: str, threads: str) -> None:
    def handler(notification):
        with open(calls, "a") as out:
            out.write(f"{os.getpid()} {notification.order_id}\n")
        time.sleep(0.05)  # widen the window in which a second run could slip in

    http = client(handler, db, busy_wait="10")
    fields = notify_fields(order_id=order_id, paytime="1700000000")
    count = int(threads)
    barrier = threading.Barrier(count)
    answers: list = []

    def one() -> None:
        barrier.wait()
        answers.append(deliver(http, fields))

    while not os.path.exists(start_file):
        time.sleep(0.005)
    workers = [threading.Thread(target=one) for _ in range(count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    print(json.dumps(answers))


def hang(db: str, started_file: str) -> None:
    def handler(notification):
        Path(started_file).write_text(str(os.getpid()))
        time.sleep(600)

    deliver(client(handler, db, lease="1"), notify_fields(paytime="1700000000"))


def become_nobody() -> str:
    """Load every lazily imported module first, then become nobody (when root): once we
    are nobody, /root (where the interpreter may live) is closed to us. Our user's name."""
    warm = tempfile.mkdtemp(prefix="gatepay-warm-")
    try:
        client(print, f"{warm}/warm.sqlite3").get("/warm-up")
        deliver(client(lambda notification: None, f"{warm}/warm.sqlite3"), notify_fields())
        command(["inbox", "stats", "--inbox", f"sqlite:///{warm}/warm.sqlite3"])
        command(["inbox", "stats", "--inbox", f"sqlite:///{warm}/missing/x.sqlite3"])
    finally:
        shutil.rmtree(warm, ignore_errors=True)
    if os.geteuid() == 0:
        # Root writes through any permission: become nobody, as a web worker would be.
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    return f"{pwd.getpwuid(os.geteuid()).pw_name} (uid {os.geteuid()})"


def command(args: list[str]) -> dict:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = gatepay_wsgi_command(args)
    return {"code": code, "out": out.getvalue(), "err": err.getvalue()}


def start(url: str) -> None:
    user = become_nobody()
    calls: list = []
    try:
        http = Client(
            GatePayMiddleware(
                shop,
                appkey=APPKEY,
                appsecret=APPSECRET,
                paths={"/notify": Notify(calls.append)},
                inbox=url,
            )
        )
    except Exception as error:  # the test wants to see any of them
        print(json.dumps({"user": user, "error": type(error).__name__, "message": str(error)}))
        return
    answer = deliver(http, notify_fields())
    print(json.dumps({"user": user, "answer": answer, "calls": len(calls)}), flush=True)


def cli(*args: str) -> None:
    user = become_nobody()
    print(json.dumps({"user": user, **command(list(args))}))


if __name__ == "__main__":
    {"race": race, "hang": hang, "start": start, "cli": cli}[sys.argv[1]](*sys.argv[2:])

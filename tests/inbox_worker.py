"""A separate worker process for the inbox tests: ``python inbox_worker.py MODE ...``.

race DB ORDER_ID CALLS START_FILE THREADS
    wait for START_FILE, then deliver one notify from THREADS threads at once through a
    middleware of this process's own; print the answers as JSON. The handler appends a
    line to CALLS for every call.
hang DB STARTED_FILE
    deliver a notify whose handler writes STARTED_FILE and then hangs (to be killed).
readonly DB
    as an unprivileged user, start a middleware over an inbox file it cannot write,
    deliver a notify, print the answer and the handler calls as JSON.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from pathlib import Path
from urllib.parse import urlencode

from werkzeug.test import Client

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gatepay_wsgi import GatePayMiddleware, Notify
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


def readonly(db: str) -> None:
    # Load every lazily imported module first: once we are nobody, /root (where the
    # interpreter lives) is closed to us.
    client(print, db.replace(".sqlite3", "-warm-up.sqlite3")).get("/warm-up")
    if os.geteuid() == 0:
        # Root writes through any permission: become nobody, as a web worker would be.
        os.setgid(NOBODY)
        os.setuid(NOBODY)
    calls: list = []
    http = client(calls.append, db, busy_timeout="0.2")  # starts: reading is allowed
    answer = deliver(http, notify_fields())
    print(json.dumps({"answer": answer, "calls": len(calls)}), flush=True)


if __name__ == "__main__":
    {"race": race, "hang": hang, "readonly": readonly}[sys.argv[1]](*sys.argv[2:])

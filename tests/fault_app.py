"""A shop for the fault tests under gunicorn: ``gunicorn fault_app:app``.

Its handler, on the first call of the run (across workers), has another process lock
the inbox just as it returns, so the outcome cannot be written then: SQLite is held in
``BEGIN EXCLUSIVE``, PostgreSQL's table in ``ACCESS EXCLUSIVE`` mode, for
GATEPAY_TEST_LOCK seconds. GATEPAY_TEST_INBOX names the inbox, every handler call
appends the order id to GATEPAY_TEST_CALLS, GATEPAY_TEST_MARK is created at the lock.
"""

from __future__ import annotations

import os
import subprocess
import sys

from gatepay_wsgi import GatePayMiddleware, Notify

APPKEY, APPSECRET = "key123", "secret456"  # tests/gateway.py's
INBOX = os.environ["GATEPAY_TEST_INBOX"]
CALLS, MARK = os.environ["GATEPAY_TEST_CALLS"], os.environ["GATEPAY_TEST_MARK"]
SECONDS = os.environ.get("GATEPAY_TEST_LOCK", "3")

SQLITE_LOCKER = """
import sqlite3, sys, time
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("BEGIN EXCLUSIVE")
print("locked", flush=True)
time.sleep(float(sys.argv[2]))
db.execute("ROLLBACK")
"""
POSTGRES_LOCKER = """
import psycopg, sys, time
with psycopg.connect(sys.argv[1]) as db:
    db.execute("LOCK TABLE gatepay_notifies IN ACCESS EXCLUSIVE MODE")
    print("locked", flush=True)
    time.sleep(float(sys.argv[2]))
"""


def lock_the_inbox() -> None:
    if INBOX.startswith("sqlite:///"):
        script, target = SQLITE_LOCKER, INBOX[len("sqlite:///") :].split("?")[0]
    else:
        script, target = POSTGRES_LOCKER, INBOX.split("?")[0]
    locker = subprocess.Popen(  # outlives this request; ends on its own
        [sys.executable, "-c", script, target, SECONDS], stdout=subprocess.PIPE, text=True
    )
    assert locker.stdout is not None
    assert locker.stdout.readline().strip() == "locked"


def mark_paid(notification) -> None:
    fd = os.open(CALLS, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    try:
        os.write(fd, f"{notification.order_id}\n".encode())
    finally:
        os.close(fd)
    try:
        os.close(os.open(MARK, os.O_WRONLY | os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return
    lock_the_inbox()


def shop(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"shop"]


app = GatePayMiddleware(
    shop,
    appkey=APPKEY,
    appsecret=APPSECRET,
    paths={"/gatepay/notify": Notify(mark_paid)},
    inbox=INBOX,
)

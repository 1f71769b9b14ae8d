"""``gunicorn -c tests/gunicorn_warm.py --user nobody ...``: workers that run as nobody.

gunicorn's master stays root and each worker switches to ``--user`` before it loads the
app. The interpreter of the test run may live where nobody cannot read (root's home), so
this config, executed by the master, imports beforehand everything a worker will need by
serving one notify through a throwaway app; the workers inherit those modules. It never
imports the app under test (``load_app``): that one must be built by each worker, as the
worker's user.
"""

from __future__ import annotations

import io
import shutil
import sys
import tempfile
from contextlib import suppress
from pathlib import Path
from urllib.parse import urlencode

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gatepay_wsgi import GatePayMiddleware, Notify
from gatepay_wsgi.cli import main as _cli  # noqa: F401
from tests.gateway import APPKEY, APPSECRET, notify_fields

with suppress(ImportError):  # the postgres extra may not be installed
    import gatepay_wsgi.inbox.postgres  # noqa: F401


def _warm_up() -> None:
    folder = tempfile.mkdtemp(prefix="gatepay-warm-")
    try:
        app = GatePayMiddleware(
            lambda environ, start_response: [],
            appkey=APPKEY,
            appsecret=APPSECRET,
            paths={"/notify": Notify(lambda notification: None)},
            inbox=f"sqlite:///{folder}/warm.sqlite3",
        )
        body = urlencode(notify_fields()).encode()
        environ = {
            "REQUEST_METHOD": "POST",
            "PATH_INFO": "/notify",
            "CONTENT_TYPE": "application/x-www-form-urlencoded",
            "CONTENT_LENGTH": str(len(body)),
            "REMOTE_ADDR": "127.0.0.1",
            "SERVER_NAME": "localhost",
            "SERVER_PORT": "80",
            "wsgi.input": io.BytesIO(body),
            "wsgi.url_scheme": "http",
            "wsgi.errors": sys.stderr,
        }
        b"".join(app(environ, lambda status, headers, exc_info=None: None))
        app.inbox.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)


_warm_up()

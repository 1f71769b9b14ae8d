"""metrics.py: Prometheus counters, histogram and inbox gauges, in one process and under
gunicorn with several workers (prometheus_client's multiprocess mode)."""

from __future__ import annotations

import os
import re
import signal
import sys
import time
import types
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import urlencode

import pytest
from werkzeug.test import Client

from gatepay_wsgi import GatePayMiddleware, Notify, signals
from gatepay_wsgi.inbox import MemoryInbox, SQLiteInbox
from gatepay_wsgi.messages import parse_notification

from ..gateway import APPKEY, APPSECRET, Recorder, notify_fields, shop

prometheus_client = pytest.importorskip("prometheus_client")
pytest.importorskip("blinker", reason="metrics need blinker's signals")

from prometheus_client import CollectorRegistry  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from gatepay_wsgi.errors import ConfigError  # noqa: E402
from gatepay_wsgi.metrics import GatePayMetrics  # noqa: E402


@pytest.fixture
def make_metrics():
    """``make_metrics(inbox)``: a GatePayMetrics on its own registry, closed afterwards."""
    made: list[GatePayMetrics] = []

    def make(inbox=None, **options):
        options.setdefault("registry", CollectorRegistry())
        made.append(GatePayMetrics(inbox=inbox, **options))
        return made[-1]

    yield make
    for metrics in made:
        metrics.close()


def _client(handler, inbox=None):
    app = GatePayMiddleware(
        shop,
        appkey=APPKEY,
        appsecret=APPSECRET,
        paths={"/n": Notify(handler)},
        inbox=inbox or MemoryInbox(),
    )
    return Client(app), app


def _post(client, fields):
    response = client.post(
        "/n", data=urlencode(fields), content_type="application/x-www-form-urlencoded"
    )
    return response.status_code, response.get_data(as_text=True)


def _value(metrics, name, **labels):
    return metrics.registry.get_sample_value(name, labels) or 0.0


def _notifies(metrics, outcome):
    return _value(metrics, "gatepay_notifies_total", outcome=outcome)


def _scrape(app) -> dict[tuple[str, tuple], float]:
    """A metrics WSGI app's answer, parsed: {(sample name, sorted labels): value}."""
    response = Client(app).get("/metrics")
    assert response.status_code == 200
    return _samples(response.get_data(as_text=True))


def _samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_handled_and_failed_notifies_are_counted_with_their_handler_time(make_metrics):
    metrics = make_metrics()
    handler = Recorder()
    client, _ = _client(handler)
    for outcome in ("received", "handled", "failed", "failed_for_good", "replayed"):
        sample = metrics.registry.get_sample_value("gatepay_notifies_total", {"outcome": outcome})
        assert sample == 0  # there, at zero, from the start
    assert _post(client, notify_fields(order_id="1")) == (200, "success")
    assert _post(client, notify_fields(order_id="2")) == (200, "success")
    assert _notifies(metrics, "handled") == 2
    assert _value(metrics, "gatepay_handler_seconds_count") == 2  # one per handled notify
    assert _value(metrics, "gatepay_handler_seconds_bucket", le="30.0") == 2
    handler.answer = False
    assert _post(client, notify_fields(order_id="3")) == (500, "fail")
    assert _post(client, notify_fields(order_id="1")) == (200, "success")  # a duplicate
    assert (_notifies(metrics, "received"), _notifies(metrics, "handled")) == (4, 2)
    assert (_notifies(metrics, "failed"), _notifies(metrics, "failed_for_good")) == (1, 0)
    assert _value(metrics, "gatepay_handler_seconds_count") == 3  # a failed run is timed too
    assert 0 <= _value(metrics, "gatepay_handler_seconds_sum") < 5


def test_a_failure_after_the_gateways_retries_is_failed_for_good(make_metrics):
    metrics = make_metrics()
    client, _ = _client(Recorder(error=RuntimeError("db down")))
    old = str(int(time.time()) - signals.RETRIES_OVER_AFTER - 60)
    assert _post(client, notify_fields(paytime=old))[0] == 500
    assert (_notifies(metrics, "failed"), _notifies(metrics, "failed_for_good")) == (1, 1)


def test_refusals_are_counted_by_reason(make_metrics):
    metrics = make_metrics()
    client, _ = _client(Recorder())
    for _ in range(2):
        assert _post(client, {**notify_fields(), "sign": "0" * 32})[0] == 403
    fields = notify_fields()
    del fields["price"]
    assert _post(client, fields)[0] == 400
    assert _value(metrics, "gatepay_refusals_total", reason="bad_signature") == 2
    assert _value(metrics, "gatepay_refusals_total", reason="missing_field") == 1
    assert _notifies(metrics, "received") == 0


def test_replays_are_counted(make_metrics):
    metrics = make_metrics()
    handler = Recorder(answer=False)
    client, app = _client(handler)
    _post(client, notify_fields())
    handler.answer = None
    (result,) = app.inbox.replay(handler, by="alice")
    assert result.outcome == "done"
    assert _notifies(metrics, "replayed") == 1


def test_gauges_read_failed_records_and_stale_claims_from_the_inbox(make_metrics, tmp_path):
    inbox = SQLiteInbox(tmp_path / "inbox.sqlite3", lease=0.05)
    try:
        metrics = make_metrics(inbox)
        scraped = _scrape(metrics.wsgi_app())
        assert (scraped[("gatepay_inbox_failed", ())], scraped[("gatepay_inbox_stale", ())]) == (
            0,
            0,
        )
        client, _ = _client(Recorder(answer=False), inbox)
        assert _post(client, notify_fields(order_id="1"))[0] == 500
        # A worker that claimed a notify and died: its lease runs out unrenewed.
        inbox.claim(parse_notification(notify_fields(order_id="2"), appkey=APPKEY))
        time.sleep(0.1)
        scraped = _scrape(metrics.wsgi_app())
        assert scraped[("gatepay_inbox_failed", ())] == 1
        assert scraped[("gatepay_inbox_stale", ())] == 1
        assert _value(metrics, "gatepay_inbox_failed") == 1  # the registry itself has them
    finally:
        inbox.close()


def test_an_inbox_that_cannot_be_read_leaves_the_gauges_out_not_the_counters(make_metrics, caplog):
    class Broken(MemoryInbox):
        def stats(self):
            raise RuntimeError("disk gone")

    metrics = make_metrics(Broken())
    scraped = _scrape(metrics.wsgi_app())
    assert ("gatepay_notifies_total", (("outcome", "handled"),)) in scraped
    assert not any(name.startswith("gatepay_inbox_") for name, _ in scraped)
    assert "the inbox's stats could not be read" in caplog.text


def test_the_wsgi_app_serves_the_exposition_as_text(make_metrics):
    metrics = make_metrics(MemoryInbox())
    client, _ = _client(Recorder())
    _post(client, notify_fields())
    _post(client, {**notify_fields(), "sign": "0" * 32})
    response = Client(metrics.wsgi_app()).get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    for name in (
        'gatepay_notifies_total{outcome="handled"} 1.0',
        'gatepay_refusals_total{reason="bad_signature"} 1.0',
        "gatepay_handler_seconds_bucket",
        "gatepay_inbox_failed 0.0",
        "gatepay_inbox_stale 0.0",
    ):
        assert name in text


def test_two_metrics_in_one_process_each_count_once_and_close_stops_one(make_metrics):
    first, second = make_metrics(), make_metrics()
    signals.notify_received.connect(first._received, weak=False)  # connected twice: once
    client, _ = _client(Recorder())
    _post(client, notify_fields(order_id="1"))
    assert (_notifies(first, "handled"), _notifies(second, "handled")) == (1, 1)
    assert (_notifies(first, "received"), _notifies(second, "received")) == (1, 1)
    first.close()
    first.close()  # twice: nothing left to do
    _post(client, notify_fields(order_id="2"))
    assert first.registry.get_sample_value("gatepay_notifies_total", {"outcome": "handled"}) is None
    (family,) = first.notifies.collect()  # no longer registered, and no longer counting
    counts = {s.labels["outcome"]: s.value for s in family.samples if s.name.endswith("_total")}
    assert counts["handled"] == 1
    assert _notifies(second, "handled") == 2
    # Closed, it left its registry: a new one may take its place there.
    third = make_metrics(registry=first.registry)
    _post(client, notify_fields(order_id="3"))
    assert (_notifies(third, "handled"), _notifies(second, "handled")) == (1, 3)


def test_the_default_registry_is_prometheus_clients(make_metrics):
    metrics = make_metrics(registry=None)
    assert metrics.registry is prometheus_client.REGISTRY
    assert not metrics.multiprocess


# -- gunicorn, 3 workers, prometheus_client's multiprocess mode -----------------------------

GUNICORN_CONF = """\
from prometheus_client import multiprocess


def child_exit(server, worker):
    multiprocess.mark_process_dead(worker.pid)
"""


def test_totals_are_exact_on_every_scrape_from_3_gunicorn_workers(tmp_path):
    pytest.importorskip("gunicorn")
    from ..servers import free_port, gunicorn, post

    multiproc = tmp_path / "prometheus"
    multiproc.mkdir()  # empty at start, as the README asks
    conf = tmp_path / "gunicorn.conf.py"
    conf.write_text(GUNICORN_CONF)
    calls = tmp_path / "calls.txt"
    port = free_port()
    env = {
        "PROMETHEUS_MULTIPROC_DIR": str(multiproc),
        "GATEPAY_TEST_CALLS": str(calls),
        "GATEPAY_TEST_INBOX": f"sqlite:///{tmp_path}/inbox.sqlite3",
    }
    server = gunicorn("metrics_app:app", port, env, workers=3, extra=["-c", str(conf)])
    try:
        bodies = []
        for n in range(30):
            out_order_id = f"NO{n}" if n < 5 else f"S{n}"  # 5 declined by the handler
            fields = notify_fields(order_id=str(20_000 + n), out_order_id=out_order_id)
            if n >= 25:
                fields["sign"] = "0" * 32  # 5 forged
            bodies.append(urlencode(fields).encode())
        with ThreadPoolExecutor(6) as pool:
            answers = list(pool.map(lambda body: post(port, body), bodies))
        assert sorted(status for status, _ in answers) == [200] * 20 + [403] * 5 + [500] * 5
        handler_pids = set(calls.read_text().split())
        assert len(handler_pids) >= 2, "the notifies should have reached several workers"

        expected = {
            ("gatepay_notifies_total", (("outcome", "received"),)): 25,
            ("gatepay_notifies_total", (("outcome", "handled"),)): 20,
            ("gatepay_notifies_total", (("outcome", "failed"),)): 5,
            ("gatepay_notifies_total", (("outcome", "failed_for_good"),)): 0,
            ("gatepay_notifies_total", (("outcome", "replayed"),)): 0,
            ("gatepay_refusals_total", (("reason", "bad_signature"),)): 5,
            ("gatepay_handler_seconds_count", ()): 25,
            ("gatepay_handler_seconds_bucket", (("le", "+Inf"),)): 25,
            ("gatepay_inbox_failed", ()): 5,
            ("gatepay_inbox_stale", ()): 0,
        }

        def scrape_all(times: int) -> set[str]:
            workers = set()
            for _ in range(times):
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as r:
                    assert r.status == 200
                    assert r.headers.get_content_type() == "text/plain"
                    workers.add(r.headers["X-Worker"])
                    samples = _samples(r.read().decode())
                got = {key: samples.get(key) for key in expected}
                assert got == expected
            return workers

        scrape_all(9)
        # A worker killed and replaced: what it counted still counts, nothing twice.
        os.kill(int(next(iter(handler_pids))), signal.SIGKILL)
        time.sleep(1.5)  # gunicorn notices and boots another worker
        scrape_all(6)
    finally:
        server.terminate()
        _, log = server.communicate(timeout=30)
    assert "Traceback" not in log, log[-2000:]


def test_a_second_instance_on_the_same_registry_takes_the_first_ones_place(caplog):
    from prometheus_client import CollectorRegistry

    registry = CollectorRegistry()
    first = GatePayMetrics(registry=registry)
    second = GatePayMetrics(registry=registry)  # an app built twice: no DuplicateTimeseries
    try:
        assert "replaces the first one" in caplog.text
        assert first._receivers == []  # the first one stopped counting
    finally:
        second.close()
        first.close()


# -- uWSGI, 4 processes, prometheus_client's multiprocess mode ------------------------------

UWSGI_INI = """\
[uwsgi]
master = true
processes = 4
"""
README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_uwsgi_ini(multiproc_dir: Path) -> str:
    """The README's ``[uwsgi]`` block as written, its directory moved to ``multiproc_dir``
    (the settings under test are the ones the reader copies)."""
    block = re.search(r"^```ini\n(\[uwsgi\]\n.*?)^```", README.read_text("utf-8"), re.M | re.S)
    assert block, "README.md has no ```ini block of [uwsgi] settings"
    assert "/run/shop/prometheus" in block[1]
    return block[1].replace("/run/shop/prometheus", str(multiproc_dir))


def _signed_notifies(count: int, declined: int, first_order_id: int) -> list[bytes]:
    """``count`` signed notify bodies, the first ``declined`` of them declined by
    metrics_app's handler (``out_order_id`` NO...)."""
    bodies = []
    for n in range(count):
        out_order_id = f"NO{n}" if n < declined else f"S{n}"
        fields = notify_fields(order_id=str(first_order_id + n), out_order_id=out_order_id)
        bodies.append(urlencode(fields).encode())
    return bodies


def _scrape_server(port: int) -> tuple[str, dict[tuple[str, tuple], float]]:
    """One ``GET /metrics``: (the pid of the worker that answered, its samples)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        assert response.status == 200
        return response.headers["X-Worker"], _samples(response.read().decode())


def _uwsgi_metrics_app(tmp_path, ini: str):
    """metrics_app under uWSGI with ``ini``: (server, port, the handler calls file, log)."""
    from ..servers import free_port, uwsgi

    calls = tmp_path / "calls.txt"
    env = {
        "GATEPAY_TEST_CALLS": str(calls),
        "GATEPAY_TEST_INBOX": f"sqlite:///{tmp_path}/inbox.sqlite3",
    }
    port = free_port()
    log = tmp_path / "uwsgi.log"
    server = uwsgi(f"{ini}module = metrics_app:app\n", port, env, log)
    return server, port, calls, log


def _post_all(port: int, bodies: list[bytes]) -> list[int]:
    """POST the bodies, 8 at a time, so that several workers take them: sorted statuses."""
    from ..servers import post

    with ThreadPoolExecutor(8) as pool:
        return sorted(status for status, _ in pool.map(lambda body: post(port, body), bodies))


@pytest.mark.parametrize("lazy_apps", [False, True], ids=["app-loaded-in-master", "lazy-apps"])
def test_one_scrape_counts_every_notify_of_4_uwsgi_processes(tmp_path, lazy_apps):
    from ..servers import stop_uwsgi

    multiproc_dir = tmp_path / "prometheus"
    multiproc_dir.mkdir()  # empty at start, as the README asks
    ini = _readme_uwsgi_ini(multiproc_dir) + ("lazy-apps = true\n" if lazy_apps else "")
    server, port, calls, log = _uwsgi_metrics_app(tmp_path, ini)
    try:
        total, declined = 40, 4
        statuses = _post_all(port, _signed_notifies(total, declined, first_order_id=30_000))
        assert statuses == [200] * (total - declined) + [500] * declined
        handler_pids = calls.read_text().split()
        assert len(set(handler_pids)) >= 2, "the notifies should have reached several workers"

        _, samples = _scrape_server(port)
        got = {
            outcome: samples.get(("gatepay_notifies_total", (("outcome", outcome),)))
            for outcome in ("received", "handled", "failed")
        }
        assert got == {"received": total, "handled": total - declined, "failed": declined}
        assert samples[("gatepay_handler_seconds_count", ())] == total
        # Read from the shared inbox once per scrape: the truth, not 4 times it.
        assert samples[("gatepay_inbox_failed", ())] == declined
        assert samples[("gatepay_inbox_stale", ())] == 0

        # A worker killed: what it counted is still in its file, and counted once.
        os.kill(int(handler_pids[0]), signal.SIGKILL)
        _, samples = _scrape_server(port)
        assert samples[("gatepay_notifies_total", (("outcome", "handled"),))] == total - declined
        # Nothing went wrong while serving. Read before the stop: a worker the master is
        # still respawning (lazy-apps loads the app in it) is interrupted mid-import by it.
        served = log.read_text()
        assert "Traceback" not in served, served[-2000:]
    finally:
        stop_uwsgi(server)


def test_4_uwsgi_processes_without_the_directory_log_why_a_scrape_counts_one(tmp_path):
    from ..servers import stop_uwsgi

    server, port, calls, log = _uwsgi_metrics_app(tmp_path, UWSGI_INI)
    try:
        total = 40
        assert _post_all(port, _signed_notifies(total, 0, first_order_id=40_000)) == [200] * total
        assert len(set(calls.read_text().split())) >= 2
        worker, samples = _scrape_server(port)
        # What the issue saw (76 of 300 under mod_wsgi): the answering worker's own count.
        received = samples[("gatepay_notifies_total", (("outcome", "received"),))]
        assert received == calls.read_text().split().count(worker) < total
    finally:
        stop_uwsgi(server)
    assert "uWSGI runs 4 processes and PROMETHEUS_MULTIPROC_DIR is not set" in log.read_text()


# -- what a server says about its processes, without the directory --------------------------


def _fake_server_module(monkeypatch, name: str, **attributes):
    """``import uwsgi`` (or mod_wsgi) as inside that server, with these attributes."""
    module = types.ModuleType(name)
    for attribute, value in attributes.items():
        setattr(module, attribute, value)
    monkeypatch.setitem(sys.modules, name, module)


@pytest.mark.parametrize(
    ("module", "attributes", "said"),
    [
        ("uwsgi", {"numproc": 4}, "uWSGI runs 4 processes"),
        ("mod_wsgi", {"maximum_processes": 3, "process_group": "shop"}, "mod_wsgi runs 3"),
    ],
)
def test_a_server_of_several_processes_without_the_directory_is_warned_at_start(
    make_metrics, monkeypatch, caplog, module, attributes, said
):
    _fake_server_module(monkeypatch, module, **attributes)
    make_metrics()
    assert said in caplog.text
    assert "PROMETHEUS_MULTIPROC_DIR is not set" in caplog.text


def test_a_server_of_one_process_is_not_warned(make_metrics, monkeypatch, caplog):
    _fake_server_module(monkeypatch, "mod_wsgi", maximum_processes=1, process_group="")
    metrics = make_metrics()
    Client(metrics.wsgi_app()).get("/metrics", environ_overrides={"wsgi.multiprocess": False})
    assert "PROMETHEUS_MULTIPROC_DIR" not in caplog.text


def test_any_other_server_saying_wsgi_multiprocess_is_warned_at_the_first_scrape(
    make_metrics, caplog
):
    metrics = make_metrics()
    client = Client(metrics.wsgi_app())
    multiprocess = {"wsgi.multiprocess": True, "SERVER_SOFTWARE": "gunicorn/23.0.0"}
    assert "PROMETHEUS_MULTIPROC_DIR" not in caplog.text  # nothing known at start
    for _ in range(2):
        assert client.get("/metrics", environ_overrides=multiprocess).status_code == 200
    warnings = [r for r in caplog.records if "PROMETHEUS_MULTIPROC_DIR" in r.getMessage()]
    assert len(warnings) == 1  # once per process, not per scrape
    assert "gunicorn/23.0.0 runs several processes" in warnings[0].getMessage()


def test_the_directory_set_after_prometheus_client_was_imported_is_an_error(
    make_metrics, monkeypatch, tmp_path
):
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # too late: it counts in memory
    with pytest.raises(ConfigError, match="set after prometheus_client was imported"):
        make_metrics()

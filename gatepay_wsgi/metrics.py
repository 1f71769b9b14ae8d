"""Prometheus metrics of notifies: ``metrics = GatePayMetrics(inbox=app.inbox)``.

::

    from gatepay_wsgi.metrics import GatePayMetrics

    metrics = GatePayMetrics(inbox=app.inbox)   # counts from now on, in this process
    metrics_app = metrics.wsgi_app()            # serve it at /metrics, say

What it exports (``gatepay`` is the ``namespace``):

- ``gatepay_notifies_total{outcome}``: notifies ``received`` (verified), ``handled``
  (the handler accepted), ``failed`` (it declined or raised), ``failed_for_good`` (failed
  after the gateway's retries are over) and ``replayed`` (orders replayed);
- ``gatepay_refusals_total{reason}``: refused requests by their stable reason code
  (``bad_signature``, ``missing_field``...);
- ``gatepay_handler_seconds``: a histogram of handler time, every handler run (accepted
  or not), 5 ms to 30 s;
- ``gatepay_inbox_failed`` and ``gatepay_inbox_stale``: failed records and stale claims
  (a worker died mid-handler), read from ``inbox.stats()`` at each scrape, so every
  worker reports the shared inbox's truth.

The counters come from the blinker signals of ``signals.py`` (``notify.py`` knows nothing
of this module). Under a server with several processes (gunicorn, uWSGI, mod_wsgi), set
``PROMETHEUS_MULTIPROC_DIR`` (prometheus_client's multiprocess mode) in the server's
environment, so that it is set before prometheus_client is imported: each process then
writes its counts to files there and a scrape, whichever process answers it, adds them all
up. An app loaded before the fork (uWSGI without ``lazy-apps``) counts right too:
prometheus_client checks the pid at every write. No exit hook is needed: a dead worker's
files still count, and the gauges are in no file. Several processes without the directory
get a warning (uWSGI and mod_wsgi at start-up, other servers saying ``wsgi.multiprocess``
at the first scrape); the directory set too late is an error.
One ``GatePayMetrics`` per process: two would count every notify twice into one registry
(give the second its own ``registry``) and, in multiprocess mode, share one file's slots.
Needs the ``[metrics]`` extra (``prometheus_client`` and ``blinker``).
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from typing import Any, ClassVar

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, make_wsgi_app, values
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from . import signals
from .errors import ConfigError
from .inbox import FAILED, Inbox

__all__ = ["HANDLER_BUCKETS", "OUTCOMES", "GatePayMetrics", "InboxCollector"]

logger = logging.getLogger("gatepay_wsgi")

#: The ``outcome`` label's values of ``gatepay_notifies_total``.
OUTCOMES = ("received", "handled", "failed", "failed_for_good", "replayed")
#: Seconds: a handler writes to a database, maybe calls a service; 30 s is very late.
HANDLER_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)

_WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def multiprocess_mode() -> bool:
    """Whether prometheus_client counts in files shared by processes, as it chose when it
    was first imported (from ``PROMETHEUS_MULTIPROC_DIR``)."""
    return bool(getattr(values.ValueClass, "_multiprocess", False))


def server_processes() -> tuple[str, int] | None:
    """``("uWSGI", 4)``: the server running this process and how many processes it runs the
    app in, where the server says so (uWSGI's ``processes``, mod_wsgi's ``processes=`` or
    Apache's children); ``None`` elsewhere."""
    for module_name, server, attribute in (
        ("uwsgi", "uWSGI", "numproc"),
        ("mod_wsgi", "mod_wsgi", "maximum_processes"),
    ):
        try:  # only importable inside that server
            module = importlib.import_module(module_name)
        except ImportError:
            continue
        return server, int(getattr(module, attribute, 1))
    return None


_NO_DIR = (
    "metrics: %s runs %s processes and PROMETHEUS_MULTIPROC_DIR is not set, so a scrape "
    "counts only the process that answers it; set it in the server's environment to an "
    "emptied directory (README, Metrics)"
)


class InboxCollector:
    """``gatepay_inbox_failed`` and ``gatepay_inbox_stale``, read from the inbox per scrape.

    An inbox that cannot be read leaves both out of that scrape (and logs why): the
    counters are still served.
    """

    def __init__(self, inbox: Inbox, namespace: str = "gatepay") -> None:
        self.inbox = inbox
        self.namespace = namespace

    def _families(self) -> tuple[GaugeMetricFamily, GaugeMetricFamily]:
        return (
            GaugeMetricFamily(
                f"{self.namespace}_inbox_failed",
                "Notifies in the inbox whose handler failed (replay them).",
            ),
            GaugeMetricFamily(
                f"{self.namespace}_inbox_stale",
                "Claims in the inbox whose worker died mid-handler (lease run out).",
            ),
        )

    def describe(self) -> Iterator[Metric]:
        """The names, without reading the inbox (a registry asks when registering)."""
        yield from self._families()

    def collect(self) -> Iterator[Metric]:
        try:
            stats = self.inbox.stats()
        except Exception:
            logger.exception("metrics: the inbox's stats could not be read")
            return
        failed, stale = self._families()
        failed.add_metric([], stats.by_status.get(FAILED.value, 0))
        stale.add_metric([], stats.stale)
        yield failed
        yield stale


class GatePayMetrics:
    """``metrics = GatePayMetrics(inbox=app.inbox)``, then serve ``metrics.wsgi_app()``.

    Connects to the signals at once; ``close()`` disconnects (and unregisters).

    :param inbox: the inbox whose failed records and stale claims are gauged; ``None``
        leaves the gauges out.
    :param registry: where the counters and histogram register; prometheus_client's
        default ``REGISTRY`` when ``None``. In multiprocess mode the scrape reads the
        files instead, whatever the registry.
    :param namespace: the metrics' prefix.
    """

    #: (id of the registry, namespace) -> the instance counting into it now.
    _live: ClassVar[dict[tuple[int, str], GatePayMetrics]] = {}

    def __init__(
        self,
        inbox: Inbox | None = None,
        registry: CollectorRegistry | None = None,
        namespace: str = "gatepay",
    ) -> None:
        self.inbox = inbox
        self.registry = REGISTRY if registry is None else registry
        self.namespace = namespace
        self.multiprocess = multiprocess_mode()
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR") and not self.multiprocess:
            # Counting in memory while a scrape would read the (empty) files: no counts.
            raise ConfigError(
                "PROMETHEUS_MULTIPROC_DIR was set after prometheus_client was imported; "
                "set it in the server's environment, before the app is loaded"
            )
        server = None if self.multiprocess else server_processes()
        if server is not None and server[1] > 1:
            logger.warning(_NO_DIR, *server)
        # A server the start-up check knows has had its say; others get it at a scrape.
        self._warned_at_scrape = server is not None
        # A second one on the same registry (an app built twice in a process, a test
        # suite): it takes the first one's place, which stops counting and leaves the
        # registry, rather than failing on metric names already taken.
        previous = GatePayMetrics._live.get((id(self.registry), namespace))
        if previous is not None:
            logger.warning("metrics: a second GatePayMetrics replaces the first one")
            previous.close()
        GatePayMetrics._live[(id(self.registry), namespace)] = self
        self.notifies = Counter(
            "notifies",
            "Notifies by outcome.",
            ["outcome"],
            namespace=namespace,
            registry=self.registry,
        )
        self.refusals = Counter(
            "refusals",
            "Refused notify requests by reason.",
            ["reason"],
            namespace=namespace,
            registry=self.registry,
        )
        self.handler_seconds = Histogram(
            "handler_seconds",
            "Time the notify handler took, accepted or not.",
            namespace=namespace,
            buckets=HANDLER_BUCKETS,
            registry=self.registry,
        )
        for outcome in OUTCOMES:  # zero from the start: rate() sees the first one
            self.notifies.labels(outcome)
        self.inbox_collector = None if inbox is None else InboxCollector(inbox, namespace)
        if self.inbox_collector is not None and not self.multiprocess:
            # In multiprocess mode it is read per scrape, never written to the files.
            self.registry.register(self.inbox_collector)
        self._receivers: list[tuple[Any, Callable[..., None]]] = [
            (signals.notify_received, self._received),
            (signals.notify_refused, self._refused),
            (signals.notify_handled, self._handled),
            (signals.notify_failed, self._failed),
            (signals.notify_failed_for_good, self._failed_for_good),
            (signals.notify_replayed, self._replayed),
        ]
        for signal, receiver in self._receivers:
            signal.connect(receiver, weak=False)  # connecting twice keeps one

    def _received(self, sender: Any, **data: Any) -> None:
        self.notifies.labels("received").inc()

    def _refused(self, sender: Any, reason: str = "unknown", **data: Any) -> None:
        self.refusals.labels(str(reason)).inc()

    def _handled(self, sender: Any, duration: float | None = None, **data: Any) -> None:
        self.notifies.labels("handled").inc()
        self._observe(duration)

    def _failed(self, sender: Any, duration: float | None = None, **data: Any) -> None:
        self.notifies.labels("failed").inc()
        self._observe(duration)

    def _failed_for_good(self, sender: Any, **data: Any) -> None:
        self.notifies.labels("failed_for_good").inc()

    def _replayed(self, sender: Any, **data: Any) -> None:
        self.notifies.labels("replayed").inc()

    def _observe(self, duration: float | None) -> None:
        if duration is not None:
            self.handler_seconds.observe(duration)

    def scrape_registry(self) -> CollectorRegistry:
        """What a scrape reads: in multiprocess mode a fresh registry of every worker's
        files plus the inbox's gauges; otherwise ``registry``."""
        if not self.multiprocess:
            return self.registry
        registry = CollectorRegistry()
        MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        if self.inbox_collector is not None:
            registry.register(self.inbox_collector)
        return registry

    def wsgi_app(self) -> _WSGIApp:
        """A WSGI app answering ``GET`` with the metrics (Prometheus's text format)."""
        if not self.multiprocess:
            per_process: _WSGIApp = make_wsgi_app(self.registry)

            def metrics_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
                if environ.get("wsgi.multiprocess") and not self._warned_at_scrape:
                    self._warned_at_scrape = True  # gunicorn -w 4, say: once per process
                    server = environ.get("SERVER_SOFTWARE", "the server")
                    logger.warning(_NO_DIR, server, "several")
                return per_process(environ, start_response)

            return metrics_app

        def multiprocess_app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
            return make_wsgi_app(self.scrape_registry())(environ, start_response)

        return multiprocess_app

    def close(self) -> None:
        """Stop counting: disconnect from the signals, leave the registry (idempotent)."""
        if GatePayMetrics._live.get((id(self.registry), self.namespace)) is self:
            del GatePayMetrics._live[(id(self.registry), self.namespace)]
        for signal, receiver in self._receivers:
            signal.disconnect(receiver)
        self._receivers = []
        collectors: list[Any] = [self.notifies, self.refusals, self.handler_seconds]
        if self.inbox_collector is not None and not self.multiprocess:
            collectors.append(self.inbox_collector)
        for collector in collectors:
            with suppress(KeyError):  # already gone (close() called twice)
                self.registry.unregister(collector)

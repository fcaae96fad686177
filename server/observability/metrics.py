"""The node's Prometheus metrics and their exposition in text format 0.0.4.

The metric names and labels are a contract with dashboards, alerts and the
capacity model (docs/server.md, "Metrics, health and logs"): change them
only together with those.

Under gunicorn (``$PROMETHEUS_MULTIPROC_DIR`` set, see ``multiproc``) every
worker writes its values to the shared directory and a scrape aggregates all
of them; the metric objects then exist once per process, whatever number of
apps the process builds. Without the directory (an app built in a test or a
single process), each app keeps its own registry.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4, generate_latest
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

from server.observability import multiproc

CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
# From a 1 ms page served from cache to a 10 s POST of a large envelope.
DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class Metrics:
    """The metrics every worker updates as it serves."""

    def __init__(self, registry: CollectorRegistry | None) -> None:
        self.registry = registry
        self.requests = Counter(
            "dx_http_requests",
            "Requests answered, by Flask endpoint ('unmatched': no route), method and status.",
            ["endpoint", "method", "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "dx_http_request_duration_seconds",
            "Time from the request reaching the app to its response being ready.",
            ["endpoint", "method"],
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self.last_publish = Gauge(
            "dx_partner_last_publish_timestamp_seconds",
            "When the partner last published objects (a POST answered 202), Unix time.",
            ["partner"],
            multiprocess_mode="max",
            registry=registry,
        )
        self.last_poll = Gauge(
            "dx_partner_last_poll_timestamp_seconds",
            "When the partner last read objects or a manifest successfully, Unix time.",
            ["partner"],
            multiprocess_mode="max",
            registry=registry,
        )
        self.pool_checked_out = Gauge(
            "dx_db_pool_checked_out",
            "Database connections in use by requests, over the node's live workers.",
            multiprocess_mode="livesum",
            registry=registry,
        )
        self.pool_size = Gauge(
            "dx_db_pool_size",
            "Configured size of the database connection pools, over the node's live workers.",
            multiprocess_mode="livesum",
            registry=registry,
        )


@functools.cache
def _process_metrics() -> Metrics:
    # Multiprocess values live in per-process files keyed by name and labels:
    # two metric objects of one name in one process would overwrite each other.
    return Metrics(registry=None)


def new_metrics() -> Metrics:
    """The process's shared metrics under gunicorn, else a fresh set with its own registry."""
    if multiproc.is_enabled():
        return _process_metrics()
    return Metrics(CollectorRegistry())


class Exposition:
    """Renders the metrics of the whole node plus collectors computed at scrape time."""

    def __init__(self, metrics: Metrics, collectors: Iterable[Collector]) -> None:
        self._metrics = metrics
        self._collectors = tuple(collectors)
        self._lock = threading.Lock()
        if metrics.registry is not None:
            for collector in self._collectors:
                metrics.registry.register(collector)

    def render(self) -> bytes:
        registry = self._metrics.registry
        if registry is None:
            # A fresh registry per scrape, reading every worker's files.
            registry = CollectorRegistry()
            MultiProcessCollector(registry)
            for collector in self._collectors:
                registry.register(collector)
        with self._lock:  # concurrent scrapes in one worker would repeat the same work
            return generate_latest(registry)

"""``dx_objects_stored``: object versions per collection, counted at scrape time.

Computed only when scraped, by the worker that answers, and cached for a few
seconds so that several Prometheus servers (or an impatient operator) cost one
count per interval. While the database does not answer, the metric is left
out of the scrape rather than the scrape failing. Being a scrape-time
collector rather than a value kept in the multiprocess files, it needs no
multiprocess aggregation mode: it is the database's figure, the same whichever
worker reports it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy.exc import SQLAlchemyError

from server.store import Store

log = logging.getLogger(__name__)

CACHE_SECONDS = 5.0
_NAME = "dx_objects_stored"
_HELP = "Object versions stored, per API root and collection (collection id)."

Counts = list[tuple[str, str, int]]


class StoredObjectsCollector(Collector):
    def __init__(
        self,
        store: Store,
        database_answers: Callable[[], bool],
        cache_seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._database_answers = database_answers
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._counts: Counts | None = None
        self._counted_at = 0.0

    def _count(self) -> Counts:
        counts: Counts = []
        for root in self._store.list_api_roots():
            for collection in self._store.list_collections(root.name):
                counts.append((root.name, collection.id, self._store.count_objects(collection.id)))
        return counts

    def _current(self) -> Counts | None:
        with self._lock:
            now = self._clock()
            if self._counts is None or now - self._counted_at >= self._cache_seconds:
                # The store's pool has no connect timeout: ask the readiness check
                # (which has one) first, so a scrape never waits on a vanished host.
                if not self._database_answers():
                    return None
                try:
                    self._counts = self._count()
                except SQLAlchemyError:
                    # The rest of the scrape still matters most when the database is down.
                    log.warning("could not count stored objects for the metrics", exc_info=True)
                    return None
                self._counted_at = now
            return self._counts

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(_NAME, _HELP, labels=["api_root", "collection"])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        counts = self._current()
        if counts is None:
            return
        family = GaugeMetricFamily(_NAME, _HELP, labels=["api_root", "collection"])
        for api_root, collection, count in counts:
            family.add_metric([api_root, collection], count)
        yield family

"""Processes for the concurrency test: writers publishing and a poller following added_after.

They live in their own module because spawned processes import their target
by name; each opens its own Store, as separate server workers would.
"""

from __future__ import annotations

import random
import time
from multiprocessing.queues import Queue

from server.store import Store
from server.store.types import ObjectQuery
from tests.store.store_helpers import API_ROOT, COLLECTION_ID, make_object, stix_id

OBJECTS_PER_WRITER = 1_000_000  # id numbering stride, so writers never share ids


def writer_ids(writer: int, batches: int, batch_size: int) -> list[str]:
    first = writer * OBJECTS_PER_WRITER
    return [stix_id("indicator", first + n) for n in range(batches * batch_size)]


def write(url: str, writer: int, batches: int, batch_size: int, start_at: float) -> None:
    rng = random.Random(writer)
    first = writer * OBJECTS_PER_WRITER
    with Store(url) as store:
        time.sleep(max(0.0, start_at - time.time()))
        for batch in range(batches):
            numbers = range(first + batch * batch_size, first + (batch + 1) * batch_size)
            objects = [make_object(n, "2021-01-01T00:00:00Z") for n in numbers]
            store.add_objects(API_ROOT, COLLECTION_ID, f"writer-{writer}", objects, [], 0)
            time.sleep(rng.uniform(0, 0.004))


def poll(url: str, expected: int, deadline: float, results: Queue) -> None:
    """Follow the collection with added_after = the last date_added seen, as a TAXII poller does."""
    rng = random.Random(99)
    seen: list[str] = []
    polls_with_rows = 0
    last_seen: int | None = None
    with Store(url) as store:
        while len(seen) < expected and time.time() < deadline:
            query = ObjectQuery(added_after_us=last_seen, limit=rng.randint(1, 40))
            page = store.query_objects(COLLECTION_ID, query, with_body=False)
            if page.rows:
                polls_with_rows += 1
                seen.extend(row.stix_id for row in page.rows)
                last_seen = page.rows[-1].date_added_us
            else:
                time.sleep(0.002)
        # One more poll: nothing may appear after the poller has caught up.
        extra = store.query_objects(COLLECTION_ID, ObjectQuery(added_after_us=last_seen))
        seen.extend(row.stix_id for row in extra.rows)
    results.put((seen, polls_with_rows))

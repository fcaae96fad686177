"""Several writer processes and one incremental poller: the poller misses nothing.

A poller asks for ``added_after`` = the last date_added it saw. If date_added
were assigned without the collection lock, a writer could commit a smaller
date_added after the poller had moved past it, and that object would never be
seen. Here four processes publish at once while a fifth polls with random page
sizes; it must end with every object exactly once.
"""

from __future__ import annotations

import multiprocessing
import time

from server.store import Store
from server.store.types import ObjectQuery, Partner
from tests.store.concurrency_workers import poll, write, writer_ids
from tests.store.store_helpers import COLLECTION_ID, IDENTITY_A

WRITERS = 4
BATCHES = 25
BATCH_SIZE = 8


def test_poller_sees_every_object_once_while_writers_commit(store: Store, store_url: str) -> None:
    for writer in range(WRITERS):
        store.add_partner(f"writer-{writer}", f"Writer {writer}", IDENTITY_A)
    expected_ids = {
        stix_id for writer in range(WRITERS) for stix_id in writer_ids(writer, BATCHES, BATCH_SIZE)
    }
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    deadline = time.time() + 90
    start_at = time.time() + 2.0  # after every process has imported and connected
    poller = context.Process(target=poll, args=(store_url, len(expected_ids), deadline, results))
    writers = [
        context.Process(target=write, args=(store_url, writer, BATCHES, BATCH_SIZE, start_at))
        for writer in range(WRITERS)
    ]
    started = [poller, *writers]
    try:
        for process in started:
            process.start()
        seen, polls_with_rows = results.get(timeout=120)
        for process in started:
            process.join(timeout=30)
        assert [process.exitcode for process in started] == [0] * len(started)
    finally:
        for process in started:
            if process.is_alive():
                process.terminate()
                process.join(timeout=5)

    assert len(seen) == len(set(seen)), "the poller saw an object twice"
    assert set(seen) == expected_ids, f"missed {len(expected_ids - set(seen))} objects"
    # The poller really ran alongside the writers rather than after them.
    assert polls_with_rows > BATCHES
    stored = store.query_objects(COLLECTION_ID, ObjectQuery(limit=10_000), with_body=False).rows
    dates = [row.date_added_us for row in stored]
    assert len(dates) == len(expected_ids) and dates == sorted(set(dates))
    assert isinstance(store.get_partner("writer-0"), Partner)

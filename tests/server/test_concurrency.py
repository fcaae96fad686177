"""Concurrent publishers and an incremental poller over HTTP: nothing is missed.

Several publisher threads POST batches through taxii2-client while a poller
repeatedly asks for ``added_after=<X-TAXII-Date-Added-Last of its last page>``.
Because the store hands out date_added under the collection's write lock, a
reader never sees a later date_added before an earlier one is committed, so
the poller must end with every published object exactly once.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest
from taxii2client.v21 import Collection

from server.store.types import CollectionInfo
from tests.support.server import BACKENDS, Client, PartnerSpec, indicator, served

COLLECTION = str(uuid.uuid4())
PUBLISHERS = {f"pub-{n}": f"identity--{uuid.uuid4()}" for n in range(3)}
POLLER = "poller"
BATCHES = 12
BATCH_SIZE = 5
DEADLINE_S = 90


@pytest.mark.parametrize("backend", BACKENDS)
def test_incremental_poller_misses_nothing(tmp_path, backend):
    partners = [
        PartnerSpec(p, identity, {COLLECTION: (False, True)}) for p, identity in PUBLISHERS.items()
    ]
    partners.append(PartnerSpec(POLLER, f"identity--{uuid.uuid4()}", {COLLECTION: (True, False)}))
    collections = [CollectionInfo(COLLECTION, "exchange", "Busy")]
    with served(tmp_path, backend, collections, partners, workers=3, threads=2) as running:
        published: list[str] = []
        errors: list[BaseException] = []
        lock = threading.Lock()
        done = threading.Event()

        def publish(partner: str) -> None:
            try:
                collection = Collection(
                    running.collection_url(COLLECTION), user=partner, password=running.keys[partner]
                )
                for batch in range(BATCHES):
                    objects = [
                        indicator(PUBLISHERS[partner], name=f"{partner} {batch}.{n}")
                        for n in range(BATCH_SIZE)
                    ]
                    status = collection.add_objects({"objects": objects})
                    assert status.success_count == BATCH_SIZE, status.failures
                    with lock:
                        published.extend(o["id"] for o in objects)
            except BaseException as error:  # reported by the main thread
                errors.append(error)

        seen: list[str] = []

        def poll() -> None:
            client = Client(running.base_url, POLLER, running.keys[POLLER])
            path = f"/exchange/collections/{COLLECTION}/objects/"
            added_after = None
            quiet_polls_after_done = 0
            deadline = time.monotonic() + DEADLINE_S
            try:
                while quiet_polls_after_done < 2 and time.monotonic() < deadline:
                    finished = done.is_set()
                    params = {"limit": 7}
                    if added_after is not None:
                        params["added_after"] = added_after
                    response = client.get(path, params)
                    assert response.status_code == 200, response.text
                    objects = response.json().get("objects", [])
                    seen.extend(o["id"] for o in objects)
                    if objects:
                        added_after = response.headers["X-TAXII-Date-Added-Last"]
                    elif finished:
                        quiet_polls_after_done += 1
                    else:
                        time.sleep(0.01)
            except BaseException as error:
                errors.append(error)

        publishers = [threading.Thread(target=publish, args=(p,)) for p in PUBLISHERS]
        poller = threading.Thread(target=poll)
        poller.start()
        for thread in publishers:
            thread.start()
        for thread in publishers:
            thread.join(DEADLINE_S)
        done.set()
        poller.join(DEADLINE_S)
        assert not errors, errors
        assert len(published) == len(PUBLISHERS) * BATCHES * BATCH_SIZE
        assert len(seen) == len(set(seen)), "an object was delivered twice"
        assert set(seen) == set(published), f"missed {len(set(published) - set(seen))}"

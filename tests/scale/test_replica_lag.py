"""Pollers reading from a lagging streaming replica never skip an object.

Nodes behind nginx read TAXII GETs from a PostgreSQL streaming replica
(``replica_database_url``) and write to the primary. While publishers commit
and pollers (a taxii2-client loop and ``dx poll``) sync, the replica's replay
is paused (``pg_wal_replay_pause()``): writers go on committing on the
primary, pollers keep reading a replica frozen at some point between two
commits and see exactly what it holds, nothing newer. Then replay resumes and
every poller ends with every object exactly once.

Why it holds (docs/server.md, "Read replicas"): a collection's ``date_added``
values are assigned under the collection's row lock and the lock is held to
commit, so within a collection commit order is ``date_added`` order; a
replica replays the primary's WAL in commit order, so whatever it shows is a
prefix of the collection in ``date_added`` order. A poller's ``added_after``
cursor is a ``date_added`` it saw, and nothing can later appear before it.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from pathlib import Path

import pytest

from server.config import ServerConfig
from server.store.types import CollectionInfo
from tests.scale.clients import (
    Publisher,
    TaxiiPoller,
    dx_poll_once,
    feed_store_versions,
    taxii_collection,
    wait_for,
    write_lab_config,
)
from tests.support.server import PartnerSpec
from tests.support.topology import API_ROOT, topology

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        "replica_database_url" not in ServerConfig.model_fields,
        reason="the server has no replica_database_url setting yet",
    ),
]

COLLECTION = str(uuid.uuid4())
IDENTITY = f"identity--{uuid.uuid4()}"
# Acknowledged objects before the pause, and committed while the replica is paused.
BEFORE_PAUSE = 40
WHILE_PAUSED = 60


def _count(cluster, collection: str) -> int:
    rows = cluster.sql("SELECT count(*) FROM objects WHERE collection_id = %s", (collection,))
    return int(rows[0][0])


def test_pollers_on_a_paused_replica_miss_nothing(tmp_path: Path) -> None:
    partners = [
        PartnerSpec("lab-a", IDENTITY, {COLLECTION: (True, True)}),
        PartnerSpec("lab-b", f"identity--{uuid.uuid4()}", {COLLECTION: (True, False)}),
    ]
    collections = [CollectionInfo(id=COLLECTION, api_root=API_ROOT, title="Indicators")]
    with topology(
        tmp_path, nodes=2, partners=partners, collections=collections, read_from_replica=True
    ) as t:
        assert t.replica is not None
        t.wait_replica_caught_up()
        url = t.collection_url(COLLECTION)
        publisher = Publisher(taxii_collection(url, "lab-a", t.keys["lab-a"], t.ca_file), IDENTITY)
        poller = TaxiiPoller(taxii_collection(url, "lab-b", t.keys["lab-b"], t.ca_file), limit=9)
        lab = write_lab_config(
            tmp_path / "lab-b", t.api_root_url, "lab-b", t.keys["lab-b"], COLLECTION, t.ca_file
        )
        stop = threading.Event()
        errors: list[BaseException] = []

        def publish() -> None:
            try:
                publisher.run_until(stop)
            except BaseException as error:
                errors.append(error)

        def polled_while_publishing() -> bool:
            poller.round()
            return bool(errors) or (publisher.count() >= BEFORE_PAUSE and bool(poller.received))

        writer = threading.Thread(target=publish, daemon=True)
        writer.start()
        try:
            # The poller reads while the writer commits: it has seen some objects before the pause.
            wait_for("objects acknowledged and polled before the pause", polled_while_publishing)
            assert not errors, errors
            t.replica.sql("SELECT pg_wal_replay_pause()", database="postgres")
            wait_for(
                "replica replay paused",
                lambda: (
                    t.replica.sql(  # type: ignore[union-attr]
                        "SELECT pg_get_wal_replay_pause_state()", database="postgres"
                    )[0][0]
                    == "paused"
                ),
            )
            paused_at = publisher.count()
            wait_for(
                "objects committed while the replica is paused",
                lambda: bool(errors) or publisher.count() >= paused_at + WHILE_PAUSED,
            )
        finally:
            stop.set()
            writer.join(timeout=300)
        assert not errors, errors

        # Paused: the replica holds a prefix; the pollers see exactly it, nothing newer.
        on_replica, on_primary = _count(t.replica, COLLECTION), _count(t.primary, COLLECTION)
        assert on_replica < on_primary, (on_replica, on_primary)
        poller.round()
        dx_poll_once(lab)
        assert len(poller.received) == on_replica
        assert len(feed_store_versions(lab, COLLECTION)) == on_replica

        t.replica.sql("SELECT pg_wal_replay_resume()", database="postgres")
        t.wait_replica_caught_up()
        poller.round()
        dx_poll_once(lab)

        stored = {
            row[0]
            for row in t.primary.sql(
                "SELECT stix_id FROM objects WHERE collection_id = %s", (COLLECTION,)
            )
        }
        assert set(publisher.acknowledged) <= stored
        polled = Counter(stix_id for stix_id, _ in poller.received)
        assert set(polled) == stored and max(polled.values()) == 1
        in_store = Counter(stix_id for stix_id, _ in feed_store_versions(lab, COLLECTION))
        assert set(in_store) == stored and max(in_store.values()) == 1
        print(
            f"replica held {on_replica} of {on_primary} while paused; "
            f"pollers ended with {len(stored)} objects each"
        )

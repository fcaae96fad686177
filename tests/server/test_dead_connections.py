"""Pooled PostgreSQL connections killed under a running server cost no failed request.

The server does not ping a connection each time it takes one from its pool
(server.store.scope): a read that meets a dead connection runs once more on a
new one, and a write transaction pings first. Here every server connection
to the database is terminated (as a PostgreSQL restart or a failover would)
between requests; the next reads and writes all succeed.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url
from taxii2client.v21 import Collection

from server.store.types import CollectionInfo
from tests.support.server import PartnerSpec, _admin_conninfo, indicator, served

pytestmark = pytest.mark.postgres

LAB = "lab-a"
LAB_IDENTITY = "identity--0c6d9a2e-7b1f-4e3a-8d5c-2f4e6a8b0c1d"
COLLECTION = str(uuid.uuid4())


def _terminate_server_connections(database_url: str) -> int:
    """pg_terminate_backend on every session of the database; how many there were."""
    conninfo, _ = _admin_conninfo()
    name = make_url(database_url).database
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        ).fetchall()
    return len(rows)


def test_requests_succeed_after_the_pooled_connections_were_killed(tmp_path: Path) -> None:
    with served(
        tmp_path,
        "postgres",
        [CollectionInfo(COLLECTION, "exchange", "Main")],
        [PartnerSpec(LAB, LAB_IDENTITY, {COLLECTION: (True, True)})],
        workers=1,
        threads=2,
    ) as running:
        collection = Collection(
            running.collection_url(COLLECTION), user=LAB, password=running.keys[LAB]
        )
        published = [indicator(LAB_IDENTITY) for _ in range(3)]
        assert collection.add_objects({"objects": published[:1]}).status == "complete"
        assert len(collection.get_objects()["objects"]) == 1
        for round_ in range(2):
            # The worker's pool holds live connections now; kill them all.
            assert _terminate_server_connections(running.database_url) > 0
            # A read first (it meets a dead connection), then a write.
            assert len(collection.get_objects()["objects"]) == round_ + 1
            status = collection.add_objects({"objects": [published[round_ + 1]]})
            assert status.status == "complete" and status.success_count == 1
            status.refresh()  # the status resource, read on the primary
            assert status.success_count == 1
        assert len(collection.get_objects()["objects"]) == 3
        assert "Traceback" not in running.server.log()

"""A node with ``replica_database_url`` reads TAXII data from the replica and writes to the primary.

The "replica" here is a second PostgreSQL database made as a copy of the
primary (CREATE DATABASE ... TEMPLATE), which then stops following it: what
a replica frozen in the past looks like. Every answer therefore says which
database it came from. The node opens the replica with
default_transaction_read_only, so a write that reached it would fail with a
5xx; none does. (Streaming replication itself, with replay paused and resumed,
is exercised by the multi-node topology tests.)
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import orjson
import psycopg
import pytest
from sqlalchemy.engine import make_url
from taxii2client.v21 import Collection

from server.store import Store
from server.store.types import CollectionInfo, IncomingObject
from tests.support.server import (
    Client,
    PartnerSpec,
    ServerProcess,
    _admin_conninfo,
    indicator,
    postgres_database,
    seed,
    write_config,
)

pytestmark = pytest.mark.postgres

LAB = "lab-a"
LAB_IDENTITY = "identity--6a0f9b7e-2c57-4f4e-9d8e-0b1d3c2a4e51"
COLLECTION = str(uuid.uuid4())


@contextmanager
def _copy_of(url: str) -> Iterator[str]:
    """A new database holding what ``url`` holds now; dropped afterwards."""
    conninfo, _ = _admin_conninfo()
    source = make_url(url).database
    name = f"{source}_replica"
    with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{source}"')
        try:
            yield make_url(url).set(database=name).render_as_string(hide_password=False)
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _incoming(obj: dict) -> IncomingObject:
    return IncomingObject(
        obj["id"], obj["type"], obj["modified"], "2.1", orjson.dumps(obj).decode()
    )


def _ids(envelope: dict) -> list[str]:
    return [obj["id"] for obj in envelope.get("objects", [])]


def test_reads_come_from_the_replica_and_writes_go_to_the_primary(tmp_path: Path) -> None:
    before = indicator(LAB_IDENTITY, name="before the copy")
    with postgres_database() as primary:
        keys = seed(
            primary,
            "exchange",
            [CollectionInfo(COLLECTION, "exchange", "Main")],
            [PartnerSpec(LAB, LAB_IDENTITY, {COLLECTION: (True, True)})],
        )
        with Store(primary) as store:
            store.add_objects("exchange", COLLECTION, LAB, [_incoming(before)], [], 0)
        with _copy_of(primary) as replica:
            config = write_config(tmp_path / "server.toml", primary, replica_database_url=replica)
            server = ServerProcess(config, tmp_path / "server.log").start()
            try:
                _exercise(server, keys[LAB], primary, replica, before)
            finally:
                server.kill()


def _exercise(server: ServerProcess, key: str, primary: str, replica: str, before: dict) -> None:
    url = f"{server.base_url}/exchange/collections/{COLLECTION}/"
    collection = Collection(url, user=LAB, password=key)
    after = indicator(LAB_IDENTITY, name="after the copy")

    # POST goes to the primary; its status, asked for at once, is found there.
    status = collection.add_objects({"objects": [after]})
    assert status.status == "complete" and status.success_count == 1
    status.refresh()
    assert status.success_count == 1

    # GETs are answered from the replica, which never saw the POST.
    assert _ids(collection.get_objects()) == [before["id"]]
    assert [e["id"] for e in collection.get_manifest()["objects"]] == [before["id"]]
    assert collection.get_object(before["id"])["objects"][0]["name"] == "before the copy"
    with Store(primary) as store:
        assert store.count_objects(COLLECTION) == 2
    with Store(replica) as store:
        assert store.count_objects(COLLECTION) == 1

    # A key rotated on the primary works at once: an unknown key is checked
    # against the primary before it counts as a failure.
    with Store(primary) as store:
        new_key = store.rotate_key(LAB)
    fresh = Collection(url, user=LAB, password=new_key)
    assert _ids(fresh.get_objects()) == [before["id"]]
    # The old key still reads until the replica replays the rotation (the
    # documented lag); writes authenticate on the primary and refuse it.
    client = Client(server.base_url, LAB, key)
    assert client.get(f"/exchange/collections/{COLLECTION}/objects/").status_code == 200
    refused = client.post_objects(
        f"/exchange/collections/{COLLECTION}/objects/", [indicator(LAB_IDENTITY)]
    )
    assert refused.status_code == 401, refused.text

    # Failed logins are counted on the primary (the read-only replica would refuse the write).
    wrong = Client(server.base_url, LAB, "not-the-key")
    assert wrong.get(f"/exchange/collections/{COLLECTION}/objects/").status_code == 401
    with Store(primary) as store:
        actions = [entry.action for entry in store.audit_entries(partner=LAB)]
    assert "login.failed" in actions
    with Store(replica) as store:
        assert "login.failed" not in [entry.action for entry in store.audit_entries()]

    # DELETE acts on the primary; the replica still serves what it holds.
    fresh.delete_object(after["id"])
    with Store(primary) as store:
        assert store.count_objects(COLLECTION) == 1
    assert _ids(fresh.get_object(before["id"])) == [before["id"]]
    assert "Traceback" not in server.log()

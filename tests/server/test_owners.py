"""Exchange-wide ownership: the migration's backfill, and concurrent first publishers.

Ownership decides who may publish versions of an id in every collection
(``server.store.owners``). Existing databases get it from migration 0003,
which must name the identity of the first publisher of each id; and two partners racing to
publish the same new id into two collections must end with exactly one owner,
whose copy is the only one stored. SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
import uuid

import pytest
from alembic import command
from sqlalchemy import text

from server.store import Store
from server.store.engine import write_transaction
from server.store.migrate import alembic_config
from server.store.types import ApiRootInfo, CollectionInfo
from tests.support.server import BACKENDS, PartnerSpec, database, indicator, served

ONE, TWO = (str(uuid.uuid4()) for _ in range(2))
LAB_A = "identity--aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa"
LAB_B = "identity--bbbbbbbb-2222-4222-8222-bbbbbbbbbbbb"
UNVERSIONED = "1970-01-01T00:00:00.000Z"
OWNERS = "SELECT stix_id, owner_identity FROM object_owners"


def _insert(connection, seq_hint: int, collection: str, stix_id: str, version: str, who):
    connection.execute(
        text(
            "INSERT INTO objects (collection_id, stix_id, obj_type, version, version_key, "
            "spec_version, date_added_us, is_latest, publisher, body) VALUES "
            "(:c, :i, 'indicator', :v, :k, '2.1', :d, :l, :p, '{}')"
        ),
        {
            "c": collection,
            "i": stix_id,
            "v": version,
            "k": version.replace("Z", "") + "000000Z" if version != UNVERSIONED else version,
            "d": 1_000_000 + seq_hint,
            "l": True,
            "p": who,
        },
    )


@pytest.mark.parametrize("backend", BACKENDS)
def test_migration_backfills_the_first_publisher_of_each_id(tmp_path, backend):
    with database(backend, tmp_path) as url:
        store = Store(url)
        try:
            config = alembic_config()
            with write_transaction(store._engine) as connection:
                config.attributes["connection"] = connection
                command.upgrade(config, "0002")
            store.add_api_root(ApiRootInfo("exchange", "Exchange"))
            store.add_collection(CollectionInfo(ONE, "exchange", "One"))
            store.add_collection(CollectionInfo(TWO, "exchange", "Two"))
            store.add_partner("lab-a", "Lab A", LAB_A)
            store.add_partner("lab-b", "Lab B", LAB_B)
            first_a, first_b, by_admin, observable = (
                f"indicator--{uuid.uuid4()}" for _ in range(4)
            )
            with write_transaction(store._engine) as connection:
                # first_a: lab A in ONE, then lab B's copy in TWO; first_b the other way.
                _insert(connection, 1, ONE, first_a, "2026-01-01T00:00:00.000Z", "lab-a")
                _insert(connection, 2, TWO, first_a, "2026-01-02T00:00:00.000Z", "lab-b")
                _insert(connection, 3, TWO, first_b, "2026-01-01T00:00:00.000Z", "lab-b")
                _insert(connection, 4, ONE, first_b, "2026-01-01T00:00:00.000Z", "lab-a")
                _insert(connection, 5, ONE, by_admin, "2026-01-01T00:00:00.000Z", None)
                _insert(connection, 6, ONE, observable, UNVERSIONED, "lab-a")
            store.migrate()
            with write_transaction(store._engine) as connection:
                owners = dict(connection.execute(text(OWNERS)).all())
            assert owners == {first_a: LAB_A, first_b: LAB_B, by_admin: None}
        finally:
            store.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_racing_first_publishers_end_with_one_owner_per_id(tmp_path, backend):
    partners = [
        PartnerSpec("lab-a", LAB_A, {ONE: (True, True), TWO: (True, True)}),
        PartnerSpec("lab-b", LAB_B, {ONE: (True, True), TWO: (True, True)}),
    ]
    collections = [CollectionInfo(ONE, "exchange", "One"), CollectionInfo(TWO, "exchange", "Two")]
    with served(tmp_path, backend, collections, partners, workers=2, threads=4) as server:
        rounds = 12
        ids = [[f"indicator--{uuid.uuid4()}" for _ in range(40)] for _ in range(rounds)]
        results: dict[tuple[str, int], dict] = {}

        def publish(partner: str, identity: str, collection: str) -> None:
            client = server.client(partner)
            for number, batch in enumerate(ids):
                objects = [indicator(identity, stix_id=stix_id) for stix_id in batch]
                response = client.post_objects(
                    f"/exchange/collections/{collection}/objects/", objects
                )
                assert response.status_code == 202, response.text
                results[partner, number] = response.json()

        threads = [
            threading.Thread(target=publish, args=("lab-a", LAB_A, ONE)),
            threading.Thread(target=publish, args=("lab-b", LAB_B, TWO)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(300)
        assert len(results) == 2 * rounds
        store = Store(server.database_url)
        try:
            with write_transaction(store._engine) as connection:
                owners = dict(connection.execute(text(OWNERS)).all())
                stored = connection.execute(
                    text("SELECT stix_id, publisher FROM objects WHERE obj_type = 'indicator'")
                ).all()
        finally:
            store.close()
        every_id = {stix_id for batch in ids for stix_id in batch}
        assert set(owners) == every_id
        # Each id is stored once, by its owner; the other publisher got a failure for it.
        assert sorted(row.stix_id for row in stored) == sorted(every_id)
        identity = {"lab-a": LAB_A, "lab-b": LAB_B}
        assert all(owners[row.stix_id] == identity[row.publisher] for row in stored)
        for (partner, _), status in results.items():
            won = {s["id"] for s in status.get("successes", [])}
            assert all(owners[stix_id] == identity[partner] for stix_id in won)
            assert status["success_count"] + status["failure_count"] == 40

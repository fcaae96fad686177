"""Migrations build the schema from nothing, re-run as no-ops, and match server.store.schema."""

from __future__ import annotations

import multiprocessing

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, create_engine, delete, insert, inspect, select

from server.store import Store
from server.store.engine import make_engine, write_transaction
from server.store.migrate import alembic_config, head_revision
from server.store.schema import api_roots, collections, metadata, objects, partners
from server.store.types import ApiRootInfo

EXPECTED_TABLES = {
    "alembic_version",
    "api_roots",
    "audit_log",
    "collections",
    "grants",
    "login_failures",
    "object_owners",
    "objects",
    "partners",
    "settings",
    "statuses",
}
# The analyst console's tables (server/store/console_schema.py).
EXPECTED_TABLES |= {
    "analysts",
    "console_activity",
    "console_counts",
    "console_edges",
    "console_index",
    "console_sessions",
    "partner_activity",
}


def _tables(store: Store) -> set[str]:
    return set(inspect(store._engine).get_table_names())


def test_migrate_builds_every_table_from_an_empty_database(store_url: str) -> None:
    with Store(store_url) as store:
        assert store.schema_revision() is None
        assert not store.is_up_to_date()
        store.migrate()
        assert store.schema_revision() == head_revision()
        assert store.is_up_to_date()
        assert _tables(store) == EXPECTED_TABLES
        index_names = {index["name"] for index in inspect(store._engine).get_indexes("objects")}
        assert {
            "ux_objects_version",
            "ix_objects_added",
            "ix_objects_latest_added",
            "ix_objects_type_added",
        } <= index_names


def test_migrate_again_is_a_no_op_that_keeps_data(store_url: str) -> None:
    with Store(store_url) as store:
        store.migrate()
        store.add_api_root(ApiRootInfo(name="kept", title="Kept"))
        store.migrate()
        assert store.schema_revision() == head_revision()
        assert [root.name for root in store.list_api_roots()] == ["kept"]
    with Store(store_url) as reopened:
        reopened.migrate()
        assert reopened.get_api_root("kept") == ApiRootInfo(name="kept", title="Kept")


def test_migrated_schema_matches_the_query_schema(store_url: str) -> None:
    with Store(store_url) as store:
        store.migrate()
        with store._engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            differences = compare_metadata(context, metadata)
    if store.dialect == "sqlite":
        # SQLite has no identity columns; its INTEGER PRIMARY KEY is the same thing.
        differences = [
            diff
            for diff in differences
            if not (isinstance(diff, tuple) and diff[0] == "modify_default" and diff[3] == "seq")
        ]
    assert differences == []


def _migrate_in_child(url: str) -> None:
    with Store(url) as store:
        store.migrate()


def test_workers_migrating_at_the_same_time_all_succeed(store_url: str) -> None:
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_migrate_in_child, args=(store_url,)) for _ in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    assert [worker.exitcode for worker in workers] == [0, 0, 0]
    engine = create_engine(store_url)
    try:
        with engine.connect() as connection:
            assert MigrationContext.configure(connection).get_current_revision() == head_revision()
    finally:
        engine.dispose()


def _migrate_to(engine: Engine, revision: str, *, down: bool = False) -> None:
    config = alembic_config()
    with write_transaction(engine) as connection:
        config.attributes["connection"] = connection
        (command.downgrade if down else command.upgrade)(config, revision)


def _object_rows(engine: Engine) -> list[tuple]:
    with engine.connect() as connection:
        return [tuple(row) for row in connection.execute(select(objects).order_by(objects.c.seq))]


def test_0005_drops_the_objects_foreign_keys_and_keeps_every_row(store_url: str) -> None:
    """Upgrading a filled 0004 database keeps the objects and never reuses a seq;
    downgrading puts the keys back."""
    engine = make_engine(store_url)
    try:
        _migrate_to(engine, "0004")
        with write_transaction(engine) as connection:
            connection.execute(
                insert(api_roots),
                [
                    {
                        "name": "r",
                        "title": "R",
                        "description": "",
                        "versions": [],
                        "max_content_length": 1,
                    }
                ],
            )
            connection.execute(
                insert(collections),
                [
                    {
                        "id": "c",
                        "api_root": "r",
                        "title": "C",
                        "description": "",
                        "media_types": [],
                        "enforce_provenance": False,
                    }
                ],
            )
            connection.execute(
                insert(partners),
                [
                    {
                        "id": "p",
                        "name": "P",
                        "identity_ref": "identity--x",
                        "active": True,
                        "key_hash": "0" * 64,
                        "key_created_us": 1,
                    }
                ],
            )
            rows = [
                {
                    "collection_id": "c",
                    "stix_id": f"indicator--{n}",
                    "obj_type": "indicator",
                    "version": "v",
                    "version_key": "k",
                    "spec_version": "2.1",
                    "date_added_us": n,
                    "is_latest": True,
                    "publisher": "p" if n % 2 else None,
                    "body": "{}",
                }
                for n in range(1, 5)
            ]
            connection.execute(insert(objects), rows)
            connection.execute(delete(objects).where(objects.c.stix_id == "indicator--4"))
        before = _object_rows(engine)
        assert len(before) == 3 and len(inspect(engine).get_foreign_keys("objects")) == 2

        _migrate_to(engine, "head")
        assert _object_rows(engine) == before
        assert inspect(engine).get_foreign_keys("objects") == []
        with write_transaction(engine) as connection:
            new_seq = connection.execute(
                insert(objects).returning(objects.c.seq), [{**rows[0], "stix_id": "indicator--5"}]
            ).scalar_one()
        assert new_seq > 4  # the deleted row's seq is not handed out again

        _migrate_to(engine, "0004", down=True)
        assert len(_object_rows(engine)) == 4
        assert len(inspect(engine).get_foreign_keys("objects")) == 2
        _migrate_to(engine, "head")
    finally:
        engine.dispose()

"""Migrations build the schema from nothing, re-run as no-ops, and match server.store.schema."""

from __future__ import annotations

import multiprocessing

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import create_engine, inspect

from server.store import Store
from server.store.migrate import head_revision
from server.store.schema import metadata
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

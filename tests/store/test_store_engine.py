"""Connection settings that make one database safe for several server processes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from server.store import InvalidInputError, Store
from server.store.engine import read_transaction, write_transaction
from server.store.types import ApiRootInfo


def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'nested' / 'dir' / 'store.db'}"
    with Store(url) as store, store._engine.connect() as connection:

        def pragma(name: str):
            return connection.exec_driver_sql(f"PRAGMA {name}").scalar()

        assert pragma("journal_mode") == "wal"
        assert pragma("foreign_keys") == 1
        assert pragma("busy_timeout") == 10_000
        assert pragma("synchronous") == 1  # NORMAL
    assert (tmp_path / "nested" / "dir" / "store.db").exists()


def test_sqlite_write_transactions_take_the_write_lock_before_reading(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    with Store(f"sqlite:///{path}") as store:
        store.migrate()
        other = sqlite3.connect(path, timeout=0, isolation_level=None)
        try:
            # Nothing has been read or written yet, but the lock is already ours.
            with (
                write_transaction(store._engine),
                pytest.raises(sqlite3.OperationalError, match="locked"),
            ):
                other.execute("BEGIN IMMEDIATE")
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
            with read_transaction(store._engine) as connection:
                connection.exec_driver_sql("SELECT count(*) FROM objects").scalar()
                # Readers do not block writers in WAL mode.
                other.execute("BEGIN IMMEDIATE")
                other.execute("ROLLBACK")
        finally:
            other.close()


def test_in_memory_sqlite_is_one_shared_database() -> None:
    with Store("sqlite://") as store:
        store.migrate()
        store.add_api_root(ApiRootInfo(name="mem", title="Memory"))
        assert store.get_api_root("mem") is not None


@pytest.mark.parametrize(
    "url", ["mysql://user@host/db", "not a url", "oracle+cx_oracle://scott@host/db"]
)
def test_unsupported_urls_are_refused_clearly(url: str) -> None:
    with pytest.raises(InvalidInputError, match="URL"):
        Store(url)


def test_postgresql_url_without_driver_uses_psycopg(pg_url: str) -> None:
    plain = pg_url.replace("postgresql+psycopg://", "postgresql://")
    with Store(plain) as store:
        assert store._engine.dialect.driver == "psycopg"
        store.migrate()
        assert store.is_up_to_date()


def _pooled_backend_pids(store: Store, count: int) -> list[int]:
    """Fill the primary pool with ``count`` connections; their PostgreSQL backend pids."""
    connections = [store._engine.connect() for _ in range(count)]
    try:
        return [c.exec_driver_sql("SELECT pg_backend_pid()").scalar_one() for c in connections]
    finally:
        for connection in connections:
            connection.close()


def _terminate(pg_url: str, pids: list[int]) -> None:
    with Store(pg_url) as admin, admin._engine.connect() as connection:
        for pid in pids:
            assert connection.exec_driver_sql(f"SELECT pg_terminate_backend({pid})").scalar()


def test_dead_pooled_connections_cost_no_failed_read_or_write(pg_url: str) -> None:
    """No ping per checkout: a write pings and replaces a dead connection (and drops the
    idle ones), a read in a request scope runs once more on a new connection."""
    with Store(pg_url) as store:
        store.migrate()
        _terminate(pg_url, _pooled_backend_pids(store, 2))
        store.add_api_root(ApiRootInfo(name="after-restart", title="Written"))
        _terminate(pg_url, _pooled_backend_pids(store, 2))
        with store.request_scope():
            assert store.get_api_root("after-restart") is not None
            assert store.get_api_root("after-restart") is not None  # the same, live connection
        assert store.get_api_root("after-restart") is not None


def test_replica_engine_refuses_writes(pg_url: str) -> None:
    """What reaches the replica engine cannot write, even on a database that could."""
    with Store(pg_url) as store:
        store.migrate()
        store.add_api_root(ApiRootInfo(name="root", title="Primary"))
    with Store(pg_url, replica_url=pg_url) as store:
        assert store._replica is not None
        with store.request_scope(replica=True):
            assert store.get_api_root("root") is not None  # reads work, with the URL's options
        with (
            pytest.raises(Exception, match="read-only transaction"),
            store._replica.connect() as connection,
        ):
            connection.exec_driver_sql("CREATE TABLE must_not_exist (x int)")

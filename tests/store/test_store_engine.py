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

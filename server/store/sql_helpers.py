"""Small SQL building blocks that differ between SQLite and PostgreSQL or recur everywhere."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite

T = TypeVar("T")

# Well under SQLite's bound-parameter limit (32766 since 3.32, 999 before) and
# PostgreSQL's 65535, with room for the other parameters of the statement.
IN_LIST_CHUNK = 500


def chunked(items: Sequence[T], size: int = IN_LIST_CHUNK) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items, for IN lists and batched statements."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


def upsert(
    connection: Connection,
    table: Table,
    values: dict[str, Any],
    key_columns: Sequence[str],
    update_columns: Sequence[str],
) -> None:
    """INSERT ... ON CONFLICT (key) DO UPDATE, in the dialect of the connection."""
    dialect_insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = dialect_insert(table).values(**values)
    statement = statement.on_conflict_do_update(
        index_elements=list(key_columns),
        set_={column: statement.excluded[column] for column in update_columns},
    )
    connection.execute(statement)


def insert_ignoring_conflicts(
    connection: Connection, table: Table, values: dict[str, Any], key_columns: Sequence[str]
) -> bool:
    """INSERT ... ON CONFLICT (key) DO NOTHING; True when a row was inserted."""
    dialect_insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    statement = dialect_insert(table).values(**values)
    statement = statement.on_conflict_do_nothing(index_elements=list(key_columns))
    return connection.execute(statement).rowcount == 1

"""Small SQL building blocks that differ between SQLite and PostgreSQL or recur everywhere."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import ARRAY, ColumnElement, Connection, String, Table, any_, bindparam, func
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.visitors import InternalTraversal
from sqlalchemy.types import Boolean

T = TypeVar("T")

# Well under SQLite's bound-parameter limit (32766 since 3.32, 999 before) and
# PostgreSQL's 65535, with room for the other parameters of the statement.
IN_LIST_CHUNK = 500


def chunked(items: Sequence[T], size: int = IN_LIST_CHUNK) -> Iterator[Sequence[T]]:
    """Consecutive slices of at most ``size`` items, for IN lists and batched statements."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


# On PostgreSQL an AnyOf binds its values as one array parameter whatever their
# number, so slicing a POST's 10,000 ids into IN-list-sized chunks only multiplied
# the round trips and the planning (20 statements where one does).
ARRAY_CHUNK = 10_000


def any_of_chunks(connection: Connection, items: Sequence[T]) -> Iterator[Sequence[T]]:
    """Slices of ``items`` for ``AnyOf`` conditions: as large as the dialect takes well."""
    size = ARRAY_CHUNK if connection.dialect.name == "postgresql" else IN_LIST_CHUNK
    return chunked(items, size)


# psycopg converts a list parameter element by element in Python, about 2 us
# an element: 20 ms for the 10,000 ids of one POST, and a POST binds such a
# list four times. The same ids joined into one string, split again by
# PostgreSQL's string_to_array, cost a tenth of that.
TEXT_ARRAY_SEPARATOR = ","


def joined_text_array(values: Sequence[Any]) -> str | None:
    """``values`` as one string for ``string_to_array(:s, ',')``, or None when that would not
    split back into the same values (a non-string, an empty string or one with a comma).

    STIX ids, the usual values, never contain a comma.
    """
    if not all(
        isinstance(value, str) and value and TEXT_ARRAY_SEPARATOR not in value for value in values
    ):
        return None
    return TEXT_ARRAY_SEPARATOR.join(values)


class AnyOf(ColumnElement[bool]):
    """``column IN (values)``, written as ``column = ANY(:array)`` on PostgreSQL.

    Why: PostgreSQL plans an IN list of hundreds of bound parameters from
    per-value estimates, and on a freshly filled, not yet analysed table it
    then picks a sequential scan (about 40x slower for 500 ids in 20,000
    rows). One array parameter is estimated as a whole and keeps the index
    scan; it also makes the statement text the same for any number of values.
    SQLite has no arrays and plans its IN lists well, so it keeps them.

    Both forms are built up front and the compiler renders the one of its
    dialect; their bound values are ordinary parameters, so statements using
    this element stay in SQLAlchemy's compiled-statement cache.
    """

    type = Boolean()
    _is_implicitly_boolean = True  # a predicate: never rendered as "... = 1" on SQLite
    inherit_cache = True
    _traverse_internals = [
        ("in_list", InternalTraversal.dp_clauseelement),
        ("array_match", InternalTraversal.dp_clauseelement),
    ]

    def __init__(self, column: ColumnElement[Any], values: Sequence[Any]) -> None:
        values = list(values)
        self.in_list = column.in_(values)
        joined = joined_text_array(values) if isinstance(column.type, String) else None
        if joined is not None:
            array: ColumnElement[Any] = func.string_to_array(
                bindparam(None, joined, type_=String()), TEXT_ARRAY_SEPARATOR
            )
        else:
            # A plain VARCHAR[] for strings: the column's own collation governs the comparison.
            item_type = String() if isinstance(column.type, String) else column.type
            array = bindparam(None, values, type_=ARRAY(item_type))
        self.array_match = column == any_(array)


@compiles(AnyOf)
def _compile_in_list(element: AnyOf, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.in_list, **kw)


@compiles(AnyOf, "postgresql")
def _compile_any_array(element: AnyOf, compiler: SQLCompiler, **kw: Any) -> str:
    return compiler.process(element.array_match, **kw)


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

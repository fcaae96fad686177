"""One pooled connection per request for everything the request only reads.

A TAXII GET reads four or five things (the partner and its key, login blocks,
the API root or collection, the grant, the page). Opened as separate
transactions, each took a connection from the pool, pinged it, began, read,
and committed: on PostgreSQL a dozen round trips around four queries. Inside a
``ReadScope`` the request's reads share one connection, taken from the pool at
the first read and given back when the request ends.

The scope's statements run in autocommit. On PostgreSQL (READ COMMITTED) each
statement of a transaction takes its own snapshot anyway, so a BEGIN/COMMIT
pair around them would add two round trips and no consistency; on SQLite each
statement is likewise its own consistent read. Every read the server makes is
a single statement whose answer is complete by itself (a page and its "more"
come from one SELECT), so nothing needs a longer snapshot. Writes never go
through a scope: they keep their own transactions (``engine.write_transaction``)
on the primary.

No liveness ping precedes the first read. A pooled connection the server or a
network failure closed meanwhile fails on that read; SQLAlchemy recognises the
disconnect and invalidates the pool, and the read runs once more on a fresh
connection. Repeating a read is safe because it changed nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from server.store.engine import AUTOCOMMIT_READS_OPTION, is_sqlite

T = TypeVar("T")


class ReadScope:
    """Reads of one request on one lazily checked-out connection of ``engine``.

    ``collection`` (api root, collection id): the collection the request is
    about, so that authentication can fetch it with the partner's grant in
    the same statement; ``known_collections`` keeps what it found for the
    request's own lookup (``Store.collection_with_grant``).
    """

    def __init__(self, engine: Engine, collection: tuple[str, str] | None = None) -> None:
        self.engine = engine
        self.collection = collection
        self.known_collections: dict[tuple[str, str, str], Any] = {}
        self._connection: Connection | None = None

    def _connect(self) -> Connection:
        if self._connection is None:
            connection = self.engine.connect()
            if is_sqlite(connection):
                connection.execution_options(**{AUTOCOMMIT_READS_OPTION: True})
            else:
                connection.execution_options(isolation_level="AUTOCOMMIT")
            self._connection = connection
        return self._connection

    def run(self, work: Callable[[Connection], T]) -> T:
        """``work(connection)``; once more on a new connection if the first one was dead."""
        try:
            return work(self._connect())
        except DBAPIError as error:
            if not error.connection_invalidated:
                raise
            self.close()
            return work(self._connect())

    def close(self) -> None:
        """Give the connection back to the pool (nothing to commit: reads only)."""
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()

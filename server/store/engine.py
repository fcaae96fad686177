"""Database engines configured for several server processes sharing one database.

SQLite: WAL mode so readers never wait for the writer, a 10 s busy timeout so
writers queue instead of failing, foreign keys on. The pysqlite driver's own
transaction handling is switched off (it opens transactions lazily and never
with BEGIN IMMEDIATE) and the store issues BEGIN itself: a write transaction
starts with BEGIN IMMEDIATE, taking SQLite's single write lock before it reads
anything, which is what serialises date_added assignment across processes.

PostgreSQL: the default READ COMMITTED isolation; writers serialise per
collection with SELECT ... FOR UPDATE on the collection row (see ``objects_write``);
server-side prepared statements only for the statements marked with
``prepared()`` (see ``_POSTGRES_CONNECT_ARGS``).

No ping on every checkout (``pool_pre_ping``): it cost a round trip per
transaction, several per request. Reads retry once on a fresh connection when
the pooled one turns out dead (``scope``, ``read``); a write transaction pings
its connection first (``write_transaction``), because a write that failed
half-way cannot simply be run again by the code that opened it, and one round
trip is nothing beside a write.

A replica engine (``make_engine(url, read_only=True)``) makes every
transaction read-only on the PostgreSQL side too, so a write that reached it by
mistake would fail loudly even where the replica is not a hot standby.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import orjson
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import StaticPool
from sqlalchemy.sql.base import Executable

from server.store.errors import InvalidInputError

T = TypeVar("T")
E = TypeVar("E", bound=Executable)

_WRITE_OPTION = "dx_write_transaction"
# Set by ``scope.ReadScope`` on SQLite: run each statement on its own, no BEGIN.
AUTOCOMMIT_READS_OPTION = "dx_autocommit_reads"
SQLITE_BUSY_TIMEOUT_MS = 10_000
SQLITE_ANALYSIS_LIMIT = 1_000


# psycopg prepares a statement after its 5th execution, and PostgreSQL then
# switches to a generic plan that ignores the bound values. For "stix_id =
# ANY(:ids)" on a growing, not yet analysed table that generic plan scans the
# whole collection: POST batches went from 20 ms to over 1 s of lookups at
# 20,000 objects. So nothing is prepared on its own (the threshold is never
# reached); only statements marked with ``prepared()`` are, and only those
# whose every plan is the same primary-key lookups whatever the values.
_NEVER_PREPARE_UNASKED = 2**62
_POSTGRES_CONNECT_ARGS = {"prepare_threshold": _NEVER_PREPARE_UNASKED}
_PREPARE_OPTION = "dx_prepare"


def prepared(statement: E) -> E:
    """``statement`` marked to run as a server-side prepared statement on PostgreSQL.

    Why: the login statement (partner, login blocks, collection and grant, a
    join of five tables) spent about 0.4 ms of PostgreSQL's CPU being parsed
    and planned on every request and 0.04 ms being run; prepared, PostgreSQL
    keeps its generic plan after five runs. Only for statements whose plan
    cannot depend on the values (equality on primary keys): a generic plan is
    what made preparing everything a bad idea (``_POSTGRES_CONNECT_ARGS``).
    SQLite ignores the mark. The statement's text must not vary between runs
    (no expanding IN lists), or each variant is prepared separately.
    """
    return statement.execution_options(**{_PREPARE_OPTION: True})


def _execute_prepared_when_marked(cursor, statement, parameters, context) -> bool | None:
    """``do_execute`` hook: psycopg's ``prepare=True`` for the statements ``prepared()`` marks."""
    if context.execution_options.get(_PREPARE_OPTION):
        cursor.execute(statement, parameters, prepare=True)
        return True
    return None  # SQLAlchemy's own execute


def is_sqlite(engine: Engine | Connection) -> bool:
    return engine.dialect.name == "sqlite"


def _json_text(value: object) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode("utf-8")


# JSON columns (a status's details, the audit trail) through orjson: the status
# of a 10,000-object POST took the standard library about 14 ms to encode, on
# the thread that holds the POST's transaction open.
_JSON_CODEC: dict[str, Any] = {"json_serializer": _json_text, "json_deserializer": orjson.loads}


def make_engine(url: str, *, read_only: bool = False) -> Engine:
    """An engine for a SQLite (``sqlite:///path``) or PostgreSQL (``postgresql+psycopg://``) URL.

    ``read_only`` (a replica): PostgreSQL refuses every write made through it.
    """
    try:
        parsed = make_url(url)
    except Exception as error:
        raise InvalidInputError(f"not a database URL: {url!r} ({error})") from None
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        return _sqlite_engine(parsed)
    if backend == "postgresql":
        if parsed.get_driver_name() != "psycopg":
            parsed = parsed.set(drivername="postgresql+psycopg")
        connect_args: dict[str, object] = dict(_POSTGRES_CONNECT_ARGS)
        if read_only:
            # Added to any options the URL itself carries (e.g. a search_path).
            given = parsed.query.get("options")
            given = given if isinstance(given, str) else " ".join(given or ())
            connect_args["options"] = f"{given} -c default_transaction_read_only=on".strip()
        engine = create_engine(parsed, connect_args=connect_args, **_JSON_CODEC)
        event.listen(engine, "do_execute", _execute_prepared_when_marked)
        return engine
    raise InvalidInputError(
        f"unsupported database URL {url!r}: use sqlite:///path/to/file.db "
        "or postgresql+psycopg://user@host/dbname"
    )


def _sqlite_engine(parsed) -> Engine:
    database = parsed.database
    in_memory = not database or database == ":memory:" or parsed.query.get("mode") == "memory"
    if in_memory:
        # One shared connection, or every pooled connection would see its own empty database.
        engine = create_engine(
            parsed, poolclass=StaticPool, connect_args={"check_same_thread": False}, **_JSON_CODEC
        )
    else:
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            parsed, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000}, **_JSON_CODEC
        )
    event.listen(engine, "connect", _configure_sqlite_connection)
    event.listen(engine, "begin", _begin_sqlite_transaction)
    return engine


def _configure_sqlite_connection(dbapi_connection, _record) -> None:
    # Driver-level autocommit: transactions are opened only by _begin_sqlite_transaction.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        # ANALYZE looks at most this many rows per index: the statistics stay
        # approximate but an ANALYZE of a million-row table takes milliseconds.
        cursor.execute(f"PRAGMA analysis_limit = {SQLITE_ANALYSIS_LIMIT}")
    finally:
        cursor.close()


def _begin_sqlite_transaction(connection: Connection) -> None:
    options = connection.get_execution_options()
    if options.get(AUTOCOMMIT_READS_OPTION):
        return
    if options.get(_WRITE_OPTION):
        connection.exec_driver_sql("BEGIN IMMEDIATE")
    else:
        connection.exec_driver_sql("BEGIN")


@contextmanager
def write_transaction(engine: Engine) -> Iterator[Connection]:
    """A transaction that will write: committed on success, rolled back on any exception.

    On SQLite it starts with BEGIN IMMEDIATE, so two writers never both read
    the state they are about to change.
    """
    with _live_connection(engine) as connection:
        connection.execution_options(**{_WRITE_OPTION: True})
        with connection.begin():
            yield connection


@contextmanager
def _live_connection(engine: Engine) -> Iterator[Connection]:
    """A pooled connection that just answered a ping; a dead one is replaced once.

    The ping runs on the driver connection outside any transaction (the
    dialect's own ``do_ping``, as ``pool_pre_ping`` would), so it adds one
    round trip and no BEGIN.
    """
    if is_sqlite(engine):
        with engine.connect() as connection:
            yield connection
        return
    connection = engine.connect()
    try:
        driver_connection = connection.connection.dbapi_connection
        assert driver_connection is not None  # just checked out
        try:
            alive = engine.dialect.do_ping(driver_connection)
        except engine.dialect.loaded_dbapi.Error:
            alive = False
        if not alive:
            # The idle ones are most likely dead too (a restart, a failover): drop them all.
            connection.invalidate()
            connection.close()
            engine.pool.dispose()
            connection = engine.connect()
        yield connection
    finally:
        connection.close()


def read(engine: Engine, work: Callable[[Connection], T]) -> T:
    """``work`` in a read transaction of its own; run once more if the connection was dead.

    For reads outside a request (administration, the console): they keep one
    snapshot across their statements. Retrying is safe because they wrote nothing.
    """
    try:
        with read_transaction(engine) as connection:
            return work(connection)
    except DBAPIError as error:
        if not error.connection_invalidated:
            raise
    with read_transaction(engine) as connection:
        return work(connection)


@contextmanager
def read_transaction(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction: one consistent snapshot for every statement in it."""
    with engine.connect() as connection, connection.begin():
        yield connection

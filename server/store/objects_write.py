"""Adding and deleting object versions under the collection's write lock.

Why a lock: an incremental poller asks for ``date_added > last seen``. If two
writers could assign date_added values and commit in a different order, the
poller could see the later value first, move its cursor past it, and never see
the earlier one. So every change to a collection's objects first locks the
collection (SELECT ... FOR UPDATE on PostgreSQL; on SQLite the transaction
began with BEGIN IMMEDIATE and already holds the database write lock), then
assigns date_added strictly above ``collections.last_date_added_us``. Commits
of one collection are therefore in date_added order, and every snapshot a
reader takes holds a prefix of that order.

The batch is processed with a constant number of statements: one SELECT per
500 ids (existing versions and current latest rows), one UPDATE per 500
demoted latest rows, one executemany INSERT, one UPDATE of the collection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, delete, select, update
from sqlalchemy.exc import DBAPIError

from server.store.errors import NotFoundError
from server.store.objects_read import version_conditions
from server.store.schema import collections, objects
from server.store.sql_helpers import AnyOf, any_of_chunks, chunked


# Slotted and not frozen: a POST makes one per object on the writer thread, and
# a frozen dataclass's __init__ costs three times as much (0.66 against 0.19 us).
@dataclass(slots=True)
class NewVersion:
    """One object version to store; ``date_added_us`` None means "assign now"."""

    stix_id: str
    obj_type: str
    version: str
    version_key: str
    spec_version: str
    body: str
    date_added_us: int | None = None


@dataclass
class InsertOutcome:
    # The collection's last assigned date_added once the batch is in (the next batch's floor).
    last_date_added_us: int
    added: list[NewVersion] = field(default_factory=list)
    # Versions already in the collection, or repeated within the batch: stored once.
    already_present: list[NewVersion] = field(default_factory=list)


@dataclass(slots=True)
class _Latest:
    """The current holder of an object's is_latest flag while a batch is merged."""

    spec_version: str
    version_key: str
    stored_seq: int | None  # the row already in the table, if it is the holder
    batch_index: int | None  # the position in ``added``, if a new version is the holder


def lock_collection(connection: Connection, collection_id: str, api_root: str | None = None) -> int:
    """Take the collection's write lock; return its last assigned date_added.

    Raises NotFoundError when the collection does not exist (in ``api_root``, if given).
    """
    statement = select(collections.c.last_date_added_us).where(collections.c.id == collection_id)
    if api_root is not None:
        statement = statement.where(collections.c.api_root == api_root)
    last = connection.execute(statement.with_for_update()).scalar_one_or_none()
    if last is None:
        where = f" in API root {api_root!r}" if api_root is not None else ""
        raise NotFoundError(f"no collection {collection_id!r}{where}")
    return last


def _stored_state(
    connection: Connection, collection_id: str, stix_ids: Sequence[str]
) -> tuple[set[tuple[str, str]], dict[str, _Latest]]:
    """(stix_id, version_key) pairs already stored, and the latest row of each id."""
    stored: set[tuple[str, str]] = set()
    latest: dict[str, _Latest] = {}
    for chunk in any_of_chunks(connection, stix_ids):
        rows = connection.execute(
            select(
                objects.c.seq,
                objects.c.stix_id,
                objects.c.version_key,
                objects.c.spec_version,
                objects.c.is_latest,
            ).where(objects.c.collection_id == collection_id, AnyOf(objects.c.stix_id, chunk))
        )
        for row in rows:
            stored.add((row.stix_id, row.version_key))
            if row.is_latest:
                latest[row.stix_id] = _Latest(row.spec_version, row.version_key, row.seq, None)
    return stored, latest


def insert_versions(
    connection: Connection,
    collection_id: str,
    last_date_added_us: int,
    versions: Sequence[NewVersion],
    *,
    publisher: str | None,
    now_us: int,
    record_last: bool = True,
) -> InsertOutcome:
    """Store the versions not stored yet; the caller holds the collection lock.

    New versions without a date_added get ``max(now, last + 1)`` and then one
    microsecond more each, in input order (which is also seq order).
    ``record_last`` False leaves the collection's last date_added for the
    caller to record (``record_last_date_added``) once, after several batches
    in the same transaction.
    """
    outcome = InsertOutcome(last_date_added_us)
    if not versions:
        return outcome
    unique_ids = list(dict.fromkeys(version.stix_id for version in versions))
    stored, latest = _stored_state(connection, collection_id, unique_ids)

    seen: set[tuple[str, str]] = set()
    for version in versions:
        key = (version.stix_id, version.version_key)
        if key in stored or key in seen:
            outcome.already_present.append(version)
        else:
            seen.add(key)
            outcome.added.append(version)
    if not outcome.added:
        return outcome

    latest_flags = [False] * len(outcome.added)
    demoted_seqs: list[int] = []
    for index, version in enumerate(outcome.added):
        current = latest.get(version.stix_id)
        if current is not None and (version.spec_version, version.version_key) <= (
            current.spec_version,
            current.version_key,
        ):
            continue
        if current is not None and current.stored_seq is not None:
            demoted_seqs.append(current.stored_seq)
        if current is not None and current.batch_index is not None:
            latest_flags[current.batch_index] = False
        latest_flags[index] = True
        latest[version.stix_id] = _Latest(version.spec_version, version.version_key, None, index)

    next_date = max(now_us, last_date_added_us + 1)
    newest = last_date_added_us
    rows: list[tuple] = []  # in INSERT_COLUMNS order
    for version, is_latest in zip(outcome.added, latest_flags, strict=True):
        if version.date_added_us is None:
            date_added = next_date
            next_date += 1
        else:
            date_added = version.date_added_us
        newest = max(newest, date_added)
        rows.append(
            (
                collection_id,
                version.stix_id,
                version.obj_type,
                version.version,
                version.version_key,
                version.spec_version,
                date_added,
                is_latest,
                publisher,
                version.body,
            )
        )

    for chunk in any_of_chunks(connection, demoted_seqs):
        demote = update(objects).where(AnyOf(objects.c.seq, chunk)).values(is_latest=False)
        connection.execute(demote)
    _insert_rows(connection, rows)
    if record_last and newest != last_date_added_us:
        record_last_date_added(connection, collection_id, newest)
    outcome.last_date_added_us = newest
    return outcome


def record_last_date_added(connection: Connection, collection_id: str, last_us: int) -> None:
    """Save the collection's last assigned date_added: the next writer's floor."""
    connection.execute(
        update(collections)
        .where(collections.c.id == collection_id)
        .values(last_date_added_us=last_us)
    )


# The columns an insert writes, in the order of the row tuples (seq is the database's).
INSERT_COLUMNS = (
    "collection_id",
    "stix_id",
    "obj_type",
    "version",
    "version_key",
    "spec_version",
    "date_added_us",
    "is_latest",
    "publisher",
    "body",
)
# On PostgreSQL the batch is streamed with COPY, inside the same transaction:
# psycopg's executemany sends one INSERT per row (pipelined), about 0.2 ms a
# row, and one INSERT ... SELECT FROM unnest(arrays) spends as long converting
# the arrays in Python; COPY's row encoding is done in C.
_COPY_STATEMENT = f"COPY objects ({', '.join(INSERT_COLUMNS)}) FROM STDIN"
# On SQLite, plain tuples go to the driver's executemany: SQLAlchemy's per-row
# parameter processing cost as much as SQLite's own work.
_SQLITE_INSERT = (
    f"INSERT INTO objects ({', '.join(INSERT_COLUMNS)}) "
    f"VALUES ({', '.join('?' for _ in INSERT_COLUMNS)})"
)


def _insert_rows(connection: Connection, rows: list[tuple]) -> None:
    """Insert the batch's rows (tuples in INSERT_COLUMNS order) in the open transaction."""
    if connection.dialect.name != "postgresql":
        connection.exec_driver_sql(_SQLITE_INSERT, rows)
        return
    driver_connection = connection.connection.driver_connection
    assert driver_connection is not None  # an open transaction holds a live connection
    dbapi = connection.dialect.loaded_dbapi
    try:
        with driver_connection.cursor() as cursor, cursor.copy(_COPY_STATEMENT) as copy:
            for row in rows:
                copy.write_row(row)
    except dbapi.Error as error:
        # The same exception classes as for statements run through SQLAlchemy
        # (IntegrityError, OperationalError, ...), which the callers handle.
        raise DBAPIError.instance(
            _COPY_STATEMENT, None, error, dbapi.Error, dialect=connection.dialect
        ) from error


def recompute_latest(connection: Connection, collection_id: str, stix_id: str) -> None:
    """Give the is_latest flag to the greatest (spec_version, version_key) left for ``stix_id``."""
    same_object = (objects.c.collection_id == collection_id, objects.c.stix_id == stix_id)
    connection.execute(
        update(objects).where(*same_object, objects.c.is_latest.is_(True)).values(is_latest=False)
    )
    best = connection.execute(
        select(objects.c.seq)
        .where(*same_object)
        .order_by(objects.c.spec_version.desc(), objects.c.version_key.desc())
        .limit(1)
    ).scalar_one_or_none()
    if best is not None:
        connection.execute(update(objects).where(objects.c.seq == best).values(is_latest=True))


def delete_matching_versions(
    connection: Connection,
    collection_id: str,
    stix_id: str,
    versions: Sequence[str],
    spec_versions: Sequence[str],
    partner_id: str | None,
) -> tuple[int, int]:
    """Delete the matching versions ``partner_id`` published (any, for None).

    Returns (deleted, matched but published by someone else). The caller holds
    the collection lock.
    """
    matches = connection.execute(
        select(objects.c.seq, objects.c.publisher).where(
            objects.c.collection_id == collection_id,
            objects.c.stix_id == stix_id,
            version_conditions(versions, spec_versions),
        )
    ).all()
    owned = [row.seq for row in matches if partner_id is None or row.publisher == partner_id]
    for chunk in chunked(owned):
        connection.execute(delete(objects).where(objects.c.seq.in_(chunk)))
    if owned:
        recompute_latest(connection, collection_id, stix_id)
    return len(owned), len(matches) - len(owned)

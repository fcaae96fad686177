"""The lab's local copy of the feed: every object version received, and where each sync stopped.

A poller may be killed at any moment (cron timeout, OOM killer, reboot), so
the one rule this module enforces is that a page of objects and the cursor
that covers it are committed in ONE transaction: after a crash the cursor
never points past objects that were not stored, and objects already stored
are simply skipped when they arrive again (each version is unique per
collection). SQLite in WAL mode with ``synchronous=FULL`` makes each commit
durable; readers (``dx act``, ``dx match``, ``dx export``) never block the
poller.

Versions are keyed by a normalised timestamp (see ``timestamps``) so that two
spellings of one instant are one version. The *current* state of an object is
its latest version across all synced collections; an object counts as revoked
once any stored version says so, because STIX forbids un-revoking.

Because collections are merged, one writer in any synced collection could
otherwise revoke or overwrite another lab's object. STIX says only an object's
creator may version it, so the store keeps the first creator of every object
(``object_creators``: the ``created_by_ref`` of its version with the earliest
server ``date_added``, in whichever collection) and refuses every version
whose ``created_by_ref`` differs, a missing one included (see ``creators``).
Refused versions are never stored, so no reader can see them; the page that
carried them still moves its cursor, and the caller reports them.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import (
    Boolean,
    Column,
    Connection,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    create_engine,
    delete,
    event,
    func,
    inspect,
    select,
)
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import DatabaseError, OperationalError

from exchange.errors import DxError
from exchange.feed.creators import CreatorBook, FirstCreator, RefusedVersion, has_creator
from mappings.timestamps import stix_timestamp_key as timestamp_key

BUSY_TIMEOUT_MS = 10_000
# SQLite caps bound parameters per statement; 9 columns per row stays well below it.
_INSERT_CHUNK = 500

metadata = MetaData()

object_versions = Table(
    "object_versions",
    metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("collection", String, nullable=False),
    Column("stix_id", String, nullable=False),
    Column("obj_type", String, nullable=False),
    Column("version", String, nullable=False),
    Column("version_key", String, nullable=False),
    Column("date_added", String, nullable=False),
    Column("created_by_ref", String, nullable=True),
    Column("revoked", Boolean, nullable=False),
    Column("body", Text, nullable=False),
    UniqueConstraint("collection", "stix_id", "version_key", name="uq_collection_id_version"),
    Index("ix_versions_id_version", "stix_id", "version_key"),
    Index("ix_versions_type", "obj_type"),
)

object_creators = Table(
    "object_creators",
    metadata,
    Column("stix_id", String, primary_key=True),
    Column("created_by_ref", String, nullable=True),
    Column("date_added_key", String, nullable=False),
    Column("collection", String, nullable=False),
)

cursors = Table(
    "cursors",
    metadata,
    Column("api_root", String, primary_key=True),
    Column("collection", String, primary_key=True),
    Column("date_added_last", String, nullable=False),
    Column("date_added_key", String, nullable=False),
    Column("updated_at", String, nullable=False),
)


class FeedStoreError(DxError, RuntimeError):
    """The local store cannot be opened or written; one line naming the file."""


@dataclass(frozen=True)
class ReceivedVersion:
    """One object version as a server delivered it, with the server's date_added."""

    stix_id: str
    version: str
    date_added: str
    obj: dict[str, Any]


@dataclass(frozen=True)
class PageOutcome:
    """What storing one page did: new versions stored, versions refused (see ``creators``)."""

    stored: int
    refused: list[RefusedVersion]


@dataclass(frozen=True)
class StoredVersion:
    """One object version as kept locally."""

    collection: str
    stix_id: str
    obj_type: str
    version: str
    date_added: str
    created_by_ref: str | None
    revoked: bool
    obj: dict[str, Any]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    finally:
        cursor.close()


def _dump(obj: dict[str, Any]) -> str:
    """Compact JSON; the stdlib handles what orjson refuses (integers beyond 64 bits)."""
    try:
        return orjson.dumps(obj).decode("utf-8")
    except orjson.JSONEncodeError:
        return json.dumps(obj, separators=(",", ":"), ensure_ascii=False)


def _load(text: str) -> dict[str, Any]:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text)


def _row_to_stored(row: Any) -> StoredVersion:
    return StoredVersion(
        collection=row.collection,
        stix_id=row.stix_id,
        obj_type=row.obj_type,
        version=row.version,
        date_added=row.date_added,
        created_by_ref=row.created_by_ref,
        revoked=bool(row.revoked),
        obj=_load(row.body),
    )


def _version_row(collection: str, received: ReceivedVersion) -> dict[str, Any]:
    obj = received.obj
    created_by = obj.get("created_by_ref")
    return {
        "collection": collection,
        "stix_id": received.stix_id,
        "obj_type": received.stix_id.partition("--")[0],
        "version": received.version,
        "version_key": timestamp_key(received.version),
        "date_added": received.date_added,
        "date_added_key": timestamp_key(received.date_added),
        "created_by_ref": created_by if isinstance(created_by, str) else None,
        "revoked": obj.get("revoked") is True,
        "body": _dump(obj),
    }


class FeedStore:
    """SQLite file holding received object versions and per-collection cursors."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise FeedStoreError(f"{self.path}: cannot create its directory: {exc}") from None
        self._engine: Engine = create_engine(f"sqlite:///{self.path}")
        event.listen(self._engine, "connect", _sqlite_pragmas)
        try:
            had_creators = inspect(self._engine).has_table(object_creators.name)
            metadata.create_all(self._engine)
            if not had_creators:
                self._record_first_creators()
        except DatabaseError as exc:
            self._engine.dispose()
            raise FeedStoreError(f"{self.path}: not a usable feed store: {exc.orig}") from None

    def close(self) -> None:
        self._engine.dispose()

    def __enter__(self) -> FeedStore:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- the poller's side -------------------------------------------------

    def cursor(self, api_root: str, collection: str) -> str | None:
        """The date_added of the last version stored from this collection, if any."""
        query = select(cursors.c.date_added_last).where(
            cursors.c.api_root == api_root, cursors.c.collection == collection
        )
        with self._engine.connect() as conn:
            return conn.execute(query).scalar_one_or_none()

    def store_page(
        self,
        api_root: str,
        collection: str,
        versions: Sequence[ReceivedVersion],
        cursor: str,
    ) -> int:
        """Store a page's versions and advance the cursor, atomically; return how many were new.

        Versions already present are skipped (not an error: a page re-fetched
        after a crash, or a poller overlapping another). The cursor only
        moves forward, so an overlapping slower poller cannot rewind it.
        Versions by another creator than the object's first are refused
        (``store_page_report`` says which).
        """
        return self.store_page_report(api_root, collection, versions, cursor).stored

    def store_page_report(
        self,
        api_root: str,
        collection: str,
        versions: Sequence[ReceivedVersion],
        cursor: str,
    ) -> PageOutcome:
        """``store_page``, also returning the versions refused for their creator."""
        rows = [_version_row(collection, received) for received in versions]
        cursor_key = timestamp_key(cursor)
        try:
            with self._engine.begin() as conn:
                rows, refused = self._check_creators(conn, collection, rows)
                inserted = self._insert_versions(conn, rows)
                self._advance_cursor(conn, api_root, collection, cursor, cursor_key)
        except OperationalError as exc:
            raise FeedStoreError(f"{self.path}: cannot write: {exc.orig}") from None
        return PageOutcome(inserted, refused)

    @staticmethod
    def _check_creators(
        conn: Connection, collection: str, rows: list[dict[str, Any]]
    ) -> tuple[list[dict[str, Any]], list[RefusedVersion]]:
        """The rows whose creator is their object's first creator; the others, refused.

        A row added earlier (server ``date_added``) than the known first
        version, by another creator, shows that the stored versions were the
        impostor's: the object changes hands and those versions are deleted
        (and reported as refused) in the same transaction.
        """
        checked = [row for row in rows if has_creator(row["obj_type"])]
        if not checked:
            return rows, []
        book = CreatorBook(FeedStore._first_creators(conn, {row["stix_id"] for row in checked}))
        kept: list[dict[str, Any]] = []
        refused: list[RefusedVersion] = []
        taken_back: dict[str, FirstCreator] = {}
        for row in rows:
            if not has_creator(row["obj_type"]):
                kept.append(row)
                continue
            verdict = book.offer(
                row["stix_id"], row["created_by_ref"], row["date_added_key"], collection
            )
            if verdict.accepted:
                kept.append(row)
                if verdict.took_back:
                    taken_back[row["stix_id"]] = verdict.first
            else:
                refused.append(RefusedVersion.of(row, verdict.first))
        for stix_id, first in taken_back.items():
            refused += FeedStore._drop_foreign_versions(conn, stix_id, first)
            foreign = [
                row
                for row in kept
                if row["stix_id"] == stix_id and row["created_by_ref"] != first.created_by_ref
            ]
            refused += [RefusedVersion.of(row, first) for row in foreign]
            kept = [row for row in kept if not any(row is other for other in foreign)]
        FeedStore._save_first_creators(conn, book.changed())
        return kept, refused

    @staticmethod
    def _first_creators(conn: Connection, stix_ids: set[str]) -> dict[str, FirstCreator]:
        known: dict[str, FirstCreator] = {}
        wanted = sorted(stix_ids)
        columns = object_creators.c
        for start in range(0, len(wanted), _INSERT_CHUNK):
            chunk = wanted[start : start + _INSERT_CHUNK]
            for row in conn.execute(select(object_creators).where(columns.stix_id.in_(chunk))):
                known[row.stix_id] = FirstCreator(
                    row.created_by_ref, row.date_added_key, row.collection
                )
        return known

    @staticmethod
    def _save_first_creators(conn: Connection, changed: dict[str, FirstCreator]) -> None:
        rows = [
            {
                "stix_id": stix_id,
                "created_by_ref": first.created_by_ref,
                "date_added_key": first.date_added_key,
                "collection": first.collection,
            }
            for stix_id, first in sorted(changed.items())
        ]
        if not rows:
            return
        # One statement run for many rows: a multi-row VALUES would be compiled anew per page.
        statement = sqlite_insert(object_creators)
        statement = statement.on_conflict_do_update(
            index_elements=[object_creators.c.stix_id],
            set_={
                "created_by_ref": statement.excluded.created_by_ref,
                "date_added_key": statement.excluded.date_added_key,
                "collection": statement.excluded.collection,
            },
        )
        conn.execute(statement, rows)

    @staticmethod
    def _drop_foreign_versions(
        conn: Connection, stix_id: str, first: FirstCreator
    ) -> list[RefusedVersion]:
        """Delete the stored versions of ``stix_id`` not by ``first``'s creator; say which."""
        columns = object_versions.c
        foreign = columns.created_by_ref.is_distinct_from(first.created_by_ref)
        where = (columns.stix_id == stix_id) & foreign
        dropped = [
            RefusedVersion(
                collection=row.collection,
                stix_id=row.stix_id,
                version=row.version,
                created_by_ref=row.created_by_ref,
                first_creator=first.created_by_ref,
            )
            for row in conn.execute(select(object_versions).where(where).order_by(columns.seq))
        ]
        conn.execute(delete(object_versions).where(where))
        return dropped

    def _record_first_creators(self) -> None:
        """Fill ``object_creators`` for a store written before it existed (once, on open).

        Replays the stored versions in ``date_added`` order through the same
        rule, so versions another creator slipped in are dropped here too.
        """
        with self._engine.begin() as conn:
            query = select(
                object_versions.c.seq,
                object_versions.c.collection,
                object_versions.c.stix_id,
                object_versions.c.obj_type,
                object_versions.c.date_added,
                object_versions.c.created_by_ref,
            )
            rows = [
                {**row._asdict(), "date_added_key": timestamp_key(row.date_added)}
                for row in conn.execute(query)
                if has_creator(row.obj_type)
            ]
            rows.sort(key=lambda row: (row["date_added_key"], row["seq"]))
            book = CreatorBook({})
            contested: set[str] = set()
            for row in rows:
                verdict = book.offer(
                    row["stix_id"], row["created_by_ref"], row["date_added_key"], row["collection"]
                )
                if verdict.took_back or not verdict.accepted:
                    contested.add(row["stix_id"])
            firsts = book.changed()
            FeedStore._save_first_creators(conn, firsts)
            for stix_id in sorted(contested):
                FeedStore._drop_foreign_versions(conn, stix_id, firsts[stix_id])

    @staticmethod
    def _insert_versions(conn: Connection, rows: list[dict[str, Any]]) -> int:
        inserted = 0
        rows = [{k: v for k, v in row.items() if k != "date_added_key"} for row in rows]
        for start in range(0, len(rows), _INSERT_CHUNK):
            chunk = rows[start : start + _INSERT_CHUNK]
            statement = sqlite_insert(object_versions).values(chunk).on_conflict_do_nothing()
            inserted += conn.execute(statement).rowcount
        return inserted

    @staticmethod
    def _advance_cursor(
        conn: Connection, api_root: str, collection: str, cursor: str, cursor_key: str
    ) -> None:
        now = datetime.now(UTC).isoformat()
        statement = sqlite_insert(cursors).values(
            api_root=api_root,
            collection=collection,
            date_added_last=cursor,
            date_added_key=cursor_key,
            updated_at=now,
        )
        statement = statement.on_conflict_do_update(
            index_elements=[cursors.c.api_root, cursors.c.collection],
            set_={
                "date_added_last": statement.excluded.date_added_last,
                "date_added_key": statement.excluded.date_added_key,
                "updated_at": statement.excluded.updated_at,
            },
            where=cursors.c.date_added_key < statement.excluded.date_added_key,
        )
        conn.execute(statement)

    # -- readers' side ------------------------------------------------------

    def count_versions(self, collection: str | None = None) -> int:
        query = select(func.count()).select_from(object_versions)
        if collection is not None:
            query = query.where(object_versions.c.collection == collection)
        with self._engine.connect() as conn:
            return int(conn.execute(query).scalar_one())

    def version_index(self, collection: str) -> list[tuple[str, str, str]]:
        """(stix_id, version, date_added) of every stored version, in date_added order."""
        query = (
            select(
                object_versions.c.stix_id,
                object_versions.c.version,
                object_versions.c.date_added,
            )
            .where(object_versions.c.collection == collection)
            .order_by(object_versions.c.date_added, object_versions.c.seq)
        )
        with self._engine.connect() as conn:
            return [tuple(row) for row in conn.execute(query)]

    def iter_versions(
        self,
        types: Iterable[str] | None = None,
        collections: Iterable[str] | None = None,
    ) -> Iterator[StoredVersion]:
        """Every stored version (all collections unless given), oldest date_added first."""
        query = select(object_versions).order_by(
            object_versions.c.date_added, object_versions.c.seq
        )
        type_list = sorted(set(types)) if types is not None else None
        if type_list is not None:
            query = query.where(object_versions.c.obj_type.in_(type_list))
        if collections is not None:
            query = query.where(object_versions.c.collection.in_(sorted(set(collections))))
        with self._engine.connect() as conn:
            for row in conn.execute(query):
                yield _row_to_stored(row)

    def latest_versions(
        self,
        types: Iterable[str] | None = None,
        collections: Iterable[str] | None = None,
    ) -> list[StoredVersion]:
        """The latest version of each object, ordered by id; ``revoked`` set if any version is.

        Collections holding the same object are merged: the latest version
        wins wherever it came from.
        """
        columns = object_versions.c
        ranked = select(
            object_versions,
            func.row_number()
            .over(partition_by=columns.stix_id, order_by=(columns.version_key.desc(), columns.seq))
            .label("rank"),
            func.max(columns.revoked).over(partition_by=columns.stix_id).label("ever_revoked"),
        )
        if types is not None:
            ranked = ranked.where(columns.obj_type.in_(sorted(set(types))))
        if collections is not None:
            ranked = ranked.where(columns.collection.in_(sorted(set(collections))))
        ranked_sub = ranked.subquery()
        query = select(ranked_sub).where(ranked_sub.c.rank == 1).order_by(ranked_sub.c.stix_id)
        with self._engine.connect() as conn:
            latest = []
            for row in conn.execute(query):
                stored = _row_to_stored(row)
                if row.ever_revoked and not stored.revoked:
                    stored = replace(stored, revoked=True)
                latest.append(stored)
            return latest

    def current_objects(self, types: Iterable[str] | None = None) -> list[dict[str, Any]]:
        """The latest version of every object that is not revoked, ordered by id.

        This is what matching and enforcement act on. Expiry (``valid_until``)
        is a property of indicators only, so it is left to the callers that
        care (see ``exchange.feed.current``).
        """
        return [stored.obj for stored in self.latest_versions(types) if not stored.revoked]

    def latest_by_id(self, stix_ids: Iterable[str]) -> dict[str, StoredVersion]:
        """Latest stored version of each given id that exists locally."""
        wanted = sorted(set(stix_ids))
        found: dict[str, StoredVersion] = {}
        columns = object_versions.c
        with self._engine.connect() as conn:
            for start in range(0, len(wanted), _INSERT_CHUNK):
                chunk = wanted[start : start + _INSERT_CHUNK]
                query = (
                    select(object_versions)
                    .where(columns.stix_id.in_(chunk))
                    .order_by(columns.stix_id, columns.version_key.desc(), columns.seq)
                )
                for row in conn.execute(query):
                    if row.stix_id not in found:
                        found[row.stix_id] = _row_to_stored(row)
        return found

"""The console's read index, kept up to date from the ``objects`` table.

The publish path stays untouched: each collection's index remembers the
(date_added_us, seq) position it has read up to, in the ``settings`` table,
and ``catch_up`` reads the versions added since, in that collection's
date_added order, which is strictly increasing and assigned under the
collection's write lock (``objects_write``), so no committed version is ever
skipped. The reading runs in a write transaction that first takes the same
lock (``SELECT ... FOR UPDATE`` on the collection row on PostgreSQL; SQLite's
single writer lock), so two workers never index the same rows twice.

Per object the index keeps its latest version's filterable fields, its
references (for "relationships in and out" and the campaign graph), and
running counts by (type, producer) and versions added per day, so overview
pages read a few hundred rows whatever the size of the feed.

Deleted versions are not removed from the index (TAXII deletes are rare and
administrative); the object page reads the ``objects`` table itself, so a
deleted object answers 404 there.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, and_, delete, insert, or_, select, true, update

from server.store import Store
from server.store.analysts import console_engine
from server.store.catalog import get_setting, put_setting
from server.store.console_schema import (
    console_activity,
    console_counts,
    console_edges,
    console_index,
)
from server.store.engine import read_transaction, write_transaction
from server.store.schema import collections, objects
from server.store.sql_helpers import AnyOf, upsert
from server.taxii.stix_checks import tlp_of

NO_TLP = -1
DAY_US = 86_400 * 1_000_000
_SETTING_PREFIX = "console.indexed."
_META_PROPS = {"created_by_ref", "object_marking_refs"}


def _setting_key(collection_id: str) -> str:
    return _SETTING_PREFIX + collection_id


def display_name(obj: dict[str, Any]) -> str:
    """What a person calls the object: its name, else its value, else its id."""
    for prop in ("name", "value", "number", "relationship_type", "display_name", "user_id"):
        value = obj.get(prop)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return str(value)[:300]
    return str(obj.get("id", ""))[:300]


def references(obj: dict[str, Any]) -> list[tuple[str, str]]:
    """(property, referenced id) for every top-level ``*_ref``/``*_refs`` except the meta ones."""
    found: set[tuple[str, str]] = set()
    for prop, value in obj.items():
        if prop in _META_PROPS or len(prop) > 250:
            continue
        if prop.endswith("_ref") and isinstance(value, str):
            found.add((prop, value))
        elif prop.endswith("_refs") and isinstance(value, list):
            found.update((prop, ref) for ref in value if isinstance(ref, str))
    return sorted((p, r) for p, r in found if 0 < len(r) <= 300 and "\x00" not in r)


def _row_for(
    collection_id: str, stix_id: str, obj_type: str, seq: int, added: int, obj: dict
) -> dict:
    name = display_name(obj)
    description = obj.get("description") if isinstance(obj.get("description"), str) else ""
    confidence = obj.get("confidence")
    producer = obj.get("created_by_ref")
    tlp = tlp_of(obj)
    return {
        "collection_id": collection_id,
        "stix_id": stix_id,
        "seq": seq,
        "obj_type": obj_type,
        "producer": producer if isinstance(producer, str) and len(producer) <= 300 else "",
        "name": name.replace("\x00", ""),
        "search_text": f"{name}\n{description}"[:4000].lower().replace("\x00", ""),
        "tlp": int(tlp) if tlp is not None else NO_TLP,
        "confidence": confidence
        if isinstance(confidence, int)
        and not isinstance(confidence, bool)
        and 0 <= confidence <= 100
        else None,
        "revoked": obj.get("revoked") is True,
        "date_added_us": added,
    }


def _lock(connection: Connection, collection_id: str) -> bool:
    statement = select(collections.c.id).where(collections.c.id == collection_id)
    if connection.dialect.name == "postgresql":
        statement = statement.with_for_update()
    return connection.execute(statement).first() is not None


def _position(connection: Connection, collection_id: str) -> tuple[int, int]:
    saved = get_setting(connection, _setting_key(collection_id))
    if isinstance(saved, list) and len(saved) == 2:
        return int(saved[0]), int(saved[1])
    return 0, 0


def is_behind(store: Store, collection_ids: Iterable[str]) -> list[str]:
    """The collections with versions the index has not read yet (one cheap read)."""
    wanted = list(collection_ids)
    if not wanted:
        return []
    with read_transaction(console_engine(store)) as connection:
        last = dict(
            connection.execute(
                select(collections.c.id, collections.c.last_date_added_us).where(
                    collections.c.id.in_(wanted)
                )
            ).all()
        )
        behind = []
        for collection_id in wanted:
            done, _seq = _position(connection, collection_id)
            if last.get(collection_id, 0) > done:
                behind.append(collection_id)
    return behind


def catch_up(store: Store, collection_id: str, budget: int = 5_000) -> int:
    """Index up to ``budget`` versions added to the collection since the last call; return
    how many were read (0: up to date)."""
    with write_transaction(console_engine(store)) as connection:
        if not _lock(connection, collection_id):
            return 0
        added_us, seq = _position(connection, collection_id)
        rows = connection.execute(
            select(
                objects.c.seq,
                objects.c.stix_id,
                objects.c.date_added_us,
            )
            .where(
                objects.c.collection_id == collection_id,
                objects.c.date_added_us >= added_us,
                or_(objects.c.date_added_us > added_us, objects.c.seq > seq),
            )
            .order_by(objects.c.date_added_us, objects.c.seq)
            .limit(budget)
        ).all()
        if not rows:
            return 0
        _apply(connection, collection_id, rows)
        last = rows[-1]
        put_setting(connection, _setting_key(collection_id), [last.date_added_us, last.seq])
    return len(rows)


def catch_up_all(store: Store, collection_ids: Iterable[str], budget: int = 5_000) -> None:
    """Bring the index of these collections up to date, at most ``budget`` versions each."""
    for collection_id in is_behind(store, collection_ids):
        catch_up(store, collection_id, budget)


def _apply(connection: Connection, collection_id: str, rows: Sequence[Any]) -> None:
    days = Counter(row.date_added_us // DAY_US for row in rows)
    for day, n in days.items():
        _add(connection, console_activity, {"collection_id": collection_id, "day": day}, n)
    stix_ids = sorted({row.stix_id for row in rows})
    old = {
        row.stix_id: row
        for row in connection.execute(
            select(
                console_index.c.stix_id, console_index.c.obj_type, console_index.c.producer
            ).where(
                console_index.c.collection_id == collection_id,
                AnyOf(console_index.c.stix_id, stix_ids),
            )
        )
    }
    latest = connection.execute(
        select(
            objects.c.seq,
            objects.c.stix_id,
            objects.c.obj_type,
            objects.c.date_added_us,
            objects.c.body,
        ).where(
            objects.c.collection_id == collection_id,
            AnyOf(objects.c.stix_id, stix_ids),
            objects.c.is_latest == true(),
        )
    ).all()
    counts: Counter[tuple[str, str]] = Counter()
    for row in old.values():
        counts[(row.obj_type, row.producer)] -= 1
    if old:
        connection.execute(
            delete(console_index).where(
                console_index.c.collection_id == collection_id,
                AnyOf(console_index.c.stix_id, sorted(old)),
            )
        )
    connection.execute(
        delete(console_edges).where(
            console_edges.c.collection_id == collection_id,
            AnyOf(console_edges.c.source_id, stix_ids),
        )
    )
    index_rows, edge_rows = [], []
    for current in latest:
        try:
            obj = orjson.loads(current.body)
        except orjson.JSONDecodeError:
            continue
        if not isinstance(obj, dict):
            continue
        entry = _row_for(
            collection_id,
            current.stix_id,
            current.obj_type,
            current.seq,
            current.date_added_us,
            obj,
        )
        index_rows.append(entry)
        counts[(entry["obj_type"], entry["producer"])] += 1
        edge_rows += [
            {
                "collection_id": collection_id,
                "source_id": current.stix_id,
                "target_id": target,
                "prop": prop,
            }
            for prop, target in references(obj)
        ]
    if index_rows:
        connection.execute(insert(console_index), index_rows)
    if edge_rows:
        connection.execute(insert(console_edges), edge_rows)
    for (obj_type, producer), delta in counts.items():
        if delta:
            key = {"collection_id": collection_id, "obj_type": obj_type, "producer": producer}
            _add(connection, console_counts, key, delta)


def _add(connection: Connection, table, key: dict[str, Any], delta: int) -> None:
    """n += delta for the row with this key (created at delta)."""
    condition = and_(*(table.c[name] == value for name, value in key.items()))
    result = connection.execute(update(table).where(condition).values(n=table.c.n + delta))
    if result.rowcount == 0:
        upsert(
            connection, table, {**key, "n": delta}, key_columns=tuple(key), update_columns=("n",)
        )

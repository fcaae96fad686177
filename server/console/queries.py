"""What the console pages read: bounded, indexed queries on the console index and the objects.

Every function takes the collections the analyst may read (decided by
``server.console.access``) and never looks outside them.
"""

from __future__ import annotations

import heapq
import re
from collections import defaultdict
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy import Connection, func, or_, select

from server.store import Store
from server.store.analysts import console_engine
from server.store.console_schema import (
    console_activity,
    console_counts,
    console_edges,
    console_index,
)
from server.store.engine import read_transaction
from server.store.schema import grants, partners
from server.store.sql_helpers import AnyOf
from server.store.types import CollectionInfo, ObjectQuery

STIX_ID = re.compile(
    r"[a-z0-9][a-z0-9-]{0,249}--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
PAGE_SIZE = 25
EXPORT_LIMIT = 20_000
_GRAPH_NODES = 90


_SNAPSHOT: ContextVar[Connection | None] = ContextVar("console_snapshot", default=None)


@contextmanager
def one_snapshot(store: Store) -> Iterator[None]:
    """Run every query of this module inside one read transaction (one connection, one
    snapshot): a page that asks twenty small questions pays for one transaction, which on
    PostgreSQL is most of the cost of each."""
    if _SNAPSHOT.get() is not None:
        yield
        return
    with read_transaction(console_engine(store)) as connection:
        token = _SNAPSHOT.set(connection)
        try:
            yield
        finally:
            _SNAPSHOT.reset(token)


@contextmanager
def _reading(store: Store) -> Iterator[Connection]:
    current = _SNAPSHOT.get()
    if current is not None:
        yield current
        return
    with read_transaction(console_engine(store)) as connection:
        yield connection


@dataclass(frozen=True)
class SearchFilter:
    collection: str = ""
    obj_type: str = ""
    producer: str = ""
    since_us: int | None = None
    until_us: int | None = None
    max_tlp: int | None = None
    min_confidence: int | None = None
    revoked: str = "exclude"  # exclude | include | only
    text: str = ""


@dataclass(frozen=True)
class Cursor:
    date_added_us: int
    collection_id: str

    def encode(self) -> str:
        return f"{self.date_added_us}.{self.collection_id}"

    @classmethod
    def decode(cls, value: str) -> Cursor | None:
        added, _, collection_id = value.partition(".")
        if not added.isdigit() or len(added) > 19 or not collection_id or len(collection_id) > 64:
            return None
        return cls(int(added), collection_id)


@dataclass
class SearchPage:
    rows: list[Any]
    next_cursor: str | None


@dataclass
class Overview:
    by_type: list[tuple[str, int]]
    by_producer: list[tuple[str, int]]
    per_collection: dict[str, int]
    activity: list[tuple[int, int]]  # (day number, versions added)
    total: int


@dataclass
class Neighbour:
    stix_id: str
    obj_type: str
    name: str
    prop: str
    via: str = ""  # relationship type when reached through a relationship
    collection_id: str = ""


@dataclass
class GraphPicture:
    nodes: dict[str, dict[str, Any]] = field(default_factory=dict)
    edges: set[tuple[str, str, str]] = field(default_factory=set)
    shared: list[tuple[dict[str, Any], list[str]]] = field(default_factory=list)


def _conditions(collection_id: str, flt: SearchFilter, cursor: Cursor | None) -> list:
    ci = console_index.c
    conds = [ci.collection_id == collection_id]
    if flt.obj_type:
        conds.append(ci.obj_type == flt.obj_type)
    if flt.producer:
        conds.append(ci.producer == flt.producer)
    if flt.since_us is not None:
        conds.append(ci.date_added_us >= flt.since_us)
    if flt.until_us is not None:
        conds.append(ci.date_added_us < flt.until_us)
    if flt.max_tlp is not None:
        conds.append(ci.tlp <= flt.max_tlp)
    if flt.min_confidence is not None:
        conds.append(ci.confidence >= flt.min_confidence)
    if flt.revoked == "exclude":
        conds.append(ci.revoked.is_(False))
    elif flt.revoked == "only":
        conds.append(ci.revoked.is_(True))
    if flt.text:
        conds.append(ci.search_text.contains(flt.text.lower(), autoescape=True))
    if cursor is not None:
        # Newest first by (date_added, collection id); date_added is unique in a collection.
        if collection_id < cursor.collection_id:
            conds.append(ci.date_added_us <= cursor.date_added_us)
        else:
            conds.append(ci.date_added_us < cursor.date_added_us)
    return conds


def _columns():
    ci = console_index.c
    return (
        ci.collection_id,
        ci.stix_id,
        ci.obj_type,
        ci.producer,
        ci.name,
        ci.tlp,
        ci.confidence,
        ci.revoked,
        ci.date_added_us,
    )


def search(
    store: Store,
    collections: Sequence[CollectionInfo],
    flt: SearchFilter,
    cursor: Cursor | None,
    limit: int = PAGE_SIZE,
) -> SearchPage:
    """One page, newest first: one index range read per collection, merged."""
    chosen = [c for c in collections if not flt.collection or c.id == flt.collection]
    found: list[Any] = []
    with _reading(store) as connection:
        for collection in chosen:
            statement = (
                select(*_columns())
                .where(*_conditions(collection.id, flt, cursor))
                .order_by(console_index.c.date_added_us.desc())
                .limit(limit + 1)
            )
            found.extend(connection.execute(statement).all())
    ordered = heapq.nsmallest(
        limit + 1, found, key=lambda row: (-row.date_added_us, _reverse(row.collection_id))
    )
    more = len(ordered) > limit
    rows = ordered[:limit]
    next_cursor = Cursor(rows[-1].date_added_us, rows[-1].collection_id).encode() if more else None
    return SearchPage(rows, next_cursor)


def _reverse(text: str) -> tuple[int, ...]:
    return tuple(-ord(ch) for ch in text)


def export_selection(
    store: Store, collections: Sequence[CollectionInfo], flt: SearchFilter
) -> tuple[list[Any], bool]:
    """Every row the filter selects (up to EXPORT_LIMIT), and whether there were more."""
    rows: list[Any] = []
    cursor = None
    while len(rows) < EXPORT_LIMIT:
        page = search(store, collections, flt, cursor, limit=1000)
        rows.extend(page.rows)
        if page.next_cursor is None:
            return rows, False
        cursor = Cursor.decode(page.next_cursor)
    return rows[:EXPORT_LIMIT], True


def latest_bodies(store: Store, collection_id: str, stix_ids: Sequence[str]) -> dict[str, dict]:
    """Latest version of each id in the collection, through the TAXII read path."""
    found: dict[str, dict] = {}
    ids = sorted(set(stix_ids))
    for start in range(0, len(ids), 500):
        chunk = tuple(ids[start : start + 500])
        page = store.query_objects(collection_id, ObjectQuery(ids=chunk, limit=len(chunk)))
        for row in page.rows:
            obj = orjson.loads(row.body or "{}")
            if isinstance(obj, dict):
                found[row.stix_id] = obj
    return found


def overview(store: Store, collections: Sequence[CollectionInfo], days: int = 90) -> Overview:
    ids = [c.id for c in collections]
    by_type: dict[str, int] = defaultdict(int)
    by_producer: dict[str, int] = defaultdict(int)
    per_collection: dict[str, int] = defaultdict(int)
    activity: dict[int, int] = defaultdict(int)
    if ids:
        with _reading(store) as connection:
            for row in connection.execute(
                select(console_counts).where(console_counts.c.collection_id.in_(ids))
            ):
                by_type[row.obj_type] += row.n
                by_producer[row.producer] += row.n
                per_collection[row.collection_id] += row.n
            last_day = connection.execute(
                select(func.max(console_activity.c.day)).where(
                    console_activity.c.collection_id.in_(ids)
                )
            ).scalar()
            if last_day is not None:
                for row in connection.execute(
                    select(console_activity.c.day, console_activity.c.n).where(
                        console_activity.c.collection_id.in_(ids),
                        console_activity.c.day > last_day - days,
                    )
                ):
                    activity[row.day] += row.n
    return Overview(
        by_type=sorted(((t, n) for t, n in by_type.items() if n), key=lambda x: (-x[1], x[0])),
        by_producer=sorted(
            ((p, n) for p, n in by_producer.items() if n), key=lambda x: (-x[1], x[0])
        ),
        per_collection=dict(per_collection),
        activity=sorted(activity.items()),
        total=sum(by_type.values()),
    )


def names_of(
    store: Store, collection_ids: Sequence[str], stix_ids: Sequence[str]
) -> dict[str, Any]:
    """stix id -> index row (type, name, producer, collection) of ids in these collections."""
    wanted = sorted({s for s in stix_ids if s})
    if not wanted or not collection_ids:
        return {}
    found: dict[str, Any] = {}
    with _reading(store) as connection:
        for start in range(0, len(wanted), 500):
            rows = connection.execute(
                select(*_columns()).where(
                    console_index.c.collection_id.in_(list(collection_ids)),
                    AnyOf(console_index.c.stix_id, wanted[start : start + 500]),
                )
            )
            for row in rows:
                found.setdefault(row.stix_id, row)
    return found


def producer_names(
    store: Store, collection_ids: Sequence[str], producers: Sequence[str]
) -> dict[str, str]:
    """identity id -> a name: the identity object's in these collections, else the name of
    the partner registered with that identity (a lab that never published its identity)."""
    names = {k: v.name for k, v in names_of(store, collection_ids, producers).items()}
    missing = sorted(set(producers) - set(names))
    if missing:
        with _reading(store) as connection:
            for row in connection.execute(
                select(partners.c.identity_ref, partners.c.name).where(
                    partners.c.identity_ref.in_(missing)
                )
            ):
                names[row.identity_ref] = row.name
    return names


def incoming(store: Store, collection_id: str, stix_id: str, limit: int = 200) -> list[Any]:
    """(source id, property) of the objects in the collection that reference ``stix_id``."""
    with _reading(store) as connection:
        return list(
            connection.execute(
                select(console_edges.c.source_id, console_edges.c.prop)
                .where(
                    console_edges.c.collection_id == collection_id,
                    console_edges.c.target_id == stix_id,
                )
                .order_by(console_edges.c.source_id)
                .limit(limit)
            ).all()
        )


def outgoing_many(
    store: Store, collection_ids: Sequence[str], source_ids: Collection[str]
) -> list[Any]:
    wanted = sorted(set(source_ids))
    if not wanted:
        return []
    with _reading(store) as connection:
        return list(
            connection.execute(
                select(
                    console_edges.c.collection_id,
                    console_edges.c.source_id,
                    console_edges.c.target_id,
                    console_edges.c.prop,
                ).where(
                    console_edges.c.collection_id.in_(list(collection_ids)),
                    AnyOf(console_edges.c.source_id, wanted),
                )
            ).all()
        )


def incoming_many(
    store: Store, collection_ids: Sequence[str], target_ids: Collection[str], limit: int = 400
) -> list[Any]:
    """Edges pointing at these ids, at most ``limit`` per collection (the campaign page draws
    a bounded picture; a campaign with thousands of records shows the first ones)."""
    wanted = sorted(set(target_ids))
    if not wanted:
        return []
    rows: list[Any] = []
    with _reading(store) as connection:
        for collection_id in collection_ids:
            rows += connection.execute(
                select(
                    console_edges.c.collection_id,
                    console_edges.c.source_id,
                    console_edges.c.target_id,
                    console_edges.c.prop,
                )
                .where(
                    console_edges.c.collection_id == collection_id,
                    AnyOf(console_edges.c.target_id, wanted),
                )
                .limit(limit)
            ).all()
    return rows


def campaign_graph(store: Store, collection_ids: Sequence[str], campaign_id: str) -> GraphPicture:
    """The campaign's neighbourhood two hops out, relationships drawn as edges, plus the labs
    that reported each object; and, per observable, every lab whose records point to it."""
    picture = GraphPicture()
    frontier = {campaign_id}
    seen = {campaign_id}
    for _hop in range(2):
        out_rows = outgoing_many(store, collection_ids, frontier)
        in_rows = incoming_many(store, collection_ids, frontier)
        rel_ids = {r.source_id for r in in_rows if r.source_id.startswith("relationship--")}
        rel_ids |= {r.target_id for r in out_rows if r.target_id.startswith("relationship--")}
        rel_rows = outgoing_many(store, collection_ids, rel_ids)
        rel_info = names_of(store, collection_ids, list(rel_ids))
        ends: dict[str, dict[str, str]] = defaultdict(dict)
        for row in rel_rows:
            ends[row.source_id][row.prop] = row.target_id
        next_frontier: set[str] = set()
        for rel_id, props in ends.items():
            source, target = props.get("source_ref"), props.get("target_ref")
            if not source or not target or not (source in frontier or target in frontier):
                continue
            label = rel_info[rel_id].name if rel_id in rel_info else "related"
            picture.edges.add((source, target, label))
            next_frontier |= {source, target}
        for row in out_rows:
            if not row.target_id.startswith("relationship--"):
                picture.edges.add((row.source_id, row.target_id, row.prop))
                next_frontier.add(row.target_id)
        for row in in_rows:
            if not row.source_id.startswith("relationship--"):
                picture.edges.add((row.source_id, row.target_id, row.prop))
                next_frontier.add(row.source_id)
        next_frontier -= seen
        room = _GRAPH_NODES - len(seen)
        frontier = set(sorted(next_frontier)[: max(0, room)])
        seen |= frontier
        if not frontier:
            break
    info = names_of(store, collection_ids, list(seen))
    for stix_id in sorted(seen):
        row = info.get(stix_id)
        picture.nodes[stix_id] = {
            "id": stix_id,
            "type": row.obj_type if row else stix_id.split("--")[0],
            "name": row.name if row else stix_id,
            "producer": row.producer if row else "",
            "collection_id": row.collection_id if row else "",
        }
    picture.edges = {e for e in picture.edges if e[0] in picture.nodes and e[1] in picture.nodes}
    producers = {n["producer"] for n in picture.nodes.values() if n["producer"]}
    labs = names_of(store, collection_ids, list(producers))
    lab_names = producer_names(store, collection_ids, list(producers))
    for producer in sorted(producers):
        row = labs.get(producer)
        picture.nodes[producer] = {
            "id": producer,
            "type": "identity",
            "name": lab_names.get(producer, producer),
            "producer": "",
            "collection_id": row.collection_id if row else "",
        }
    for node in list(picture.nodes.values()):
        if node["producer"] and node["type"] != "identity":
            picture.edges.add((node["producer"], node["id"], "reported"))
    picture.shared = shared_observables(store, collection_ids, picture, labs)
    return picture


def shared_observables(store, collection_ids, picture: GraphPicture, labs: dict) -> list:
    """For each observable (no creator) in the picture: the labs whose records point to it,
    directly or through a relationship; most labs first."""
    observables = [
        n for n in picture.nodes.values() if not n["producer"] and n["type"] != "identity"
    ]
    obs_ids = [n["id"] for n in observables if "--" in n["id"]]
    pointing = incoming_many(store, collection_ids, obs_ids, limit=600)
    rel_ids = [r.source_id for r in pointing if r.source_id.startswith("relationship--")]
    rel_sources = {
        r.source_id: r.target_id
        for r in outgoing_many(store, collection_ids, rel_ids)
        if r.prop == "source_ref"
    }
    sources: dict[str, set[str]] = defaultdict(set)
    for row in pointing:
        source = rel_sources.get(row.source_id, row.source_id)
        if source != row.target_id:
            sources[row.target_id].add(source)
    info = names_of(store, collection_ids, [s for group in sources.values() for s in group])
    more_labs = names_of(
        store, collection_ids, [r.producer for r in info.values() if r.producer not in labs]
    )
    result = []
    for node in observables:
        producers = sorted(
            {
                info[s].producer
                for s in sources.get(node["id"], ())
                if s in info and info[s].producer
            }
        )
        names = [_lab_name(labs.get(p) or more_labs.get(p), p) for p in producers]
        if names:
            result.append((node, names))
    result.sort(key=lambda item: (-len(item[1]), item[0]["name"]))
    return result


def readers_of(store: Store, collection_ids: Sequence[str]) -> list[str]:
    """Partners holding any grant on these collections (the feed-health table's rows)."""
    if not collection_ids:
        return []
    with _reading(store) as connection:
        return sorted(
            {
                row.partner_id
                for row in connection.execute(
                    select(grants.c.partner_id).where(
                        grants.c.collection_id.in_(list(collection_ids)),
                        or_(grants.c.can_read, grants.c.can_write),
                    )
                )
            }
        )


def _lab_name(info: Any, producer: str) -> str:
    """The reporting lab's name, or its identity id when the feed does not name it."""
    return info.name if info is not None else producer

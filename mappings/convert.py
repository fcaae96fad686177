"""Detection records <-> STIX 2.1: the public entry points.

``records_to_bundle`` is deterministic: the same records and producer give an
equal dict, and ``bundle_json`` serialises it canonically (sorted keys,
objects sorted by id then version, UTF-8, one trailing newline), so the same
input yields byte-identical files. The bundle is self-contained: besides the
lab's identity and its records' objects it carries the well-known objects
they reference (extension definitions, TLP 2.0 markings, the project
identity, the ATLAS attack-patterns), so it validates and parses on its own.

``objects_to_records`` is the inverse, from a bundle's objects or a feed's.
"""

from __future__ import annotations

import copy
import gc
import hashlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from itertools import chain, islice, repeat
from operator import itemgetter, lt
from typing import Any

import orjson

from mappings.companions import CampaignReports
from mappings.from_stix import MappingError, objects_to_records, objects_to_records_by_producer
from mappings.names import (
    EXT_TLP2,
)
from mappings.producer import Producer
from mappings.record_kinds import RECORD_KINDS
from mappings.record_objects import RecordWriter
from mappings.records import AccountCluster, IpRange, PromptFingerprint
from mappings.shared_objects import SharedObjects
from mappings.well_known import (
    PROJECT_IDENTITY_ID,
    TLP_CREATOR_ID,
    TLP_MARKING_IDS,
    WELL_KNOWN_OBJECTS,
    atlas_attack_pattern_id,
)

__all__ = [
    "BatchConverter",
    "MappingError",
    "bundle_id_of",
    "bundle_json",
    "collector_paused",
    "objects_to_records",
    "objects_to_records_by_producer",
    "records_to_bundle",
    "records_to_objects",
]

Record = AccountCluster | PromptFingerprint | IpRange


def records_to_objects(records: Iterable[Record], producer: Producer) -> list[dict[str, Any]]:
    """All STIX objects for ``records``, sorted by id: the lab's identity, each
    record's objects, the shared ones, and the well-known objects they reference.

    Raises ``MappingError`` if two records of one kind share a key: they would
    be two versions of the same objects in one batch, and which one a partner
    keeps would depend on luck.
    """
    with collector_paused():
        batch = BatchConverter(producer)
        objects: list[dict[str, Any]] = []
        for record in records:
            objects += batch.add(record)
        objects += batch.finish()
        objects.sort(key=itemgetter("id"))  # ids are unique within one batch
        return objects


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a batch is converted.

    Conversion allocates hundreds of thousands of small dicts and none of them
    form cycles; with the collector running, each full collection walks all of
    them again, which made a 100,000-record batch markedly slower. The previous
    state is restored even if conversion fails.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class BatchConverter:
    """Converts one batch record by record: the objects each record owns as it
    arrives, then (``finish``) the lab's identity, the shared objects and the
    well-known objects the batch references.

    Both ways of building a bundle use it (``records_to_objects`` collects
    dicts, ``mappings.canonical_bundle`` serialises each record's objects at
    once), so they cannot disagree on what an object holds.
    """

    def __init__(self, producer: Producer) -> None:
        self._producer = producer
        self._shared = SharedObjects(producer)
        self._writer = RecordWriter(producer, self._shared)
        self._reports = CampaignReports(producer)
        self._seen: set[tuple[str, str]] = set()
        self._kinds: set[str] = set()
        self._tlps: set[str] = set()
        self._count = 0

    def add(self, record: Record) -> list[dict[str, Any]]:
        """The objects ``record`` owns; raises ``MappingError`` for a repeated key."""
        index = self._count
        self._count += 1
        kind = RECORD_KINDS.get(getattr(record, "kind", None))  # type: ignore[arg-type]
        if kind is None or not isinstance(record, kind.model):
            raise MappingError(f"record {index}: not a detection record ({type(record).__name__})")
        identity = (kind.name, kind.key(record))
        if identity in self._seen:
            raise MappingError(
                f"record {index}: a second {record.kind} with key {identity[1]!r} in one batch"
            )
        self._seen.add(identity)
        self._kinds.add(record.kind)
        self._tlps.add(record.tlp)
        objects = kind.to_stix(self._writer, record)
        self._reports.add(record, objects)
        return objects

    def finish(self) -> list[dict[str, Any]]:
        """The identity, shared and well-known objects, once every record is added."""
        objects = [self._producer.identity_object()]
        objects += self._shared.objects()
        objects += self._reports.objects(self._shared.techniques_of)
        # Shared objects take the least restrictive TLP of their records: always one of tlps.
        objects += _referenced_well_known(self._kinds, self._tlps, self._shared.techniques())
        return objects


def bundle_id_of(producer: Producer, ids: Iterable[str], modified: Iterable[str]) -> str:
    """The bundle id for objects given as their ids (in id order) and ``modified`` times.

    A UUIDv5 over the producer key and a digest of one ``"<id> <modified>\\n"``
    line per object, so it changes exactly when a version changes; objects
    without ``modified`` contribute an empty one. The ids and times come as two
    iterables so the streaming builder need not pair them up in Python first.
    """
    lines = chain.from_iterable(zip(ids, repeat(" "), modified, repeat("\n")))
    digest = hashlib.sha256("".join(lines).encode()).hexdigest()
    return producer.object_id("bundle", digest)


def records_to_bundle(records: Iterable[Record], producer: Producer) -> dict[str, Any]:
    """A JSON-ready STIX 2.1 bundle dict for ``records``; equal records give an equal dict.

    The bundle id is a UUIDv5 over the producer key and the (id, modified)
    pairs of its objects, so it changes exactly when a version changes.
    """
    objects = records_to_objects(records, producer)
    ids = map(itemgetter("id"), objects)
    modified = [obj.get("modified", "") for obj in objects]
    return {"type": "bundle", "id": bundle_id_of(producer, ids, modified), "objects": objects}


def bundle_json(bundle: dict[str, Any], *, pretty: bool = False) -> bytes:
    """Canonical bytes of a bundle: sorted keys, objects sorted by (id, modified),
    UTF-8, trailing newline. ``pretty`` indents by two spaces (still canonical)."""
    ordered = dict(bundle)
    objects = ordered.get("objects")
    if isinstance(objects, list) and not _in_id_order(objects):
        with collector_paused():
            ordered["objects"] = sorted(objects, key=_object_order)
    option = orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
    if pretty:
        option |= orjson.OPT_INDENT_2
    return orjson.dumps(ordered, option=option)


def _in_id_order(objects: list[Any]) -> bool:
    """Whether ids strictly increase (as ``records_to_bundle`` emits them): then the
    canonical order holds already and a large bundle need not be sorted again.

    Written with ``map`` so the walk over ~900,000 objects runs in C; anything
    that is not a dict with a string id makes it answer False (then sort)."""
    try:
        ids = list(map(itemgetter("id"), objects))
        return all(map(lt, ids, islice(ids, 1, None))) and (not ids or isinstance(ids[0], str))
    except (TypeError, KeyError, IndexError):
        return False


def _object_order(obj: Any) -> tuple[str, str]:
    if not isinstance(obj, dict):
        return ("", "")  # not a STIX object: keep it, serialise it, let validation say so
    return (str(obj.get("id", "")), str(obj.get("modified", "")))


def _referenced_well_known(
    kinds: set[str], tlps: set[str], techniques: set[str]
) -> list[dict[str, Any]]:
    ids: set[str] = {PROJECT_IDENTITY_ID}
    for kind in kinds:
        ids.update(RECORD_KINDS[kind].extensions)
    if tlps:
        ids.add(EXT_TLP2)
        ids.add(TLP_CREATOR_ID)  # created_by_ref of the TLP 2.0 extension definition
        ids.update(TLP_MARKING_IDS[level] for level in tlps)
    ids.update(atlas_attack_pattern_id(technique) for technique in techniques)
    # Copies: a caller editing its bundle must not edit the module's constants.
    return [copy.deepcopy(WELL_KNOWN_OBJECTS[object_id]) for object_id in ids]

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
from itertools import islice
from operator import itemgetter, lt
from typing import Any

import orjson

from mappings.from_stix import MappingError, objects_to_records, objects_to_records_by_producer
from mappings.ids import authored_id
from mappings.names import (
    EXT_ACCOUNT_CLUSTER,
    EXT_FINGERPRINT_INDICATOR,
    EXT_IP_RANGE_INDICATOR,
    EXT_KEYED_IDENTIFIER,
    EXT_PROMPT_FINGERPRINT,
    EXT_TLP2,
)
from mappings.producer import Producer
from mappings.record_objects import RecordWriter
from mappings.records import AccountCluster, IpRange, PromptFingerprint, record_key
from mappings.shared_objects import SharedObjects
from mappings.well_known import (
    PROJECT_IDENTITY_ID,
    TLP_CREATOR_ID,
    TLP_MARKING_IDS,
    WELL_KNOWN_OBJECTS,
    atlas_attack_pattern_id,
)

__all__ = [
    "MappingError",
    "bundle_json",
    "objects_to_records",
    "objects_to_records_by_producer",
    "records_to_bundle",
    "records_to_objects",
]

Record = AccountCluster | PromptFingerprint | IpRange

_EXTENSIONS_BY_KIND = {
    "account-cluster": (EXT_ACCOUNT_CLUSTER, EXT_KEYED_IDENTIFIER),
    "prompt-fingerprint": (EXT_FINGERPRINT_INDICATOR, EXT_PROMPT_FINGERPRINT),
    "ip-range": (EXT_IP_RANGE_INDICATOR,),
}


def records_to_objects(records: Iterable[Record], producer: Producer) -> list[dict[str, Any]]:
    """All STIX objects for ``records``, sorted by id: the lab's identity, each
    record's objects, the shared ones, and the well-known objects they reference.

    Raises ``MappingError`` if two records of one kind share a key: they would
    be two versions of the same objects in one batch, and which one a partner
    keeps would depend on luck.
    """
    with _collector_paused():
        return _records_to_objects(records, producer)


@contextmanager
def _collector_paused() -> Iterator[None]:
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


def _records_to_objects(records: Iterable[Record], producer: Producer) -> list[dict[str, Any]]:
    shared = SharedObjects(producer)
    writer = RecordWriter(producer, shared)
    objects: list[dict[str, Any]] = [producer.identity_object()]
    seen: set[tuple[str, str]] = set()
    kinds: set[str] = set()
    tlps: set[str] = set()
    for index, record in enumerate(records):
        identity = (record.kind, record_key(record))
        if identity in seen:
            raise MappingError(
                f"record {index}: a second {record.kind} with key {identity[1]!r} in one batch"
            )
        seen.add(identity)
        kinds.add(record.kind)
        tlps.add(record.tlp)
        if isinstance(record, AccountCluster):
            objects += writer.cluster(record)
        elif isinstance(record, PromptFingerprint):
            objects += writer.fingerprint(record)
        elif isinstance(record, IpRange):
            objects += writer.ip_range(record)
        else:
            raise MappingError(f"record {index}: not a detection record ({type(record).__name__})")
    objects += shared.objects()
    # Shared objects take the least restrictive TLP of their records: always one of ``tlps``.
    objects += _referenced_well_known(kinds, tlps, shared.techniques())
    objects.sort(key=itemgetter("id"))  # ids are unique within one batch
    return objects


def records_to_bundle(records: Iterable[Record], producer: Producer) -> dict[str, Any]:
    """A JSON-ready STIX 2.1 bundle dict for ``records``; equal records give an equal dict.

    The bundle id is a UUIDv5 over the producer key and the (id, modified)
    pairs of its objects, so it changes exactly when a version changes.
    """
    objects = records_to_objects(records, producer)
    versions = "".join([f"{obj['id']} {obj.get('modified', '')}\n" for obj in objects])
    digest = hashlib.sha256(versions.encode()).hexdigest()
    bundle_id = authored_id("bundle", producer.key, digest)
    return {"type": "bundle", "id": bundle_id, "objects": objects}


def bundle_json(bundle: dict[str, Any], *, pretty: bool = False) -> bytes:
    """Canonical bytes of a bundle: sorted keys, objects sorted by (id, modified),
    UTF-8, trailing newline. ``pretty`` indents by two spaces (still canonical)."""
    ordered = dict(bundle)
    objects = ordered.get("objects")
    if isinstance(objects, list) and not _in_id_order(objects):
        with _collector_paused():
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
        ids.update(_EXTENSIONS_BY_KIND[kind])
    if tlps:
        ids.add(EXT_TLP2)
        ids.add(TLP_CREATOR_ID)  # created_by_ref of the TLP 2.0 extension definition
        ids.update(TLP_MARKING_IDS[level] for level in tlps)
    ids.update(atlas_attack_pattern_id(technique) for technique in techniques)
    # Copies: a caller editing its bundle must not edit the module's constants.
    return [copy.deepcopy(WELL_KNOWN_OBJECTS[object_id]) for object_id in ids]

"""Analysts' exports: a self-contained, validated STIX bundle cut out of the feed.

The objects come from the lab's local store (offline, everything it has
synced) or straight from the server (what the lab may read there now). The
filters (``export_filters``) pick the *selected* objects; the bundle then
also carries what they point at, so it stands on its own in another tool:

* always, transitively: the identities named by ``created_by_ref``, the
  marking definitions of ``object_marking_refs`` and the extension
  definitions used in ``extensions`` (and *their* identities and markings),
  taken from the feed or, for the project's fixed objects, from
  ``mappings.well_known``;
* unless ``follow_refs`` is off: the objects the selected ones reference
  directly (``member_refs``, ``source_ref``/``target_ref``,
  ``sighting_of_ref``, ...), one level deep.

References obey the TLP cap and the revocation rule; those not found (or
withheld) are reported and stay dangling, which STIX allows. By default each
object appears in its latest version only; ``all_versions`` exports history.
The bundle is serialised canonically (``mappings.convert.bundle_json``) with
an id derived from its content, so the same export gives the same bytes.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from exchange.feed.client import TaxiiSession
from exchange.feed.export_filters import ExportFilter
from exchange.feed.store import FeedStore
from exchange.feed.timestamps import object_version, timestamp_key
from mappings.well_known import WELL_KNOWN_OBJECTS

EXPORT_NAMESPACE = uuid.UUID("0b7f5a1e-5d3c-4f62-9a8e-3c1d2e4f6a70")
# Meta references form short chains (object -> extension definition -> identity).
_MAX_META_DEPTH = 6
# Ids per match[id] request: keeps the URL far below common request-line limits.
_IDS_PER_REQUEST = 40
_SERVER_PAGE = 1000

Lookup = Callable[[set[str]], dict[str, dict[str, Any]]]


@dataclass
class ExportResult:
    bundle: dict[str, Any]
    selected: int = 0
    referenced: int = 0
    withheld: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)


def _version_key(obj: Mapping[str, Any]) -> str:
    version = object_version(dict(obj))
    try:
        return timestamp_key(version) if version else ""
    except ValueError:
        return ""


def meta_refs(obj: Mapping[str, Any]) -> set[str]:
    """Identities, marking definitions and extension definitions an object depends on."""
    refs: set[str] = set()
    creator = obj.get("created_by_ref")
    if isinstance(creator, str):
        refs.add(creator)
    markings = obj.get("object_marking_refs")
    if isinstance(markings, list):
        refs.update(ref for ref in markings if isinstance(ref, str))
    extensions = obj.get("extensions")
    if isinstance(extensions, Mapping):
        refs.update(key for key in extensions if key.startswith("extension-definition--"))
    return refs


def direct_refs(obj: Mapping[str, Any]) -> set[str]:
    """Every other top-level ``*_ref``/``*_refs`` value (the objects this one is about)."""
    refs: set[str] = set()
    for name, value in obj.items():
        if name in ("created_by_ref", "object_marking_refs"):
            continue
        if name.endswith("_ref") and isinstance(value, str):
            refs.add(value)
        elif name.endswith("_refs") and isinstance(value, list):
            refs.update(ref for ref in value if isinstance(ref, str))
    return refs


def _bundle_id(objects: Sequence[Mapping[str, Any]]) -> str:
    digest = hashlib.sha256()
    for key in sorted(f"{obj['id']} {_version_key(obj)}" for obj in objects):
        digest.update(key.encode() + b"\n")
    return f"bundle--{uuid.uuid5(EXPORT_NAMESPACE, digest.hexdigest())}"


def build_bundle(
    selected: Iterable[dict[str, Any]],
    lookup: Lookup,
    export_filter: ExportFilter,
    *,
    follow_refs: bool = True,
) -> ExportResult:
    """The bundle of ``selected`` plus the references they need (see the module doc)."""
    chosen: dict[tuple[str, str], dict[str, Any]] = {}
    for obj in selected:
        chosen[(obj["id"], _version_key(obj))] = obj
    result = ExportResult(bundle={}, selected=len(chosen))
    present = {object_id for object_id, _ in chosen}
    pending: set[str] = set()
    for obj in chosen.values():
        pending |= meta_refs(obj) | (direct_refs(obj) if follow_refs else set())
    withheld: set[str] = set()
    unresolved: set[str] = set()
    for _depth in range(_MAX_META_DEPTH):
        pending -= present | withheld | unresolved
        if not pending:
            break
        found = lookup(set(pending))
        next_pending: set[str] = set()
        for object_id in sorted(pending):
            referenced = found.get(object_id) or WELL_KNOWN_OBJECTS.get(object_id)
            if referenced is None:
                unresolved.add(object_id)
            elif not export_filter.allows_reference(referenced):
                withheld.add(object_id)
            else:
                chosen[(object_id, _version_key(referenced))] = dict(referenced)
                present.add(object_id)
                result.referenced += 1
                next_pending |= meta_refs(referenced)
        pending = next_pending
    objects = list(chosen.values())
    result.bundle = {"type": "bundle", "id": _bundle_id(objects), "objects": objects}
    result.withheld = sorted(withheld)
    result.unresolved = sorted(unresolved)
    return result


# -- from the local store ------------------------------------------------------


def export_from_store(
    store: FeedStore,
    export_filter: ExportFilter,
    *,
    collections: Sequence[str] | None = None,
    all_versions: bool = False,
    follow_refs: bool = True,
) -> ExportResult:
    types = sorted(export_filter.types) or None
    latest = store.latest_versions(types, collections or None)
    revoked = {stored.stix_id for stored in latest if stored.revoked}
    if all_versions:
        candidates = [
            stored.obj
            for stored in store.iter_versions(types, collections or None)
            if export_filter.include_revoked or stored.stix_id not in revoked
        ]
    else:
        candidates = [
            stored.obj for stored in latest if export_filter.include_revoked or not stored.revoked
        ]
    selected = [obj for obj in candidates if export_filter.selects(obj)]

    def lookup(ids: set[str]) -> dict[str, dict[str, Any]]:
        return {object_id: stored.obj for object_id, stored in store.latest_by_id(ids).items()}

    return build_bundle(selected, lookup, export_filter, follow_refs=follow_refs)


def store_identities(store: FeedStore) -> list[dict[str, Any]]:
    """Identities known locally (for resolving producer names)."""
    return store.current_objects(types=["identity"])


# -- from the server -----------------------------------------------------------


def _latest_only(objects: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for obj in objects:
        current = latest.get(obj["id"])
        if current is None or _version_key(obj) > _version_key(current):
            latest[obj["id"]] = obj
    return [latest[object_id] for object_id in sorted(latest)]


class ServerSource:
    """Reads objects of some collections through the lab's TAXII session."""

    def __init__(self, session: TaxiiSession, collection_refs: Sequence[str]) -> None:
        self.session = session
        self.collections = [session.collection(ref) for ref in collection_refs]

    def objects(self, **filters: Any) -> list[dict[str, Any]]:
        """Every object matching the TAXII filters in every collection (follows ``next``)."""
        found: list[dict[str, Any]] = []
        for collection in self.collections:
            what = f"collection {collection.id}"
            envelope = self.session.call(
                what, collection.get_objects, limit=_SERVER_PAGE, **filters
            )
            while True:
                found += [
                    obj
                    for obj in envelope.get("objects") or []
                    if isinstance(obj, dict) and isinstance(obj.get("id"), str)
                ]
                token = envelope.get("next")
                if not envelope.get("more") or not token:
                    break
                envelope = self.session.call(
                    what, collection.get_objects, limit=_SERVER_PAGE, next=token, **filters
                )
        return found

    def latest_by_id(self, ids: set[str]) -> dict[str, dict[str, Any]]:
        wanted = sorted(ids)
        found: list[dict[str, Any]] = []
        for start in range(0, len(wanted), _IDS_PER_REQUEST):
            found += self.objects(id=wanted[start : start + _IDS_PER_REQUEST], version="last")
        return {obj["id"]: obj for obj in _latest_only(found)}


def export_from_server(
    source: ServerSource,
    export_filter: ExportFilter,
    *,
    all_versions: bool = False,
    follow_refs: bool = True,
) -> ExportResult:
    # A revoked object stays revoked in every later version, so "last" suffices to see it.
    filters: dict[str, Any] = {"version": "all" if all_versions else "last"}
    if export_filter.types:
        filters["type"] = sorted(export_filter.types)
    versions = source.objects(**filters)
    latest = _latest_only(versions)
    revoked = {obj["id"] for obj in versions if obj.get("revoked") is True}
    candidates = versions if all_versions else latest
    if not export_filter.include_revoked:
        candidates = [obj for obj in candidates if obj["id"] not in revoked]
    selected = [obj for obj in candidates if export_filter.selects(obj)]
    if all_versions:
        selected = list({(o["id"], _version_key(o)): o for o in selected}.values())
    return build_bundle(selected, source.latest_by_id, export_filter, follow_refs=follow_refs)


def server_identities(source: ServerSource) -> list[dict[str, Any]]:
    return _latest_only(source.objects(type="identity"))

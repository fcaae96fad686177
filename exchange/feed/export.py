"""Analysts' exports from where a lab reads the feed: its local store or the server.

The objects come from the lab's local store (offline, everything it has
synced) or straight from the server (what the lab may read there now). The
filters (``mappings.export_filters``) pick the *selected* objects;
``mappings.export_bundle`` adds what they point at and makes the bundle, the
same code the server's analyst console exports with. By default each object
appears in its latest version only; ``all_versions`` exports history.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from exchange.feed.client import TaxiiSession
from exchange.feed.store import FeedStore
from mappings.export_bundle import ExportResult, build_bundle, version_key
from mappings.export_filters import ExportFilter

# Ids per match[id] request: keeps the URL far below common request-line limits.
_IDS_PER_REQUEST = 40
_SERVER_PAGE = 1000


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
        if current is None or version_key(obj) > version_key(current):
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
        selected = list({(o["id"], version_key(o)): o for o in selected}.values())
    return build_bundle(selected, source.latest_by_id, export_filter, follow_refs=follow_refs)


def server_identities(source: ServerSource) -> list[dict[str, Any]]:
    return _latest_only(source.objects(type="identity"))

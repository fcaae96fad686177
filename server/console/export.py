"""The console's export: the current filter as a validated STIX bundle download.

The bundle is assembled, serialised and validated by exactly the code of
``dx export``: ``mappings.export_bundle.build_bundle`` (the selected objects
plus the identities, markings, extension definitions and directly referenced
objects they need, within the TLP cap and the revocation rule of
``mappings.export_filters``), ``mappings.convert.bundle_json`` and
``mappings.validation.validate_bundle`` with the project's validator
settings: an export that differed between the console and the command line
would be two answers to one question. All of it lives in ``mappings``, so
the server needs nothing of the lab-side package.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mappings.convert import bundle_json
from mappings.export_bundle import build_bundle
from mappings.export_filters import ExportFilter
from mappings.validation import validate_bundle
from server.console import queries
from server.store import Store
from server.store.types import CollectionInfo


@dataclass
class ExportOutcome:
    body: bytes = b""
    count: int = 0
    truncated: bool = False
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def export_bundle(
    store: Store,
    collections: Sequence[CollectionInfo],
    flt: queries.SearchFilter,
    tlp_names: Mapping[int, str],
) -> ExportOutcome:
    rows, truncated = queries.export_selection(store, collections, flt)
    by_collection: dict[str, list[str]] = {}
    for row in rows:
        by_collection.setdefault(row.collection_id, []).append(row.stix_id)
    selected: list[dict[str, Any]] = []
    for collection_id, ids in by_collection.items():
        selected += queries.latest_bodies(store, collection_id, ids).values()
    export_filter = ExportFilter(
        max_tlp=tlp_names.get(flt.max_tlp) if flt.max_tlp is not None else None,
        include_revoked=flt.revoked != "exclude",
    )
    readable = [c.id for c in collections]

    def lookup(ids: set[str]) -> dict[str, dict[str, Any]]:
        found: dict[str, dict[str, Any]] = {}
        for collection_id in readable:
            missing = sorted(ids - set(found))
            if not missing:
                break
            found.update(queries.latest_bodies(store, collection_id, missing))
        return found

    result = build_bundle(selected, lookup, export_filter)
    report = validate_bundle(result.bundle, scope="auto", workers=1)
    if not report.ok:
        return ExportOutcome(count=len(result.bundle["objects"]), errors=list(report.errors))
    return ExportOutcome(
        body=bundle_json(result.bundle, pretty=True),
        count=len(result.bundle["objects"]),
        truncated=truncated,
    )

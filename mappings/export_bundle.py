"""A self-contained STIX bundle cut out of a feed: the objects an export selects
plus what they need to stand on their own in another tool.

Pure (no I/O): the caller selects the objects and gives a ``lookup`` for
references; ``dx export`` (``exchange.feed.export``, from the lab's store or
the server) and the server's analyst console both build their bundles here,
so the two never disagree.

* always, transitively: the identities named by ``created_by_ref``, the
  marking definitions of ``object_marking_refs`` and the extension
  definitions used in ``extensions`` (and *their* identities and markings),
  taken from the feed or, for the project's fixed objects, from
  ``mappings.well_known``;
* unless ``follow_refs`` is off: the objects the selected ones reference
  directly (``member_refs``, ``source_ref``/``target_ref``,
  ``sighting_of_ref``, ...), one level deep.

References obey the TLP cap and the revocation rule (``export_filters``);
those not found (or withheld) are reported and stay dangling, which STIX
allows. The bundle id is derived from its content, so the same export gives
the same bytes.

Every partner with write rights may post objects the exchange's validator
refuses (the server is not a full STIX validator). One such object must not
cost the analyst the whole export, so ``withhold_invalid`` takes the objects
that fail validation on their own out of the bundle and says which.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from mappings.export_filters import ExportFilter
from mappings.timestamps import object_version
from mappings.timestamps import stix_timestamp_key as timestamp_key
from mappings.well_known import WELL_KNOWN_OBJECTS

EXPORT_NAMESPACE = uuid.UUID("0b7f5a1e-5d3c-4f62-9a8e-3c1d2e4f6a70")
# Meta references form short chains (object -> extension definition -> identity).
_MAX_META_DEPTH = 6

Lookup = Callable[[set[str]], dict[str, dict[str, Any]]]


@dataclass
class ExportResult:
    bundle: dict[str, Any]
    selected: int = 0
    referenced: int = 0
    withheld: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)
    invalid: list[InvalidObject] = field(default_factory=list)


@dataclass(frozen=True)
class InvalidObject:
    """An object left out of an export because it fails validation on its own."""

    stix_id: str
    version: str
    error: str


Validate = Callable[[dict[str, Any]], list[str]]
"""A bundle's validation errors (``mappings.validation.validate_bundle(...).errors``)."""


def withhold_invalid(result: ExportResult, validate: Validate) -> list[str]:
    """Take the objects that fail validation out of ``result.bundle``; the remaining errors.

    The whole bundle is validated first (the usual, fast case: no error).
    Otherwise each object is validated alone in a bundle of its own, and
    those with errors are withheld (``result.invalid``, first error each);
    the rest is validated again and its errors returned, so a problem of the
    bundle itself (not of one object) still stops the export.
    """
    errors = validate(result.bundle)
    if not errors:
        return []
    kept: list[dict[str, Any]] = []
    for obj in result.bundle["objects"]:
        alone = validate({"type": "bundle", "id": result.bundle["id"], "objects": [obj]})
        if alone:
            version = object_version(obj) or ""
            result.invalid.append(InvalidObject(str(obj.get("id")), version, alone[0]))
        else:
            kept.append(obj)
    if not result.invalid:
        return errors
    result.bundle = {"type": "bundle", "id": _bundle_id(kept), "objects": kept}
    return validate(result.bundle)


def version_key(obj: Mapping[str, Any]) -> str:
    """The object's version as an ordering key; empty when it has none or it is malformed."""
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
    for key in sorted(f"{obj['id']} {version_key(obj)}" for obj in objects):
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
        chosen[(obj["id"], version_key(obj))] = obj
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
                chosen[(object_id, version_key(referenced))] = dict(referenced)
                present.add(object_id)
                result.referenced += 1
                next_pending |= meta_refs(referenced)
        pending = next_pending
    objects = list(chosen.values())
    result.bundle = {"type": "bundle", "id": _bundle_id(objects), "objects": objects}
    result.withheld = sorted(withheld)
    result.unresolved = sorted(unresolved)
    return result

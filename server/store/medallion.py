"""Reading medallion's data file (the JSON its memory backend loads) into store terms.

The file holds "/discovery" and, per API root name, "information", "status"
and "collections"; each collection lists its STIX "objects" and a "manifest"
whose entries carry the date_added of each (id, version). This module only
parses and validates (every error names where in the file it is); the Store
writes the result in one transaction.

date_added is taken from the manifest entry with the same id and version
(compared as instants, so "…00Z" and "…00.000Z" match); an object with no
such entry gets the import time. The object's version is its "modified",
else its "created", else (objects with neither) its date_added.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from server.store.errors import InvalidInputError
from server.store.objects_write import NewVersion
from server.store.timestamps import (
    format_timestamp_us,
    stix_timestamp_us,
    version_key,
)
from server.store.types import ApiRootInfo, CollectionInfo, StatusDetail, StatusRecord

DISCOVERY_FIELDS = ("title", "description", "contact", "default")
_DEFAULT_COLLECTION_MEDIA_TYPES = ("application/stix+json;version=2.1",)


@dataclass
class CollectionPlan:
    info: CollectionInfo
    versions: list[NewVersion] = field(default_factory=list)


@dataclass
class ImportPlan:
    discovery: dict[str, Any]
    api_roots: list[ApiRootInfo] = field(default_factory=list)
    collections: list[CollectionPlan] = field(default_factory=list)
    statuses: list[StatusRecord] = field(default_factory=list)


def load_document(source: str | Path | dict) -> tuple[dict, str]:
    """The parsed file and a label for error messages."""
    if isinstance(source, dict):
        return source, "medallion data"
    path = Path(source)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise InvalidInputError(f"{path}: cannot read: {error.strerror or error}") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise InvalidInputError(
            f"{path}: line {error.lineno}: not valid JSON: {error.msg}"
        ) from None
    return document, str(path)


def _require(container: Any, key: str, kind: type, where: str) -> Any:
    if not isinstance(container, dict) or key not in container:
        raise InvalidInputError(f"{where}: missing field {key!r}")
    value = container[key]
    if not isinstance(value, kind):
        raise InvalidInputError(f"{where}: field {key!r} must be a {kind.__name__}")
    return value


def _timestamp_us(value: Any, where: str) -> int:
    try:
        return stix_timestamp_us(value)
    except ValueError as error:
        raise InvalidInputError(f"{where}: {error}") from None


def _version_key(value: Any, where: str) -> str:
    try:
        return version_key(value)
    except ValueError as error:
        raise InvalidInputError(f"{where}: {error}") from None


def _media_type_version(media_type: Any) -> str | None:
    if isinstance(media_type, str) and "version=" in media_type:
        return media_type.split("version=", 1)[1].strip() or None
    return None


def _manifest_index(
    manifest: list, where: str
) -> tuple[dict[tuple[str, str], dict], dict[str, list[dict]]]:
    by_version: dict[tuple[str, str], dict] = {}
    by_id: dict[str, list[dict]] = {}
    for position, entry in enumerate(manifest):
        entry_where = f"{where}: manifest[{position}]"
        stix_id = _require(entry, "id", str, entry_where)
        _require(entry, "date_added", str, entry_where)
        _timestamp_us(entry["date_added"], f"{entry_where}: date_added")
        by_id.setdefault(stix_id, []).append(entry)
        if "version" in entry:
            key = _version_key(entry["version"], f"{entry_where}: version")
            by_version[(stix_id, key)] = entry
    return by_version, by_id


def _plan_version(
    obj: Any,
    where: str,
    by_version: dict[tuple[str, str], dict],
    by_id: dict[str, list[dict]],
    now_us: int,
) -> NewVersion:
    stix_id = _require(obj, "id", str, where)
    obj_type = obj.get("type") if isinstance(obj.get("type"), str) else stix_id.split("--", 1)[0]
    stated = obj.get("modified") or obj.get("created")
    entry: dict | None = None
    if stated is not None:
        key = _version_key(stated, f"{where}: modified/created")
        entry = by_version.get((stix_id, key))
        date_added_us = _timestamp_us(entry["date_added"], where) if entry is not None else now_us
        version = stated
    else:
        candidates = by_id.get(stix_id, [])
        entry = candidates[0] if len(candidates) == 1 else None
        date_added_us = _timestamp_us(entry["date_added"], where) if entry is not None else now_us
        version = format_timestamp_us(date_added_us)
        key = _version_key(version, where)
    spec_version = obj.get("spec_version")
    if not isinstance(spec_version, str):
        spec_version = _media_type_version(entry.get("media_type") if entry else None)
    if spec_version is None:
        # STIX 2.1: objects without spec_version are 2.0, except cyber-observables
        # (no created/modified), which only exist as top-level objects in 2.1.
        spec_version = "2.0" if stated is not None else "2.1"
    return NewVersion(
        stix_id=stix_id,
        obj_type=obj_type,
        version=version,
        version_key=key,
        spec_version=spec_version,
        body=orjson.dumps(obj).decode("utf-8"),
        date_added_us=date_added_us,
    )


def _plan_collection(raw: Any, api_root: str, where: str, now_us: int) -> CollectionPlan:
    collection_id = _require(raw, "id", str, where)
    where = f"{where} ({collection_id})"
    media_types = raw.get("media_types") or list(_DEFAULT_COLLECTION_MEDIA_TYPES)
    if not isinstance(media_types, list) or not all(isinstance(m, str) for m in media_types):
        raise InvalidInputError(f"{where}: media_types must be a list of strings")
    info = CollectionInfo(
        id=collection_id,
        api_root=api_root,
        title=str(raw.get("title", "")),
        description=str(raw.get("description", "")),
        alias=raw.get("alias") if isinstance(raw.get("alias"), str) else None,
        media_types=tuple(media_types),
    )
    manifest = raw.get("manifest", [])
    stix_objects = raw.get("objects", [])
    if not isinstance(manifest, list):
        raise InvalidInputError(f"{where}: field 'manifest' must be a list")
    if not isinstance(stix_objects, list):
        raise InvalidInputError(f"{where}: field 'objects' must be a list")
    by_version, by_id = _manifest_index(manifest, where)
    versions = [
        _plan_version(obj, f"{where}: objects[{position}]", by_version, by_id, now_us)
        for position, obj in enumerate(stix_objects)
    ]
    # Stored in date_added order so that seq order agrees with it.
    versions.sort(key=lambda version: version.date_added_us or 0)  # always set here
    return CollectionPlan(info=info, versions=versions)


def _details(raw: Any, key: str, where: str) -> list[StatusDetail]:
    items = raw.get(key, [])
    if not isinstance(items, list):
        raise InvalidInputError(f"{where}: field {key!r} must be a list")
    details = []
    for position, item in enumerate(items):
        item_where = f"{where}: {key}[{position}]"
        details.append(
            StatusDetail(
                id=_require(item, "id", str, item_where),
                version=str(item.get("version", "")),
                message=str(item.get("message", "")),
            )
        )
    return details


def _plan_status(raw: Any, api_root: str, where: str, now_us: int) -> StatusRecord:
    status_id = _require(raw, "id", str, where)
    where = f"{where} ({status_id})"
    timestamp = raw.get("request_timestamp")
    return StatusRecord(
        id=status_id,
        api_root=api_root,
        partner_id=None,
        status=str(raw.get("status", "complete")),
        request_timestamp_us=(
            _timestamp_us(timestamp, f"{where}: request_timestamp")
            if timestamp is not None
            else now_us
        ),
        successes=_details(raw, "successes", where),
        failures=_details(raw, "failures", where),
        pendings=_details(raw, "pendings", where),
    )


def _max_content_length(information: dict, where: str) -> int:
    value = information.get("max_content_length", 10 * 1024 * 1024)
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidInputError(f"{where}: max_content_length must be a positive integer")
    return value


def plan_import(document: Any, label: str, now_us: int) -> ImportPlan:
    """Validate the whole file and turn it into store records, before anything is written."""
    if not isinstance(document, dict):
        raise InvalidInputError(f"{label}: the top level must be a JSON object")
    discovery_raw = document.get("/discovery", {})
    if not isinstance(discovery_raw, dict):
        raise InvalidInputError(f"{label}: '/discovery' must be an object")
    plan = ImportPlan(
        discovery={key: discovery_raw[key] for key in DISCOVERY_FIELDS if key in discovery_raw}
    )
    for name, root in document.items():
        if name == "/discovery":
            continue
        where = f"{label}: API root {name!r}"
        information = _require(root, "information", dict, where)
        plan.api_roots.append(
            ApiRootInfo(
                name=name,
                title=str(information.get("title", name)),
                description=str(information.get("description", "")),
                versions=tuple(
                    information.get("versions") or ("application/taxii+json;version=2.1",)
                ),
                max_content_length=_max_content_length(information, where),
            )
        )
        raw_collections = root.get("collections", [])
        if not isinstance(raw_collections, list):
            raise InvalidInputError(f"{where}: field 'collections' must be a list")
        for position, raw in enumerate(raw_collections):
            plan.collections.append(
                _plan_collection(raw, name, f"{where}: collections[{position}]", now_us)
            )
        raw_statuses = root.get("status", [])
        if not isinstance(raw_statuses, list):
            raise InvalidInputError(f"{where}: field 'status' must be a list")
        for position, raw in enumerate(raw_statuses):
            plan.statuses.append(_plan_status(raw, name, f"{where}: status[{position}]", now_us))
    return plan

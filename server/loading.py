"""Loading a STIX bundle file straight into a collection, as a given partner.

Administrators seed collections from files (``dx server load``, the demo).
The objects go through exactly the checks a POST gets (STIX shape, provenance,
TLP cap) so a file cannot smuggle in what the HTTP API would refuse; the
result is a status record like a POST's, saved for the partner.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import orjson

from server.store import Store
from server.store.types import CollectionInfo, Partner, StatusRecord
from server.taxii.creators import refuse_foreign_versions
from server.taxii.stix_checks import check_objects


class LoadError(ValueError):
    """A file that cannot be loaded at all, phrased as one line naming the file."""


def read_objects_file(path: Path) -> list[Any]:
    """The objects of a STIX bundle, a TAXII envelope or a plain JSON list of objects."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise LoadError(f"{path}: not valid UTF-8 JSON: {exc}") from None
    if isinstance(document, list):
        objects = document
    elif isinstance(document, dict) and isinstance(document.get("objects"), list):
        objects = document["objects"]
    else:
        raise LoadError(
            f"{path}: line 1: expected a STIX bundle or TAXII envelope with an 'objects' list"
        )
    if not objects:
        raise LoadError(f"{path}: 'objects' is empty")
    return objects


def load_objects(
    store: Store,
    collection: CollectionInfo,
    partner: Partner,
    objects: list[Any],
) -> StatusRecord:
    """Check and store ``objects`` as if ``partner`` had POSTed them; returns the status."""
    received_us = time.time_ns() // 1000
    accepted, rejected = check_objects(objects, collection, partner)
    accepted, rejected = refuse_foreign_versions(store, collection, partner, accepted, rejected)
    return store.add_objects(
        collection.api_root, collection.id, partner.id, accepted, rejected, received_us
    )


def find_collection(store: Store, api_root: str, id_or_alias: str) -> CollectionInfo | None:
    """A collection by id or alias (what an administrator is likely to type)."""
    found = store.get_collection(api_root, id_or_alias)
    if found is not None:
        return found
    for candidate in store.list_collections(api_root):
        if id_or_alias in (candidate.alias, candidate.title):
            return candidate
    return None

"""Only an object's creator may publish new versions of it.

Provenance checks ``created_by_ref`` on each posted object, but an object
posted *without* ``created_by_ref`` (or with the poster's own identity) could
still be a new version of an object that another lab created, which would let
one partner overwrite another's indicator as its "latest version". STIX says
only the object creator may version an object, so in collections that enforce
provenance a posted version is refused when the object already exists there
and its first stored version names a different ``created_by_ref``. One indexed
query per few hundred posted ids; nothing is read when the ids are new.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from server.store import Store
from server.store.types import CollectionInfo, IncomingObject, ObjectQuery, Partner, StatusDetail

ID_CHUNK = 500
ALL_SPEC_VERSIONS = ("2.0", "2.1")


def _creators(store: Store, collection_id: str, ids: Sequence[str]) -> dict[str, str | None]:
    """created_by_ref of the first stored version of each id that exists in the collection."""
    creators: dict[str, str | None] = {}
    for start in range(0, len(ids), ID_CHUNK):
        chunk = tuple(ids[start : start + ID_CHUNK])
        query = ObjectQuery(
            ids=chunk, versions=("first",), spec_versions=ALL_SPEC_VERSIONS, limit=len(chunk) * 2
        )
        for row in store.query_objects(collection_id, query, with_body=True).rows:
            try:
                creator = orjson.loads(row.body or "{}").get("created_by_ref")
            except orjson.JSONDecodeError:
                creator = None
            creators.setdefault(row.stix_id, creator if isinstance(creator, str) else None)
    return creators


def refuse_foreign_versions(
    store: Store,
    collection: CollectionInfo,
    partner: Partner,
    accepted: list[IncomingObject],
    rejected: list[StatusDetail],
) -> tuple[list[IncomingObject], list[StatusDetail]]:
    """Move versions of other identities' objects from ``accepted`` to ``rejected``."""
    if not collection.enforce_provenance or not accepted:
        return accepted, rejected
    ids = list(dict.fromkeys(obj.stix_id for obj in accepted))
    creators = _creators(store, collection.id, ids)
    kept: list[IncomingObject] = []
    refused = list(rejected)
    for obj in accepted:
        creator = creators.get(obj.stix_id)
        if creator is not None and creator != partner.identity_ref:
            refused.append(
                StatusDetail(
                    obj.stix_id,
                    obj.version,
                    f"{obj.stix_id} was created by {creator}; only its creator may add versions",
                )
            )
        else:
            kept.append(obj)
    return kept, refused

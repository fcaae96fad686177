"""Only an object's creator may publish new versions of it.

Provenance checks ``created_by_ref`` on each posted object, but an object
posted *without* ``created_by_ref`` (or with the poster's own identity) could
still be a new version of an object that another lab created, which would let
one partner overwrite another's indicator as its "latest version". STIX says
only the object creator may version an object, so in collections that enforce
provenance a posted version is refused when the object already exists there
and its first stored version names a different ``created_by_ref``. One indexed
query per few hundred posted ids (one per batch on PostgreSQL); nothing is read
when the ids are new.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson

from mappings.well_known import WELL_KNOWN_IDS
from server.store import Store
from server.store.timestamps import version_key
from server.store.types import CollectionInfo, IncomingObject, ObjectQuery, Partner, StatusDetail

PAGE = 1000
ALL_SPEC_VERSIONS = ("2.0", "2.1")


def _creators(store: Store, collection_id: str, ids: Sequence[str]) -> dict[str, str | None]:
    """created_by_ref of the first stored version of each id that exists in the collection.

    Asks for every version of the ids (a plain IN on the stix_id index; objects
    have few versions) and picks the earliest here, which is cheaper for the
    databases than a per-row "first version" subquery.
    """
    first: dict[str, tuple[str, str | None]] = {}
    per_query = store.ids_per_query
    for start in range(0, len(ids), per_query):
        chunk = tuple(ids[start : start + per_query])
        after = None
        while True:
            query = ObjectQuery(
                ids=chunk,
                versions=("all",),
                spec_versions=ALL_SPEC_VERSIONS,
                limit=PAGE,
                after=after,
            )
            page = store.query_objects(collection_id, query, with_body=True)
            for row in page.rows:
                key = version_key(row.version)
                if row.stix_id not in first or key < first[row.stix_id][0]:
                    first[row.stix_id] = (key, _creator(row.body))
            if not page.more:
                break
            after = page.last
    return {stix_id: creator for stix_id, (_, creator) in first.items()}


def _creator(body: str | None) -> str | None:
    try:
        creator = orjson.loads(body or "{}").get("created_by_ref")
    except orjson.JSONDecodeError:
        return None
    return creator if isinstance(creator, str) else None


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
    # Well-known objects were checked to be exact copies: any partner may post them.
    ids = list(dict.fromkeys(o.stix_id for o in accepted if o.stix_id not in WELL_KNOWN_IDS))
    creators = _creators(store, collection.id, ids)
    kept: list[IncomingObject] = []
    refused = list(rejected)
    for obj in accepted:
        creator = None if obj.stix_id in WELL_KNOWN_IDS else creators.get(obj.stix_id)
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

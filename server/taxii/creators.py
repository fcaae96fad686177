"""Only an object's creator may publish new versions of it.

Provenance checks ``created_by_ref`` on each posted object, but an object
posted *without* ``created_by_ref`` (or with the poster's own identity) could
still be a new version of an object that another lab created, which would let
one partner overwrite another's indicator as its "latest version". STIX says
only the object creator may version an object, so in collections that enforce
provenance a posted version is refused when the object already exists there
and its first stored version names a different ``created_by_ref``. One indexed
query per few hundred posted ids (one per batch on PostgreSQL) that returns
one short row per id already in the collection (``Store.first_creators``).
"""

from __future__ import annotations

from mappings.well_known import WELL_KNOWN_IDS
from server.store import Store
from server.store.types import CollectionInfo, IncomingObject, Partner, StatusDetail


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
    creators = store.first_creators(collection.id, ids)
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

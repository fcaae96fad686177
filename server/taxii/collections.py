"""Collections endpoints (TAXII 2.1 sections 5.1, 5.2): what this partner may use.

``can_read``/``can_write`` are the requesting partner's own grants, not a
property of the collection; collections without a grant are left out.
"""

from __future__ import annotations

from flask import Blueprint, Response

from server.store.types import CollectionInfo, Grant
from server.taxii.access import visible_api_root, visible_collection
from server.taxii.context import current_partner, server_context
from server.taxii.responses import taxii_json

blueprint = Blueprint("taxii_collections", __name__)


def collection_document(collection: CollectionInfo, grant: Grant) -> dict[str, object]:
    document: dict[str, object] = {"id": collection.id, "title": collection.title}
    if collection.description:
        document["description"] = collection.description
    if collection.alias:
        document["alias"] = collection.alias
    document["can_read"] = grant.can_read
    document["can_write"] = grant.can_write
    document["media_types"] = list(collection.media_types)
    return document


@blueprint.get("/<api_root>/collections/")
def collections(api_root: str) -> Response:
    visible_api_root(api_root)
    ctx = server_context()
    grants = ctx.store.grants_for(current_partner().id, api_root)
    listed = [
        collection_document(collection, grants[collection.id])
        for collection in sorted(
            ctx.store.list_collections(api_root), key=lambda c: (c.title, c.id)
        )
        if collection.id in grants
        and (grants[collection.id].can_read or grants[collection.id].can_write)
    ]
    return taxii_json({"collections": listed} if listed else {})


@blueprint.get("/<api_root>/collections/<collection_id>/")
def collection(api_root: str, collection_id: str) -> Response:
    access = visible_collection(api_root, collection_id)
    return taxii_json(collection_document(access.collection, access.grant))

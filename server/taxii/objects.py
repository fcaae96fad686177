"""Object endpoints (TAXII 2.1 sections 5.3-5.8): manifest, objects, object, versions.

Reads need a read grant, POST a write grant, DELETE both (section 5.7). A
partner may delete only versions it published: if every matching version is
another partner's the answer is 403, if nothing matches 404.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterator

from flask import Blueprint, Response, request

from server.store.types import IncomingObject, ObjectQuery, StatusDetail
from server.taxii import responses
from server.taxii.access import (
    CollectionAccess,
    require_delete,
    require_read,
    require_write,
    visible_collection,
)
from server.taxii.body import number_out_of_range, parse_envelope, read_body
from server.taxii.context import current_partner, server_context
from server.taxii.creators import refuse_foreign_versions
from server.taxii.cursor import Scope
from server.taxii.errors import TaxiiError
from server.taxii.filters import (
    COLLECTION_LISTING,
    DELETION,
    SINGLE_OBJECT,
    VERSIONS_LISTING,
    is_stix_id,
    parse_listing_request,
)
from server.taxii.media import TAXII_CONTENT_TYPE, is_taxii_content_type
from server.taxii.paging import next_token, paged_query
from server.taxii.server_info import status_document
from server.taxii.stix_checks import CheckRules, NumberOutOfRange, check_objects

blueprint = Blueprint("taxii_objects", __name__)

_PREFIX = "/<api_root>/collections/<collection_id>"
# Objects checked per chunk of a POST: small enough that the store has work for
# the database soon after the request starts, large enough that each chunk's
# few statements stay a small part of its time. The first chunks are smaller
# (500, then 1,000): the writer waits for the first, and would wait again for a
# full-size second one while writing a small first.
CHECK_CHUNK = 2_000
FIRST_CHECK_CHUNK = 500


def _readable(api_root: str, collection_id: str) -> CollectionAccess:
    access = visible_collection(api_root, collection_id)
    require_read(access)
    return access


def _object_not_found(object_id: str) -> TaxiiError:
    return TaxiiError(
        404, f"No object '{object_id}' in this collection.", error_code="object-not-found"
    )


def _exists(collection_id: str, object_id: str) -> bool:
    page = server_context().store.get_versions(collection_id, object_id, ObjectQuery(limit=1))
    return bool(page.rows)


@blueprint.get(f"{_PREFIX}/manifest/")
def manifest(api_root: str, collection_id: str) -> Response:
    access = _readable(api_root, collection_id)
    paged = paged_query(request.args, COLLECTION_LISTING, Scope("manifest", access.collection.id))
    page = server_context().store.query_objects(access.collection.id, paged.query, with_body=False)
    return responses.manifest(page.rows, page.more, next_token(paged, page))


@blueprint.get(f"{_PREFIX}/objects/")
def get_objects(api_root: str, collection_id: str) -> Response:
    access = _readable(api_root, collection_id)
    paged = paged_query(request.args, COLLECTION_LISTING, Scope("objects", access.collection.id))
    page = server_context().store.query_objects(access.collection.id, paged.query, with_body=True)
    return responses.envelope(page.rows, page.more, next_token(paged, page))


@blueprint.post(f"{_PREFIX}/objects/")
def add_objects(api_root: str, collection_id: str) -> Response:
    ctx = server_context()
    access = visible_collection(api_root, collection_id)
    require_write(access)
    if not is_taxii_content_type(request.headers.get("Content-Type")):
        raise TaxiiError(
            415,
            "Send the envelope as Content-Type: application/taxii+json;version=2.1.",
            error_code="unsupported-content-type",
        )
    root = ctx.store.get_api_root(api_root)
    if root is None:  # pragma: no cover - the collection lookup already proved it exists
        raise TaxiiError(404, f"No API root '{api_root}'.", error_code="api-root-not-found")
    received_us = time.time_ns() // 1000
    envelope = parse_envelope(
        read_body(request, root.max_content_length), ctx.config.max_objects_per_request
    )
    partner = current_partner()
    rules = CheckRules.current(ctx.config.max_future_skew_seconds, numbers_refuse_request=True)

    def checked_chunks() -> Iterator[tuple[list[IncomingObject], list[StatusDetail]]]:
        # Checked a chunk at a time where the store writes one while the next is checked.
        objects = envelope.objects
        for start, stop in _check_chunks(len(objects), ctx.store.writes_while_checking):
            try:
                accepted, rejected = check_objects(
                    objects[start:stop], access.collection, partner, rules
                )
            except NumberOutOfRange as found:
                raise number_out_of_range(start + found.position, found.where) from None
            yield refuse_foreign_versions(ctx.store, access.collection, partner, accepted, rejected)

    status = ctx.store.add_object_chunks(
        api_root, access.collection.id, partner.id, checked_chunks(), received_us
    )
    return responses.taxii_json(status_document(status), status=202)


def _check_chunks(count: int, writes_while_checking: bool) -> Iterator[tuple[int, int]]:
    """(start, stop) of each chunk of a POST's ``count`` objects, in order."""
    if not writes_while_checking:
        yield 0, count  # one batch: nothing to overlap with
        return
    start, size = 0, FIRST_CHECK_CHUNK
    while start < count:
        yield start, min(start + size, count)
        start, size = start + size, min(2 * size, CHECK_CHUNK)


def _checked_object_id(object_id: str) -> str:
    if not is_stix_id(object_id):
        raise _object_not_found(object_id)
    return object_id


@blueprint.get(f"{_PREFIX}/objects/<object_id>/")
def get_object(api_root: str, collection_id: str, object_id: str) -> Response:
    access = _readable(api_root, collection_id)
    object_id = _checked_object_id(object_id)
    collection = access.collection.id
    paged = paged_query(request.args, SINGLE_OBJECT, Scope("object", collection, object_id))
    query = dataclasses.replace(paged.query, ids=(object_id,), types=())
    page = server_context().store.query_objects(collection, query, with_body=True)
    if not page.rows and not paged.continues and not _exists(collection, object_id):
        raise _object_not_found(object_id)
    return responses.envelope(page.rows, page.more, next_token(paged, page))


@blueprint.delete(f"{_PREFIX}/objects/<object_id>/")
def delete_object(api_root: str, collection_id: str, object_id: str) -> Response:
    access = visible_collection(api_root, collection_id)
    require_delete(access)
    object_id = _checked_object_id(object_id)
    filters = parse_listing_request(request.args, DELETION).filters
    # Without match[version] a DELETE removes every version of the object: the
    # endpoint deletes "an object", and its versions are that object.
    query = ObjectQuery(
        ids=(object_id,),
        versions=filters.versions or ("all",),
        spec_versions=filters.spec_versions,
    )
    result = server_context().store.delete_object(
        access.collection.id, object_id, query, current_partner().id
    )
    if result.deleted == 0:
        if result.not_owned > 0:
            raise TaxiiError(
                403,
                "The matching versions were published by another partner; "
                "you may delete only your own.",
                error_code="not-your-object",
            )
        raise _object_not_found(object_id)
    return Response(b"", status=200, headers={"Content-Type": TAXII_CONTENT_TYPE})


@blueprint.get(f"{_PREFIX}/objects/<object_id>/versions/")
def versions(api_root: str, collection_id: str, object_id: str) -> Response:
    access = _readable(api_root, collection_id)
    object_id = _checked_object_id(object_id)
    collection = access.collection.id
    paged = paged_query(request.args, VERSIONS_LISTING, Scope("versions", collection, object_id))
    page = server_context().store.get_versions(collection, object_id, paged.query)
    if not page.rows and not paged.continues and not _exists(collection, object_id):
        raise _object_not_found(object_id)
    return responses.versions(page.rows, page.more, next_token(paged, page))

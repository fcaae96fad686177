"""Who may see and do what: API roots and collections as one partner sees them.

A partner sees only the collections it holds a read or write grant on; any
other collection answers 404 exactly like one that does not exist, so the
existence of a collection never leaks. An API root is visible to a partner
holding at least one grant in it. Where the partner can see a collection but
lacks the right for the operation, the answer is 403 (TAXII 2.1 sections 5.3-5.7).
"""

from __future__ import annotations

from dataclasses import dataclass

from server.store.types import ApiRootInfo, CollectionInfo, Grant
from server.taxii.context import current_partner, server_context
from server.taxii.errors import TaxiiError

_NO_ACCESS = Grant(can_read=False, can_write=False)


@dataclass(frozen=True)
class CollectionAccess:
    collection: CollectionInfo
    grant: Grant


def _visible(grant: Grant | None) -> bool:
    return grant is not None and (grant.can_read or grant.can_write)


def is_storable_name(value: str) -> bool:
    """False for a name no API root or collection can have: one with a NUL character.

    PostgreSQL text cannot hold NUL, so looking such a name up would fail in the
    driver; it is simply not found (404), as on SQLite.
    """
    return "\x00" not in value


def visible_api_root(name: str) -> ApiRootInfo:
    ctx = server_context()
    root = ctx.store.get_api_root(name) if is_storable_name(name) else None
    if root is None or not any(
        _visible(g) for g in ctx.store.grants_for(current_partner().id, name).values()
    ):
        raise TaxiiError(
            404,
            f"No API root '{name}' (or you have no access to it).",
            error_code="api-root-not-found",
        )
    return root


def visible_api_root_names() -> list[str]:
    ctx = server_context()
    partner = current_partner()
    return [
        root.name
        for root in ctx.store.list_api_roots()
        if any(_visible(g) for g in ctx.store.grants_for(partner.id, root.name).values())
    ]


def _find_collection(api_root: str, collection_id: str) -> tuple[CollectionInfo, Grant] | None:
    """By id, else by alias (TAXII 2.1 section 5.2.1 lets an alias stand in for the id),
    with this partner's grant on it; by id, both come in one query."""
    store = server_context().store
    if len(collection_id) > 200 or not is_storable_name(collection_id + api_root):
        return None
    partner_id = current_partner().id
    found = store.collection_with_grant(api_root, collection_id, partner_id)
    if found is not None:
        return found
    for candidate in store.list_collections(api_root):
        if candidate.alias is not None and candidate.alias == collection_id:
            return candidate, store.get_grant(partner_id, candidate.id) or _NO_ACCESS
    return None


def visible_collection(api_root: str, collection_id: str) -> CollectionAccess:
    """The collection and this partner's grant on it, or 404 if the partner may not see it."""
    found = _find_collection(api_root, collection_id)
    collection, grant = found if found is not None else (None, _NO_ACCESS)
    if collection is None or not _visible(grant):
        raise TaxiiError(
            404,
            f"No collection '{collection_id}' in API root '{api_root}' "
            "(or you have no access to it).",
            error_code="collection-not-found",
        )
    return CollectionAccess(collection, grant)


def require_read(access: CollectionAccess) -> None:
    if not access.grant.can_read:
        raise TaxiiError(
            403, "You may not read this collection (no read grant).", error_code="no-read-grant"
        )


def require_write(access: CollectionAccess) -> None:
    if not access.grant.can_write:
        raise TaxiiError(
            403,
            "You may not add objects to this collection (no write grant).",
            error_code="no-write-grant",
        )


def require_delete(access: CollectionAccess) -> None:
    """TAXII 2.1 section 5.7: DELETE needs both can_read and can_write."""
    if not (access.grant.can_read and access.grant.can_write):
        raise TaxiiError(
            403,
            "Deleting needs both read and write grants on this collection.",
            error_code="no-delete-grant",
        )

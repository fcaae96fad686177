"""Partners (the labs that authenticate with HTTP Basic) and their per-collection grants.

API keys are 256-bit random strings made here, shown to the administrator
once and stored only as their SHA-256: with that much entropy a fast hash
is enough (there is nothing to brute-force), and it keeps authentication to
one indexed lookup. Nothing is cached, so a rotated or revoked key stops
working at once in every server process.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets

from sqlalchemy import Connection, and_, insert, select, update

from server.store.catalog import collection_from_row
from server.store.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from server.store.schema import collections, grants, partners
from server.store.sql_helpers import upsert
from server.store.types import CollectionInfo, Grant, Partner, PartnerGrant

_PARTNER_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,99}", re.ASCII)
_IDENTITY_REF = re.compile(
    r"identity--[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.ASCII
)
# Compared against when the partner id is unknown, so timing does not reveal which ids exist.
_NO_SUCH_KEY_HASH = hashlib.sha256(b"no such partner").hexdigest()
NO_ACCESS = Grant(can_read=False, can_write=False)


def new_api_key() -> str:
    return secrets.token_urlsafe(32)


def hash_api_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode("utf-8")).hexdigest()


def validate_partner_fields(partner_id: str, name: str, identity_ref: str) -> None:
    if not isinstance(partner_id, str) or not _PARTNER_ID.fullmatch(partner_id):
        raise InvalidInputError(
            f"partner id {partner_id!r} must be 1-100 characters of letters, digits and ._@- "
            "(it is the HTTP Basic user name, so no colon or space)"
        )
    if not isinstance(name, str) or not name.strip():
        raise InvalidInputError(f"partner {partner_id!r}: name must not be empty")
    if not isinstance(identity_ref, str) or not _IDENTITY_REF.fullmatch(identity_ref):
        raise InvalidInputError(
            f"partner {partner_id!r}: identity_ref {identity_ref!r} "
            "must be identity--<lowercase uuid>"
        )


def _partner_from_row(row) -> Partner:
    return Partner(id=row.id, name=row.name, identity_ref=row.identity_ref, active=row.active)


def create_partner(
    connection: Connection, partner_id: str, name: str, identity_ref: str, now_us: int
) -> str:
    validate_partner_fields(partner_id, name, identity_ref)
    if connection.execute(select(partners.c.id).where(partners.c.id == partner_id)).first():
        raise AlreadyExistsError(f"partner {partner_id!r} already exists")
    api_key = new_api_key()
    connection.execute(
        insert(partners).values(
            id=partner_id,
            name=name,
            identity_ref=identity_ref,
            active=True,
            key_hash=hash_api_key(api_key),
            key_created_us=now_us,
        )
    )
    return api_key


def replace_key(connection: Connection, partner_id: str, now_us: int) -> str:
    api_key = new_api_key()
    result = connection.execute(
        update(partners)
        .where(partners.c.id == partner_id)
        .values(key_hash=hash_api_key(api_key), key_created_us=now_us)
    )
    if result.rowcount != 1:
        raise NotFoundError(f"no partner {partner_id!r}")
    return api_key


def set_active(connection: Connection, partner_id: str, active: bool) -> None:
    result = connection.execute(
        update(partners).where(partners.c.id == partner_id).values(active=active)
    )
    if result.rowcount != 1:
        raise NotFoundError(f"no partner {partner_id!r}")


def authenticate(connection: Connection, partner_id: str, api_key: str) -> Partner | None:
    row = connection.execute(select(partners).where(partners.c.id == partner_id)).first()
    return partner_if_key_matches(row, api_key)


def partner_if_key_matches(row, api_key: str) -> Partner | None:
    """The active partner of this ``partners`` row if ``api_key`` is its key (None: no row).

    The hashes are compared in constant time, and an unknown partner is compared
    against a dummy hash, so timing tells neither how much of a key was right
    nor whether the partner id exists.
    """
    stored_hash = row.key_hash if row is not None else _NO_SUCH_KEY_HASH
    key_matches = hmac.compare_digest(hash_api_key(api_key), stored_hash)
    if row is None or not key_matches or not row.active:
        return None
    return _partner_from_row(row)


def get_partner(connection: Connection, partner_id: str) -> Partner | None:
    row = connection.execute(select(partners).where(partners.c.id == partner_id)).first()
    return _partner_from_row(row) if row is not None else None


def list_partners(connection: Connection) -> list[Partner]:
    rows = connection.execute(select(partners).order_by(partners.c.id))
    return [_partner_from_row(row) for row in rows]


def put_grant(
    connection: Connection, partner_id: str, collection_id: str, can_read: bool, can_write: bool
) -> None:
    if get_partner(connection, partner_id) is None:
        raise NotFoundError(f"no partner {partner_id!r}")
    found = connection.execute(
        select(collections.c.id).where(collections.c.id == collection_id)
    ).first()
    if found is None:
        raise NotFoundError(f"no collection {collection_id!r}")
    upsert(
        connection,
        grants,
        {
            "partner_id": partner_id,
            "collection_id": collection_id,
            "can_read": bool(can_read),
            "can_write": bool(can_write),
        },
        key_columns=("partner_id", "collection_id"),
        update_columns=("can_read", "can_write"),
    )


def get_grant(connection: Connection, partner_id: str, collection_id: str) -> Grant:
    row = connection.execute(
        select(grants.c.can_read, grants.c.can_write).where(
            grants.c.partner_id == partner_id, grants.c.collection_id == collection_id
        )
    ).first()
    return Grant(row.can_read, row.can_write) if row is not None else NO_ACCESS


def collection_with_grant(
    connection: Connection, api_root: str, collection_id: str, partner_id: str
) -> tuple[CollectionInfo, Grant] | None:
    """The collection (by id) and the partner's grant on it, in one statement.

    Every TAXII request on a collection needs both; one statement is one round
    trip instead of two on PostgreSQL.
    """
    row = connection.execute(
        select(collections, grants.c.can_read, grants.c.can_write)
        .outerjoin(
            grants,
            and_(grants.c.collection_id == collections.c.id, grants.c.partner_id == partner_id),
        )
        .where(collections.c.id == collection_id, collections.c.api_root == api_root)
    ).first()
    if row is None:
        return None
    grant = (
        Grant(bool(row.can_read), bool(row.can_write)) if row.can_read is not None else NO_ACCESS
    )
    return collection_from_row(row), grant


def grants_in_api_root(connection: Connection, partner_id: str, api_root: str) -> dict[str, Grant]:
    rows = connection.execute(
        select(grants.c.collection_id, grants.c.can_read, grants.c.can_write)
        .join(collections, collections.c.id == grants.c.collection_id)
        .where(grants.c.partner_id == partner_id, collections.c.api_root == api_root)
    )
    return {row.collection_id: Grant(row.can_read, row.can_write) for row in rows}


def list_grants(connection: Connection, partner_id: str | None) -> list[PartnerGrant]:
    statement = select(grants).order_by(grants.c.partner_id, grants.c.collection_id)
    if partner_id is not None:
        statement = statement.where(grants.c.partner_id == partner_id)
    return [
        PartnerGrant(row.partner_id, row.collection_id, row.can_read, row.can_write)
        for row in connection.execute(statement)
    ]

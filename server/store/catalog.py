"""API roots, collections and the discovery document: the small, slow-changing catalogue."""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Connection, func, select
from sqlalchemy.exc import IntegrityError

from server.store.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from server.store.schema import api_roots, collections, objects, settings
from server.store.sql_helpers import upsert
from server.store.types import ApiRootInfo, CollectionInfo, Tlp

DISCOVERY_KEY = "discovery"


def _validate_api_root(info: ApiRootInfo) -> None:
    name = info.name
    if not isinstance(name, str) or not name or "/" in name or name != name.strip():
        raise InvalidInputError(f"API root name {name!r} must be one non-empty path segment")
    if info.max_content_length < 1:
        raise InvalidInputError(
            f"API root {name!r}: max_content_length must be positive, got {info.max_content_length}"
        )


def put_api_root(connection: Connection, info: ApiRootInfo) -> None:
    _validate_api_root(info)
    upsert(
        connection,
        api_roots,
        {
            "name": info.name,
            "title": info.title,
            "description": info.description,
            "versions": list(info.versions),
            "max_content_length": info.max_content_length,
        },
        key_columns=("name",),
        update_columns=("title", "description", "versions", "max_content_length"),
    )


def _api_root_from_row(row) -> ApiRootInfo:
    return ApiRootInfo(
        name=row.name,
        title=row.title,
        description=row.description,
        versions=tuple(row.versions),
        max_content_length=row.max_content_length,
    )


def get_api_root(connection: Connection, name: str) -> ApiRootInfo | None:
    row = connection.execute(select(api_roots).where(api_roots.c.name == name)).first()
    return _api_root_from_row(row) if row is not None else None


def list_api_roots(connection: Connection) -> list[ApiRootInfo]:
    return [
        _api_root_from_row(row)
        for row in connection.execute(select(api_roots).order_by(api_roots.c.name))
    ]


def _validate_collection(info: CollectionInfo) -> None:
    try:
        uuid.UUID(info.id)
    except (ValueError, TypeError, AttributeError):
        raise InvalidInputError(f"collection id {info.id!r} is not a UUID") from None
    if info.max_tlp is not None and not isinstance(info.max_tlp, Tlp):
        raise InvalidInputError(
            f"collection {info.id}: max_tlp must be a Tlp, got {info.max_tlp!r}"
        )


def put_collection(connection: Connection, info: CollectionInfo) -> None:
    """Create or update a collection; its objects and date_added counter are kept."""
    _validate_collection(info)
    if get_api_root(connection, info.api_root) is None:
        raise NotFoundError(f"no API root {info.api_root!r}")
    existing_root = connection.execute(
        select(collections.c.api_root).where(collections.c.id == info.id)
    ).scalar_one_or_none()
    if existing_root is not None and existing_root != info.api_root:
        raise AlreadyExistsError(
            f"collection {info.id} already exists in API root {existing_root!r}"
        )
    values = {
        "id": info.id,
        "api_root": info.api_root,
        "title": info.title,
        "description": info.description,
        "alias": info.alias,
        "media_types": list(info.media_types),
        "max_tlp": int(info.max_tlp) if info.max_tlp is not None else None,
        "enforce_provenance": bool(info.enforce_provenance),
    }
    try:
        with connection.begin_nested():
            upsert(
                connection,
                collections,
                values,
                key_columns=("id",),
                update_columns=[column for column in values if column not in ("id", "api_root")],
            )
    except IntegrityError:
        raise AlreadyExistsError(
            f"alias {info.alias!r} is already used by another collection in {info.api_root!r}"
        ) from None


def collection_from_row(row) -> CollectionInfo:
    return CollectionInfo(
        id=row.id,
        api_root=row.api_root,
        title=row.title,
        description=row.description,
        alias=row.alias,
        media_types=tuple(row.media_types),
        max_tlp=Tlp(row.max_tlp) if row.max_tlp is not None else None,
        enforce_provenance=row.enforce_provenance,
    )


def get_collection(
    connection: Connection, api_root: str, collection_id: str
) -> CollectionInfo | None:
    row = connection.execute(
        select(collections).where(
            collections.c.id == collection_id, collections.c.api_root == api_root
        )
    ).first()
    return collection_from_row(row) if row is not None else None


def list_collections(connection: Connection, api_root: str) -> list[CollectionInfo]:
    rows = connection.execute(
        select(collections)
        .where(collections.c.api_root == api_root)
        .order_by(collections.c.title, collections.c.id)
    )
    return [collection_from_row(row) for row in rows]


def count_versions(connection: Connection, collection_id: str, latest_only: bool) -> int:
    statement = (
        select(func.count()).select_from(objects).where(objects.c.collection_id == collection_id)
    )
    if latest_only:
        statement = statement.where(objects.c.is_latest.is_(True))
    return connection.execute(statement).scalar_one()


def get_setting(connection: Connection, key: str) -> Any | None:
    return connection.execute(
        select(settings.c.value).where(settings.c.key == key)
    ).scalar_one_or_none()


def put_setting(connection: Connection, key: str, value: Any) -> None:
    upsert(connection, settings, {"key": key, "value": value}, ("key",), ("value",))

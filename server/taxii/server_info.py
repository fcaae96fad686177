"""Server information endpoints: discovery, API root and status (TAXII 2.1 section 4).

Discovery and API root information require authentication like everything
else: a lab's exchange is not public, and an unauthenticated client learns
nothing but the 401 challenge. The discovery resource lists only the API roots
the partner holds grants in, as relative URLs (allowed by section 4.1.1, and
correct behind any reverse proxy). A status resource is visible only to the
partner that made the request it describes; anyone else gets 404.
"""

from __future__ import annotations

import uuid

from flask import Blueprint, Response

from server.store.timestamps import format_timestamp_us
from server.store.types import StatusDetail, StatusRecord
from server.taxii.access import is_storable_name, visible_api_root, visible_api_root_names
from server.taxii.context import current_partner, server_context
from server.taxii.errors import TaxiiError
from server.taxii.responses import taxii_json

blueprint = Blueprint("taxii_server_info", __name__)


def _discovery_texts() -> dict[str, str]:
    """Operator's config wins; else what a medallion import stored; else built-in defaults."""
    ctx = server_context()
    configured = ctx.config.discovery
    stored = ctx.store.get_discovery() or {}
    texts: dict[str, str] = {}
    for field in ("title", "description", "contact"):
        value = getattr(configured, field)
        if field not in ctx.config.explicit_discovery_fields and isinstance(stored.get(field), str):
            value = stored[field]
        if value:
            texts[field] = value
    return texts


@blueprint.get("/taxii2/")
def discovery() -> Response:
    names = visible_api_root_names()
    document: dict[str, object] = dict(_discovery_texts())
    document.setdefault("title", "TAXII 2.1 server")
    default = server_context().config.default_api_root
    if default in names:
        document["default"] = f"/{default}/"
    if names:
        document["api_roots"] = [f"/{name}/" for name in names]
    return taxii_json(document)


@blueprint.get("/<api_root>/")
def api_root_information(api_root: str) -> Response:
    root = visible_api_root(api_root)
    document: dict[str, object] = {
        "title": root.title,
        "versions": list(root.versions),
        "max_content_length": root.max_content_length,
    }
    if root.description:
        document["description"] = root.description
    return taxii_json(document)


def _details(details: list[StatusDetail]) -> list[dict[str, str]]:
    out = []
    for detail in details:
        item = {"id": detail.id, "version": detail.version}
        if detail.message:
            item["message"] = detail.message
        out.append(item)
    return out


def status_document(status: StatusRecord) -> dict[str, object]:
    """The TAXII status resource (section 4.3.1); empty lists are omitted as TAXII requires."""
    document: dict[str, object] = {
        "id": status.id,
        "status": status.status,
        "request_timestamp": format_timestamp_us(status.request_timestamp_us),
        "total_count": status.total_count,
        "success_count": len(status.successes),
        "failure_count": status.failure_count,
        "pending_count": len(status.pendings),
    }
    for name, details in (
        ("successes", status.successes),
        ("failures", status.failures),
        ("pendings", status.pendings),
    ):
        if details:
            document[name] = _details(details)
    return document


def _is_identifier(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return len(value) == 36


@blueprint.get("/<api_root>/status/<status_id>/")
def status(api_root: str, status_id: str) -> Response:
    ctx = server_context()
    found = None
    if _is_identifier(status_id) and is_storable_name(api_root):
        found = ctx.store.get_status(api_root, status_id, current_partner().id)
    if found is None:
        raise TaxiiError(
            404,
            f"No status '{status_id}' in API root '{api_root}' "
            "(or it is not yours, or it has expired).",
            error_code="status-not-found",
        )
    return taxii_json(status_document(found))

"""Building STIX objects as the HTTP layer hands them to the store."""

from __future__ import annotations

import json
import uuid

from server.store.types import IncomingObject

API_ROOT = "exchange"
COLLECTION_ID = "6f0b4d3e-3c53-4b9e-9a8e-2a2b8c1f0e01"
OTHER_COLLECTION_ID = "6f0b4d3e-3c53-4b9e-9a8e-2a2b8c1f0e02"
IDENTITY_A = "identity--0a0a0a0a-0000-4000-8000-00000000000a"
IDENTITY_B = "identity--0b0b0b0b-0000-4000-8000-00000000000b"


def stix_id(obj_type: str, number: int) -> str:
    """A deterministic, valid STIX id, so tests can name objects by number."""
    return f"{obj_type}--{uuid.UUID(int=number, version=4)}"


def make_object(
    number: int,
    modified: str,
    *,
    obj_type: str = "indicator",
    spec_version: str = "2.1",
    created: str = "2020-01-01T00:00:00.000Z",
) -> IncomingObject:
    body = {
        "type": obj_type,
        "spec_version": spec_version,
        "id": stix_id(obj_type, number),
        "created": created,
        "modified": modified,
        "name": f"object {number} at {modified}",
    }
    return IncomingObject(
        stix_id=body["id"],
        obj_type=obj_type,
        version=modified,
        spec_version=spec_version,
        body=json.dumps(body, separators=(",", ":")),
    )

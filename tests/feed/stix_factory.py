"""Small hand-built STIX 2.1 objects for the feed tests (deterministic ids)."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import orjson

from tests.support.exchange import LAB_A_IDENTITY

NAMESPACE = uuid.UUID("5f1d8f3e-2a57-4d0c-9a43-2f3b0c6f8e01")
TLP_AMBER = "marking-definition--55d920b0-5e8b-4f79-9ee9-91f868d9b421"


def stix_id(kind: str, key: str) -> str:
    return f"{kind}--{uuid.uuid5(NAMESPACE, key)}"


def indicator(
    key: str,
    cidr: str = "198.51.100.0/24",
    *,
    modified: str = "2026-01-01T00:00:00.000Z",
    created: str = "2026-01-01T00:00:00.000Z",
    created_by: str = LAB_A_IDENTITY,
    revoked: bool = False,
    valid_until: str | None = None,
    confidence: int = 80,
) -> dict[str, Any]:
    family = "ipv6-addr" if ":" in cidr else "ipv4-addr"
    obj: dict[str, Any] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": stix_id("indicator", key),
        "created": created,
        "modified": modified,
        "created_by_ref": created_by,
        "name": f"range {key}",
        "description": f"Address range {cidr} used by a distillation campaign (test data).",
        "pattern": f"[{family}:value ISSUBSET '{cidr}']",
        "pattern_type": "stix",
        "valid_from": created,
        "indicator_types": ["anonymization"],
        "confidence": confidence,
        "object_marking_refs": [TLP_AMBER],
    }
    if valid_until is not None:
        obj["valid_until"] = valid_until
    if revoked:
        obj["revoked"] = True
    return obj


def many_indicators(count: int, versions_every: int = 0) -> list[dict[str, Any]]:
    """``count`` object versions: distinct indicators, plus a second version of every Nth."""
    objects: list[dict[str, Any]] = []
    index = 0
    while len(objects) < count:
        key = f"bulk-{index}"
        third, fourth = divmod(index, 250)
        objects.append(indicator(key, f"10.{third % 256}.{fourth}.0/24"))
        if versions_every and index % versions_every == 0 and len(objects) < count:
            objects.append(
                indicator(
                    key, f"10.{third % 256}.{fourth}.0/24", modified="2026-02-01T00:00:00.000Z"
                )
            )
        index += 1
    return objects


def write_bundle(path: Path, objects: list[dict[str, Any]]) -> Path:
    bundle = {"type": "bundle", "id": f"bundle--{uuid.uuid4()}", "objects": objects}
    path.write_bytes(orjson.dumps(bundle))
    return path

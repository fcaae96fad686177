"""The lab that publishes: its stable key and its STIX identity.

Every object a lab authors carries ``created_by_ref`` to this identity, and
the TAXII server only accepts objects whose ``created_by_ref`` is the
publishing partner's own identity. The identity id is derived from the
producer key alone, so it is the same on every run and every machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mappings.ids import authored_id
from mappings.records import _producer_key
from mappings.timestamps import stix_timestamp
from mappings.well_known import FIXED_OBJECT_TIME


@dataclass(frozen=True)
class Producer:
    """A lab: ``key`` is its stable producer key (``"lab-a.example"``), ``name`` its display name.

    The key must never change: it names every object the lab has published.
    The name may be corrected, but partners that already hold the identity
    keep the first version (identities are published with a fixed time).
    """

    key: str
    name: str

    def __post_init__(self) -> None:
        try:
            _producer_key(self.key)
        except ValueError as exc:
            raise ValueError(f"producer key {self.key!r}: {exc}") from None
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError("producer name must be a non-empty string")
        if len(self.name) > 256:
            raise ValueError("producer name must be at most 256 characters")

    @property
    def identity_id(self) -> str:
        """``identity--<uuid5>`` from the producer key."""
        return authored_id("identity", "producer", self.key)

    def identity_object(self) -> dict[str, Any]:
        """The lab's identity as a JSON-ready STIX dict (self-attributed, so it is protected
        by the server's created_by_ref rule like everything else the lab publishes)."""
        when = stix_timestamp(FIXED_OBJECT_TIME)
        return {
            "type": "identity",
            "spec_version": "2.1",
            "id": self.identity_id,
            "created_by_ref": self.identity_id,
            "created": when,
            "modified": when,
            "name": self.name,
            "identity_class": "organization",
            "description": (
                f"Lab publishing model-distillation detections to the exchange "
                f"under producer key {self.key}."
            ),
        }

"""The lab that publishes: its stable key, its STIX identity and its id secret.

Every object a lab authors carries ``created_by_ref`` to this identity, and
the TAXII server only accepts objects whose ``created_by_ref`` is the
publishing partner's own identity. The identity id is derived from the
producer key alone, so it is the same on every run and every machine and any
partner can name it.

The ids of the objects the lab authors are derived from its *id secret* too
(``mappings.ids.producer_namespace``): a partner who knows the producer key
cannot compute them ahead of the lab and squat them. The secret is passed in
by the caller (this package reads no files); a producer without one uses the
public, predictable "legacy" ids of earlier versions.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from mappings.ids import PROJECT_NAMESPACE, authored_id, producer_namespace
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
    id_secret: bytes | None = field(default=None, repr=False)
    """The lab's private id secret (at least 16 bytes); None: legacy public ids."""

    def __post_init__(self) -> None:
        try:
            _producer_key(self.key)
        except ValueError as exc:
            raise ValueError(f"producer key {self.key!r}: {exc}") from None
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError("producer name must be a non-empty string")
        if len(self.name) > 256:
            raise ValueError("producer name must be at most 256 characters")
        if self.id_secret is not None:
            if not isinstance(self.id_secret, bytes):
                raise ValueError("id secret must be bytes")
            producer_namespace(self.key, self.id_secret)  # refuses a short secret

    @property
    def legacy_ids(self) -> bool:
        """True when authored ids are the public, predictable ones (no id secret)."""
        return self.id_secret is None

    @cached_property
    def id_namespace(self) -> uuid.UUID:
        """The UUIDv5 namespace of the objects this lab authors (secret unless legacy)."""
        if self.id_secret is None:
            return PROJECT_NAMESPACE
        return producer_namespace(self.key, self.id_secret)

    def object_id(self, stix_type: str, *parts: str) -> str:
        """The id of an object this lab authors: ``parts`` name it within the lab."""
        return authored_id(stix_type, self.key, *parts, namespace=self.id_namespace)

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

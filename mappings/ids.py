"""Deterministic STIX identifiers.

Re-publishing a detection must produce a new *version* of the same objects,
never duplicates, so every id is a UUIDv5 over stable keys:

* objects a lab authors (SDOs, SROs): the project namespace over the
  producer key, the record kind, the record key and the object's role in the
  record ("indicator", "relationship:indicates:campaign"...). The record key is
  the producer's own stable key (cluster id, fingerprint id, CIDR), never a
  raw identifier, so nobody can recompute an id from an e-mail address;
* observables (SCOs): the STIX 2.1 rule (UUIDv5 in the OASIS SCO namespace
  over the canonical JSON of the ID contributing properties), so two labs
  that see the same keyed hash, range or fingerprint name the same object.

STIX 2.1 recommends UUIDv4 for SDO/SRO ids but allows other versions if the
namespace is the producer's own (never the SCO namespace); that is why the
validator's ``uuid-check`` is disabled (see ``validation_settings``).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from typing import Final

PROJECT_NAMESPACE: Final = uuid.UUID("064a809f-a690-40e8-982a-afb62746e7fb")
"""This project's UUIDv5 namespace for the objects labs author. Never change it."""

SCO_NAMESPACE: Final = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")
"""The STIX 2.1 namespace for deterministic SCO ids (spec section 2.9)."""

_SEPARATOR: Final = "\n"
"""Cannot occur in a producer key, record key or role, so joined parts never collide."""


def authored_id(stix_type: str, *parts: str) -> str:
    """``<stix_type>--<uuid5(project namespace, parts)>`` for an object a lab authors.

    ``parts`` always starts with the producer key, so two labs never share an
    authored id; the stix type is part of the name too.
    """
    name = _SEPARATOR.join((stix_type, *parts))
    return f"{stix_type}--{uuid.uuid5(PROJECT_NAMESPACE, name)}"


def record_object_id(
    stix_type: str, producer_key: str, record_kind: str, record_key: str, role: str
) -> str:
    """The id of one object a detection record produces."""
    return authored_id(stix_type, producer_key, record_kind, record_key, role)


def observable_id(stix_type: str, contributing: Mapping[str, str | int]) -> str:
    """The STIX 2.1 deterministic SCO id over its ID contributing properties.

    The properties we use are ASCII strings and integers, for which compact
    JSON with sorted keys is exactly the RFC 8785 canonical form the spec asks
    for (a test checks the result against the ``stix2`` library's own).
    """
    data = json.dumps(dict(contributing), sort_keys=True, separators=(",", ":"))
    return f"{stix_type}--{uuid.uuid5(SCO_NAMESPACE, data)}"

"""Deterministic STIX identifiers.

Re-publishing a detection must produce a new *version* of the same objects,
never duplicates, so every id is a UUIDv5 over stable keys:

* objects a lab authors (SDOs, SROs): the producer's own namespace over the
  producer key, the record kind, the record key and the object's role in the
  record ("indicator", "relationship:indicates:campaign"...). The record key is
  the producer's own stable key (cluster id, fingerprint id, CIDR), never a
  raw identifier, so nobody can recompute an id from an e-mail address. The
  namespace is derived with HMAC-SHA256 from a secret only the producer holds
  (``producer_namespace``), so another partner cannot compute the ids of
  objects a lab has not published yet and post them first (the server gives
  an id to whoever publishes it first). Labs that have not moved over use the
  public project namespace (``PROJECT_NAMESPACE``, the "legacy" scheme);
* the lab's identity and the project's well-known objects: the public
  project namespace, since every partner must know them;
* observables (SCOs): the STIX 2.1 rule (UUIDv5 in the OASIS SCO namespace
  over the canonical JSON of the ID contributing properties), so two labs
  that see the same keyed hash, range or fingerprint name the same object.

STIX 2.1 recommends UUIDv4 for SDO/SRO ids but allows other versions if the
namespace is the producer's own (never the SCO namespace); that is why the
validator's ``uuid-check`` is disabled (see ``validation_settings``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from collections.abc import Mapping
from typing import Any, Final

PROJECT_NAMESPACE: Final = uuid.UUID("064a809f-a690-40e8-982a-afb62746e7fb")
"""This project's UUIDv5 namespace for the objects labs author. Never change it."""

SCO_NAMESPACE: Final = uuid.UUID("00abedb4-aa42-466c-9c01-fed23315a9b7")
"""The STIX 2.1 namespace for deterministic SCO ids (spec section 2.9)."""

_SEPARATOR: Final = "\n"
"""Cannot occur in a producer key, record key or role, so joined parts never collide."""

_NAMESPACE_HASHERS: dict[uuid.UUID, Any] = {}
"""SHA-1 state after the namespace bytes, copied for each name (saves rehashing them)."""

_VARIANT_DIGIT: Final = {digit: "89ab"[int(digit, 16) & 3] for digit in "0123456789abcdef"}
"""Hex digit 17 of a UUID with its two top bits set to the RFC 4122 variant (10)."""


def uuid5_text(namespace: uuid.UUID, name: str) -> str:
    """``str(uuid.uuid5(namespace, name))``, several times faster.

    Conversion makes one id per object (hundreds of thousands per batch), and
    building a ``uuid.UUID`` object for each is most of the cost. Same RFC 4122
    steps: SHA-1 over namespace bytes + UTF-8 name, first 16 bytes, version 5
    (digit 13 is ``5``), variant 10 (digit 17 keeps its two low bits); the
    bits are set on the hex text directly (a test compares the result with
    ``uuid.uuid5`` on many names).
    """
    hasher = _NAMESPACE_HASHERS.get(namespace)
    if hasher is None:
        hasher = _NAMESPACE_HASHERS[namespace] = hashlib.sha1(namespace.bytes)
    hasher = hasher.copy()
    hasher.update(name.encode("utf-8"))
    h = hasher.hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT_DIGIT[h[16]]}{h[17:20]}-{h[20:32]}"


ID_SECRET_MIN_BYTES: Final = 16
"""A producer's id secret must carry at least 128 bits."""

_NAMESPACE_LABEL: Final = b"dx authored ids v1\n"
"""Domain separation: the id secret keys nothing else than this derivation."""


def producer_namespace(producer_key: str, id_secret: bytes) -> uuid.UUID:
    """The producer's private UUIDv5 namespace: HMAC-SHA256(id secret, label + producer key).

    Without the secret the namespace (128 bits) is unknown, so no id in it can
    be computed; with it, every run on every machine gives the same ids. The
    ids are genuine UUIDv5 in a namespace of the producer's own, which is what
    STIX 2.1 asks of deterministic SDO/SRO ids. The truncated SHA-1 output
    that UUIDv5 keeps reveals neither the namespace nor a hash state to extend.
    """
    if len(id_secret) < ID_SECRET_MIN_BYTES:
        raise ValueError(f"id secret: at least {ID_SECRET_MIN_BYTES} bytes are required")
    digest = hmac.new(
        id_secret, _NAMESPACE_LABEL + producer_key.encode("utf-8"), hashlib.sha256
    ).digest()
    return uuid.UUID(bytes=digest[:16])


def authored_id(stix_type: str, *parts: str, namespace: uuid.UUID = PROJECT_NAMESPACE) -> str:
    """``<stix_type>--<uuid5(namespace, parts)>`` for an object a lab authors.

    ``parts`` always starts with the producer key, so two labs never share an
    authored id; the stix type is part of the name too. ``namespace`` is the
    producer's (``producer_namespace``), or the public project namespace for
    objects everyone must be able to name.
    """
    name = _SEPARATOR.join((stix_type, *parts))
    return f"{stix_type}--{uuid5_text(namespace, name)}"


def record_object_id(
    stix_type: str,
    producer_key: str,
    record_kind: str,
    record_key: str,
    role: str,
    namespace: uuid.UUID = PROJECT_NAMESPACE,
) -> str:
    """The id of one object a detection record produces."""
    return authored_id(stix_type, producer_key, record_kind, record_key, role, namespace=namespace)


def observable_id(stix_type: str, contributing: Mapping[str, str | int]) -> str:
    """The STIX 2.1 deterministic SCO id over its ID contributing properties.

    The properties we use are strings and integers, for which compact JSON
    with sorted keys is exactly the RFC 8785 canonical form the spec asks for
    (a test checks the result against the ``stix2`` library's own).
    """
    return f"{stix_type}--{uuid5_text(SCO_NAMESPACE, canonical_json(contributing))}"


def single_property_observable_id(stix_type: str, name: str, value: str) -> str:
    """``observable_id(stix_type, {name: value})`` for the SCOs named by one string
    (an account hash, an address range): no dict, no sorting, one id per member."""
    canonical = '{"' + name + '":' + _json_string(value) + "}"
    return f"{stix_type}--{uuid5_text(SCO_NAMESPACE, canonical)}"


def canonical_json(fields: Mapping[str, str | int]) -> str:
    """RFC 8785 canonical JSON of a flat object of strings and integers, for the
    properties SCO ids use: ASCII names (RFC 8785 sorts by UTF-16 units, the same
    order for ASCII) and integers below 2**53 (AS numbers, at most 2**32).

    Sorted keys, no whitespace. This runs for every observable of a batch
    (a quarter million per 100,000 records), so the common case is cheap:
    a printable ASCII string with no quote or backslash is its own JSON body;
    anything else is escaped by ``json`` (control characters, non-ASCII).
    """
    parts = []
    for name in sorted(fields):
        value = fields[name]
        if isinstance(value, str):
            text = _json_string(value)
        elif isinstance(value, int) and not isinstance(value, bool):
            text = str(value)
        else:
            raise TypeError(f"{name}: only strings and integers contribute to SCO ids")
        parts.append(f'"{name}":{text}')
    return "{" + ",".join(parts) + "}"


def _json_string(value: str) -> str:
    if value.isascii() and value.isprintable() and '"' not in value and "\\" not in value:
        return '"' + value + '"'  # not an f-string: a str subclass may format differently
    return json.dumps(value, ensure_ascii=False)

"""Cutting a list of STIX objects into TAXII envelopes that each fit one POST.

An API root states ``max_content_length``: the largest request body it
accepts, in bytes. A body over it is refused whole (413), so the publisher
measures what it will send rather than guessing: each object is serialised
once (compact JSON, UTF-8), and envelopes are packed greedily in input order
until the next object would push the body over the limit. The bytes built
here are exactly the bytes posted, so the measurement cannot drift from the
request.

An object that does not fit even alone cannot be published to this API root
at all; it is reported, not sent.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

_PREFIX = b'{"objects":['
_SUFFIX = b"]}"
_SEPARATOR = b","
ENVELOPE_OVERHEAD = len(_PREFIX) + len(_SUFFIX)

DEFAULT_MAX_OBJECTS = 500
"""Objects per envelope even when bytes would allow more: one request stays a
few seconds of server work at most, and a crash loses at most one envelope's
worth of progress reporting."""


@dataclass(frozen=True)
class SerialisedObject:
    """One object as it will be posted; ``id``/``version`` name it in reports."""

    id: str
    version: str
    body: bytes


@dataclass(frozen=True)
class Envelope:
    """One POST body and the objects it carries, in order."""

    objects: tuple[SerialisedObject, ...]

    def body(self) -> bytes:
        return _PREFIX + _SEPARATOR.join(item.body for item in self.objects) + _SUFFIX

    @property
    def size(self) -> int:
        return envelope_size(item.body for item in self.objects)

    def halves(self) -> tuple[Envelope, Envelope]:
        """Two envelopes with the first and second half of the objects (for a 413 retry)."""
        middle = len(self.objects) // 2
        return Envelope(self.objects[:middle]), Envelope(self.objects[middle:])


@dataclass(frozen=True)
class Oversized:
    """An object that does not fit in an envelope on its own."""

    item: SerialisedObject
    size: int
    limit: int

    @property
    def reason(self) -> str:
        return (
            f"too large to publish: an envelope holding only this object is {self.size} bytes, "
            f"over the API root's max_content_length of {self.limit} bytes"
        )


def object_version(obj: dict[str, Any]) -> str:
    """How TAXII names the version of an object: modified, else created, else "" (SCOs)."""
    for name in ("modified", "created"):
        value = obj.get(name)
        if isinstance(value, str):
            return value
    return ""


def serialise(obj: dict[str, Any]) -> SerialisedObject:
    """Compact UTF-8 JSON of one object, the form it travels in."""
    return SerialisedObject(str(obj.get("id", "")), object_version(obj), orjson.dumps(obj))


def envelope_size(bodies: Iterable[bytes]) -> int:
    """Bytes of the envelope holding these serialised objects."""
    total = ENVELOPE_OVERHEAD
    count = 0
    for body in bodies:
        total += len(body)
        count += 1
    return total + max(0, count - 1) * len(_SEPARATOR)


def pack_envelopes(
    items: Sequence[SerialisedObject],
    max_bytes: int,
    max_objects: int = DEFAULT_MAX_OBJECTS,
) -> tuple[list[Envelope], list[Oversized]]:
    """Greedy packing in input order: every envelope is at most ``max_bytes`` and
    ``max_objects``; objects too big on their own are returned separately."""
    if max_bytes <= ENVELOPE_OVERHEAD:
        raise ValueError(f"max_content_length {max_bytes} cannot hold any object")
    if max_objects < 1:
        raise ValueError("max_objects must be at least 1")
    envelopes: list[Envelope] = []
    oversized: list[Oversized] = []
    current: list[SerialisedObject] = []
    current_size = ENVELOPE_OVERHEAD
    for item in items:
        alone = ENVELOPE_OVERHEAD + len(item.body)
        if alone > max_bytes:
            oversized.append(Oversized(item, alone, max_bytes))
            continue
        added = len(item.body) + (len(_SEPARATOR) if current else 0)
        if current and (current_size + added > max_bytes or len(current) >= max_objects):
            envelopes.append(Envelope(tuple(current)))
            current, current_size = [], ENVELOPE_OVERHEAD
            added = len(item.body)
        current.append(item)
        current_size += added
    if current:
        envelopes.append(Envelope(tuple(current)))
    return envelopes, oversized

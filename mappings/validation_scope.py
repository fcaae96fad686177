"""Which objects of a bundle stix2-validator checks: all, or a sample of every shape.

Kept apart from ``mappings.validation`` because it needs no validator: importing
jsonschema and stix2-validator costs about a second, which every ``dx``
command would otherwise pay at start-up just to show ``--validate``'s help
or to sample a bundle while it is built.
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from typing import Any, Final, Literal

from mappings.validation_settings import STIX_VERSION

ValidationScope = Literal["auto", "full", "sample"]

FULL_VALIDATION_LIMIT: Final = 5_000
"""``auto`` validates every object of bundles up to this many objects (about 550
records, a few seconds on two cores) and a sample of larger ones."""

SAMPLE_PER_SHAPE: Final = 25
"""Objects validated per shape in ``sample`` scope (all of them for rarer shapes)."""


def object_shape(obj: dict[str, Any]) -> tuple[Any, ...]:
    """What decides which schemas and checks apply to an object, and how its code path
    in ``mappings`` built it: type, extensions, pattern type, relationship type,
    whether it is revoked. Objects of one shape differ only in values."""
    # By ``repr``: a malformed object (a list where a string belongs) still has a
    # hashable shape and reaches the validator, which reports it, instead of raising.
    extensions = obj.get("extensions")
    return (
        repr(obj.get("type")),
        tuple(sorted(map(str, extensions))) if isinstance(extensions, dict) else repr(extensions),
        repr(obj.get("pattern_type")),
        repr(obj.get("relationship_type")),
        bool(obj.get("revoked")),
    )


def sample_objects(objects: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The first ``SAMPLE_PER_SHAPE`` objects of each shape, in bundle order.

    Deterministic (same bundle, same sample, same verdict); the exchange's ids
    are UUIDv5 hashes and bundles are sorted by id, so the first objects of a
    shape are a spread over the batch's records, not its first records.
    """
    taken: dict[tuple[Any, ...], int] = {}
    chosen = []
    for obj in objects:
        shape = object_shape(obj)
        count = taken.get(shape, 0)
        if count < SAMPLE_PER_SHAPE:
            taken[shape] = count + 1
            chosen.append(obj)
    return chosen


class ShapeSampler:
    """Picks, while a bundle is built object by object, what ``sample_objects`` would
    pick from the finished bundle: per shape, the ``SAMPLE_PER_SHAPE`` smallest ids.

    For a builder that never holds the whole bundle as dicts
    (``mappings.canonical_bundle``). Each shape keeps a max-heap of its
    smallest ids so far; ids are UUIDv5 hashes, so after the first few an
    object rarely displaces one and most cost one shape and one comparison.
    """

    def __init__(self) -> None:
        self._heaps: dict[tuple[Any, ...], list[tuple[_Descending, int, dict[str, Any]]]] = {}
        self._shapes: dict[tuple[Any, ...], tuple[tuple[Any, ...], bool]] = {}
        self._offered = 0
        self.plain = True
        """Whether every object offered so far is a plain STIX 2.1 object
        (``is_plain_object``): only then may a sample stand for the bundle."""

    def offer(self, obj: dict[str, Any]) -> None:
        shape = self._shape(obj)
        heap = self._heaps.get(shape)
        if heap is None:
            heap = self._heaps[shape] = []
        object_id = obj["id"]
        if len(heap) < SAMPLE_PER_SHAPE:
            self._offered += 1
            heapq.heappush(heap, (_Descending(object_id), self._offered, obj))
        elif object_id < heap[0][0].value:
            self._offered += 1
            heapq.heapreplace(heap, (_Descending(object_id), self._offered, obj))

    def _shape(self, obj: dict[str, Any]) -> tuple[Any, ...]:
        """``object_shape(obj)``, memoised on the raw values it and ``is_plain_object``
        are made of: this runs for each of ~900,000 objects, and ``object_shape``'s
        ``repr`` calls and sorting tripled the cost of building the bundle's bytes.

        The memo key holds each value with its type (``1``, ``1.0`` and ``True``
        are equal dict keys but different shapes), so it is never coarser than
        ``object_shape``; it may be finer, which only costs another lookup."""
        get = obj.get
        extensions = get("extensions", _ABSENT)
        if type(extensions) is dict:
            names = tuple(extensions)
            extension_key: Any = (names, *map(type, names))
        else:
            extension_key = repr(extensions)
        kind, pattern, relationship = get("type"), get("pattern_type"), get("relationship_type")
        revoked, version = get("revoked", _ABSENT), get("spec_version", _ABSENT)
        raw: Any = (  # a tuple, or None when it cannot be a dict key
            extension_key,
            type(get("id")),
            kind,
            pattern,
            relationship,
            revoked,
            version,
            type(kind),
            type(pattern),
            type(relationship),
            type(revoked),
            type(version),
        )
        try:
            known = self._shapes.get(raw)
        except TypeError:  # an unhashable value where a string belongs: not memoised
            known = None
            raw = None
        if known is None:
            known = (object_shape(obj), is_plain_object(obj))
            if raw is not None:
                self._shapes[raw] = known
        if not known[1]:
            self.plain = False
        return known[0]

    def objects(self) -> list[dict[str, Any]]:
        """The chosen objects in bundle order (by id)."""
        chosen = [entry[2] for heap in self._heaps.values() for entry in heap]
        return sorted(chosen, key=lambda obj: obj["id"])


_ABSENT: Final = object()
"""Stands for a missing property, which is not the same shape as an explicit null."""


def is_plain_object(obj: Any) -> bool:
    """A plain STIX 2.1 object, which the exchange's compiled-schema validation handles
    (``mappings.validation``); anything else goes to stix2-validator's own pipeline."""
    if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
        return False
    if not isinstance(obj.get("type"), str) or obj["type"] == "observed-data":
        return False
    if "spec_version" in obj and obj["spec_version"] != STIX_VERSION:
        return False
    return isinstance(obj.get("extensions", {}), dict)


class _Descending:
    """An id ordered backwards, so ``heapq``'s min-heap keeps the largest id on top."""

    __slots__ = ("value",)

    def __init__(self, value: str) -> None:
        self.value = value

    def __lt__(self, other: _Descending) -> bool:
        return self.value > other.value

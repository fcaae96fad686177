"""Feedback objects: a lab telling producers it saw their indicators, or disputes them.

Two standard STIX 2.1 objects, nothing custom (no class is registered here):

* ``sighting``: "this lab saw traffic matching your object". ``sighting_of_ref``
  is the matched indicator (or SDO, e.g. an account cluster),
  ``where_sighted_refs`` and ``created_by_ref`` are the reporting lab's
  identity, with ``count``, ``first_seen`` and ``last_seen``. The id is a
  UUIDv5 over the reporter's producer key, the sighted object and
  ``first_seen``, and ``created``/``modified`` are ``first_seen``/``last_seen``:
  the same matches always give the same object (re-publishing is a no-op),
  a longer observation window starting at the same time is a new version of
  the same sighting, and a window starting later is a new sighting.
* ``opinion``: agreement or disagreement with objects, with an explanation
  ("this range also carries a university's NAT"). The id is a UUIDv5 over the
  author's producer key and the sorted ``object_refs``, so a lab holds one
  opinion per set of objects and changing its mind is a new version.

Feedback never carries the reporter's raw data: counts, times and references
to shared objects only.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Final

from mappings.names import EXT_TLP2
from mappings.producer import Producer
from mappings.records import Tlp
from mappings.timestamps import stix_timestamp
from mappings.well_known import TLP_MARKING_IDS, WELL_KNOWN_OBJECTS

OPINIONS: Final = ("strongly-disagree", "disagree", "neutral", "agree", "strongly-agree")
"""STIX 2.1 opinion-enum, from most negative to most positive."""

MAX_SIGHTING_COUNT: Final = 999_999_999
"""STIX 2.1 caps ``count`` of a sighting at this value."""

DEFAULT_FEEDBACK_TLP: Final[Tlp] = "amber"
"""Feedback reveals what a lab saw; it is shared like the detections it answers."""

_MAX_TEXT = 4096


def sighting_id(reporter: Producer, sighted_ref: str, first_seen: datetime) -> str:
    """Deterministic id: one sighting per reporter, sighted object and window start."""
    return reporter.object_id("sighting", "sighting", sighted_ref, stix_timestamp(first_seen))


def opinion_id(author: Producer, object_refs: Iterable[str]) -> str:
    """Deterministic id: one opinion per author and set of objects."""
    return author.object_id("opinion", "opinion", *sorted(set(object_refs)))


def _ref(value: str, what: str) -> str:
    object_type, separator, rest = value.partition("--")
    if not separator or not object_type or len(rest) != 36:
        raise ValueError(f"{what}: {value!r} is not a STIX id such as indicator--<uuid>")
    return value


def _text(value: str | None, what: str) -> str | None:
    if value is None:
        return None
    text = " ".join(value.split())
    if not text:
        raise ValueError(f"{what}: must not be blank")
    if len(text) > _MAX_TEXT:
        raise ValueError(f"{what}: at most {_MAX_TEXT} characters")
    return text


def sighting_object(
    reporter: Producer,
    sighted_ref: str,
    *,
    count: int,
    first_seen: datetime,
    last_seen: datetime,
    confidence: int | None = None,
    description: str | None = None,
    tlp: Tlp = DEFAULT_FEEDBACK_TLP,
) -> dict[str, Any]:
    """A JSON-ready ``sighting`` of ``sighted_ref`` by ``reporter`` (validated arguments)."""
    _ref(sighted_ref, "sighting_of_ref")
    if sighted_ref.startswith(("relationship--", "sighting--")):
        raise ValueError("sighting_of_ref: must be an SDO such as an indicator, not an SRO")
    if count < 1:
        raise ValueError("count: a sighting reports at least one observation")
    if last_seen < first_seen:
        raise ValueError("last_seen: before first_seen")
    if confidence is not None and not 0 <= confidence <= 100:
        raise ValueError("confidence: must be 0..100")
    obj: dict[str, Any] = {
        "type": "sighting",
        "spec_version": "2.1",
        "id": sighting_id(reporter, sighted_ref, first_seen),
        "created_by_ref": reporter.identity_id,
        "created": stix_timestamp(first_seen),
        "modified": stix_timestamp(last_seen),
        "sighting_of_ref": sighted_ref,
        "where_sighted_refs": [reporter.identity_id],
        "count": min(count, MAX_SIGHTING_COUNT),
        "first_seen": stix_timestamp(first_seen),
        "last_seen": stix_timestamp(last_seen),
        "object_marking_refs": [TLP_MARKING_IDS[tlp]],
    }
    if confidence is not None:
        obj["confidence"] = confidence
    text = _text(description, "description")
    if text is not None:
        obj["description"] = text
    return obj


def opinion_object(
    author: Producer,
    object_refs: Sequence[str],
    opinion: str,
    *,
    created: datetime,
    modified: datetime,
    explanation: str | None = None,
    tlp: Tlp = DEFAULT_FEEDBACK_TLP,
) -> dict[str, Any]:
    """A JSON-ready ``opinion`` by ``author`` on ``object_refs``.

    ``created`` is when the author first gave an opinion on these objects (it
    stays the same across versions), ``modified`` this version's time.
    """
    if opinion not in OPINIONS:
        raise ValueError(f"opinion: {opinion!r} is not one of {', '.join(OPINIONS)}")
    refs = sorted({_ref(ref, "object_refs") for ref in object_refs})
    if not refs:
        raise ValueError("object_refs: an opinion is about at least one object")
    if modified < created:
        raise ValueError("modified: before created")
    obj: dict[str, Any] = {
        "type": "opinion",
        "spec_version": "2.1",
        "id": opinion_id(author, refs),
        "created_by_ref": author.identity_id,
        "created": stix_timestamp(created),
        "modified": stix_timestamp(modified),
        "opinion": opinion,
        "object_refs": refs,
        "object_marking_refs": [TLP_MARKING_IDS[tlp]],
    }
    text = _text(explanation, "explanation")
    if text is not None:
        obj["explanation"] = text
    return obj


def feedback_objects(author: Producer, objects: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """``objects`` plus what makes them stand alone: the author's identity and the TLP
    marking definitions they use (with the TLP extension definition), sorted by id."""
    result = {obj["id"]: obj for obj in objects}
    result[author.identity_id] = author.identity_object()
    markings = {ref for obj in list(result.values()) for ref in obj.get("object_marking_refs", ())}
    for marking in markings:
        if marking in WELL_KNOWN_OBJECTS:
            result[marking] = copy.deepcopy(WELL_KNOWN_OBJECTS[marking])
            result[EXT_TLP2] = copy.deepcopy(WELL_KNOWN_OBJECTS[EXT_TLP2])
    return [result[key] for key in sorted(result)]

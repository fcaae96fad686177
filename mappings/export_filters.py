"""Which objects an analyst's export keeps: type, time window, producer, confidence, TLP.

Each filter narrows the *selected* objects; an object without the property a
filter looks at does not pass it (an observable has no ``modified`` to put in
a time window, no ``created_by_ref`` to attribute). Such objects can still
enter the bundle as references of selected objects, and there only the TLP
cap (and revocation) applies: the cap is a promise about everything in the
file, so nothing above it is ever written, whatever pulled it in.

The time window applies to an object's version time (``modified``, else
``created``): "what changed between these dates". TLP is read from
``object_marking_refs`` (TLP 2.0 and the TLP 1.0 markings built into STIX
2.1; the most restrictive wins); an object without a TLP marking counts as
TLP:CLEAR, which in this exchange is only ever true of the public fixed
objects (identities, marking and extension definitions, ATLAS patterns) and
of observables. Observables (SCOs: no ``created``) carry no marking on
purpose (docs/stix-mapping.md, "Markings of shared observables"): the same
address or account hash posted by labs at different TLPs is one object. Under
a TLP cap an unmarked observable is therefore never *selected* on its own
(an AMBER lab's account hash would pass a GREEN cap); it enters the bundle
only as a reference of a selected object, which discloses it at that
object's level.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mappings.timestamps import object_version, parse_stix_timestamp
from mappings.well_known import TLP_LEVEL_BY_MARKING, TLP_ORDER

# The TLP 1.0 marking definitions predefined by STIX 2.1 (WHITE is TLP 2.0 CLEAR).
_TLP1_LEVELS = {
    "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9": "clear",
    "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": "green",
    "marking-definition--f88d31f6-486f-44da-b317-01333bde0b82": "amber",
    "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed": "red",
}
TLP_LEVEL_OF_MARKING: dict[str, str] = {**_TLP1_LEVELS, **TLP_LEVEL_BY_MARKING}
TLP_RANK = {level: rank for rank, level in enumerate(TLP_ORDER)}
TLP_ALIASES = {"white": "clear", "amber-strict": "amber+strict", "amber_strict": "amber+strict"}


def tlp_level(obj: Mapping[str, Any]) -> str:
    """The most restrictive TLP level among the object's markings ("clear" if none)."""
    refs = obj.get("object_marking_refs")
    levels = [
        TLP_LEVEL_OF_MARKING[ref]
        for ref in (refs if isinstance(refs, list) else [])
        if isinstance(ref, str) and ref in TLP_LEVEL_OF_MARKING
    ]
    return max(levels, key=TLP_RANK.__getitem__) if levels else "clear"


def parse_tlp(value: str) -> str:
    """A TLP level name as typed by a person ("AMBER", "tlp:amber+strict", "white")."""
    level = value.strip().lower().removeprefix("tlp:")
    level = TLP_ALIASES.get(level, level)
    if level not in TLP_RANK:
        raise ValueError(f"{value!r} is not a TLP level (one of {', '.join(TLP_ORDER)})")
    return level


@dataclass(frozen=True)
class ExportFilter:
    """The analyst's criteria; ``None``/empty means "no constraint"."""

    types: frozenset[str] = frozenset()
    since: datetime | None = None
    until: datetime | None = None
    producers: frozenset[str] = frozenset()
    min_confidence: int | None = None
    max_tlp: str | None = None
    include_revoked: bool = False

    def allows_reference(self, obj: Mapping[str, Any]) -> bool:
        """May this object be in the bundle at all (as a reference of a selected one)?"""
        if obj.get("revoked") is True and not self.include_revoked:
            return False
        return self.max_tlp is None or TLP_RANK[tlp_level(obj)] <= TLP_RANK[self.max_tlp]

    def selects(self, obj: Mapping[str, Any]) -> bool:
        """Does this object match every criterion?"""
        if self.types and obj.get("type") not in self.types:
            return False
        if not self.allows_reference(obj):
            return False
        if self.max_tlp is not None and _unmarked_observable(obj):
            return False
        if (self.since or self.until) and not self._in_window(obj):
            return False
        if self.producers and obj.get("created_by_ref") not in self.producers:
            return False
        if self.min_confidence is not None:
            confidence = obj.get("confidence")
            if not isinstance(confidence, int) or confidence < self.min_confidence:
                return False
        return True

    def _in_window(self, obj: Mapping[str, Any]) -> bool:
        version = object_version(dict(obj))
        if version is None:
            return False
        try:
            moment = parse_stix_timestamp(version)
        except ValueError:
            return False
        if self.since is not None and moment < self.since:
            return False
        return self.until is None or moment <= self.until


def _unmarked_observable(obj: Mapping[str, Any]) -> bool:
    """An SCO (observables have no ``created``) without markings: its level is that of
    whichever object references it, so it is not selected by itself under a cap."""
    return "created" not in obj and not obj.get("object_marking_refs")


def resolve_producers(
    wanted: Iterable[str], identities: Iterable[Mapping[str, Any]]
) -> tuple[frozenset[str], list[str]]:
    """Identity ids for each wanted producer (an id, or a name matched case-insensitively).

    Returns (ids, names that matched no identity).
    """
    by_name: dict[str, set[str]] = {}
    for identity in identities:
        name, identity_id = identity.get("name"), identity.get("id")
        if isinstance(name, str) and isinstance(identity_id, str):
            by_name.setdefault(name.casefold(), set()).add(identity_id)
    ids: set[str] = set()
    unknown: list[str] = []
    for producer in wanted:
        if producer.startswith("identity--"):
            ids.add(producer)
        elif producer.casefold() in by_name:
            ids.update(by_name[producer.casefold()])
        else:
            unknown.append(producer)
    return frozenset(ids), unknown

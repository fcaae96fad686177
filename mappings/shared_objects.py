"""Objects several records of one batch point at: campaigns, infrastructure, observables.

A record owns its indicators, its SDO and its relationships: they take the
record's TLP, confidence, times and revocation. Some objects are shared
instead: the campaign and its infrastructure (one per producer and campaign
key), the campaign's ``uses`` relationships, and the observables (an address
range, an AS, a keyed account hash, a fingerprint value) that several records
may name. Their content is fixed by their key; what varies is aggregated over
the records of the batch that contribute to them:

* TLP: the *least* restrictive level among the contributors. Every
  contributor already discloses the shared content (the campaign key, the
  CIDR, the hash) at its own level, so the shared object reveals nothing the
  most open of them does not, and a collection capped at that level still
  accepts it;
* ``modified``: the latest ``updated`` among the contributors, so a later
  batch makes a newer version; ``created``: the fixed project time (or
  ``modified`` if a record is older), so it never moves.

Shared objects are never revoked: one record being withdrawn says nothing
about the campaign or about an address another record still names.

The campaign's ``first_seen``/``last_seen`` are the earliest ``first_seen``
and latest ``last_seen`` of its records in the batch.

Observables (SCOs) carry **no** ``object_marking_refs``. Their id is a hash
of their content, so the same address, AS, account hash or fingerprint that
two labs share is one object on the server, stored once and served as the
first copy posted: if each lab marked it at its own TLP, what the feed served
would depend on who posted first (a GREEN lab's observable served as AMBER,
or an AMBER lab's as GREEN). Unmarked, every lab posts byte-identical SCOs
and the order cannot matter. What is sensitive is never the bare value but a
lab's *statement* about it (its cluster, indicator or relationship naming
it), and those keep the lab's own marking. Readers give an SCO the least
restrictive marking among the objects that reference it
(``mappings.export_filters``), because each of them discloses it at its
own level.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mappings.producer import Producer
from mappings.record_kinds import RECORD_KINDS
from mappings.records import AccountCluster, IpRange, PromptFingerprint
from mappings.timestamps import stix_timestamp
from mappings.well_known import (
    FIXED_OBJECT_TIME,
    TLP_MARKING_IDS,
    TLP_ORDER,
    atlas_attack_pattern_id,
)

Record = AccountCluster | PromptFingerprint | IpRange

_TLP_RANK = {level: rank for rank, level in enumerate(TLP_ORDER)}

TECHNIQUES_FOR_EVERY_CAMPAIGN = ("AML.T0040", "AML.T0024.002", "AML.T0005")
"""Every distillation campaign queries the API, extracts the model and trains a proxy."""


@dataclass(slots=True)
class Contributions:
    """Least restrictive TLP and latest update over the records that share an object."""

    tlp_rank: int = len(TLP_ORDER)
    updated: datetime | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None

    def add(self, record: Record) -> None:
        self.tlp_rank = min(self.tlp_rank, _TLP_RANK[record.tlp])
        if self.updated is None or record.updated > self.updated:
            self.updated = record.updated
        if self.first_seen is None or record.first_seen < self.first_seen:
            self.first_seen = record.first_seen
        if self.last_seen is None or record.last_seen > self.last_seen:
            self.last_seen = record.last_seen

    def merge(self, other: Contributions) -> None:
        self.tlp_rank = min(self.tlp_rank, other.tlp_rank)
        if other.updated is not None and (self.updated is None or other.updated > self.updated):
            self.updated = other.updated
        if other.first_seen is not None and (
            self.first_seen is None or other.first_seen < self.first_seen
        ):
            self.first_seen = other.first_seen
        if other.last_seen is not None and (
            self.last_seen is None or other.last_seen > self.last_seen
        ):
            self.last_seen = other.last_seen

    def marking_refs(self) -> list[str]:
        return [TLP_MARKING_IDS[TLP_ORDER[self.tlp_rank]]]

    def times(self) -> tuple[str, str]:
        """(created, modified) as STIX timestamps."""
        assert self.updated is not None, "a shared object always has a contributor"
        created = min(FIXED_OBJECT_TIME, self.updated)
        return stix_timestamp(created), stix_timestamp(self.updated)


@dataclass(slots=True)
class _Observable:
    body: dict[str, Any]
    rank: tuple[datetime, str]
    contributions: Contributions


def campaign_id(producer: Producer, campaign_key: str | None) -> str:
    """One campaign per producer and campaign key; records without one share a default."""
    return producer.object_id("campaign", campaign_key or "")


def infrastructure_id(producer: Producer, campaign_key: str | None) -> str:
    return producer.object_id("infrastructure", "campaign", campaign_key or "")


class SharedObjects:
    """Collects the shared objects of one batch while its records are converted."""

    def __init__(self, producer: Producer) -> None:
        self._producer = producer
        self._by_campaign_kind: dict[tuple[str | None, str], Contributions] = {}
        self._infrastructure: dict[str | None, Contributions] = {}
        self._observables: dict[str, _Observable] = {}
        self._campaign_ids: dict[str | None, str] = {}

    def note_campaign(self, record: Record) -> str:
        """Record that ``record`` belongs to its campaign; returns the campaign id."""
        key = record.campaign
        contributions = self._by_campaign_kind.get((key, record.kind))
        if contributions is None:
            contributions = self._by_campaign_kind[(key, record.kind)] = Contributions()
        contributions.add(record)
        found = self._campaign_ids.get(key)
        if found is None:  # one id per campaign key, asked for by every record
            found = self._campaign_ids[key] = campaign_id(self._producer, key)
        return found

    def note_infrastructure(self, record: IpRange) -> str:
        """Record that ``record``'s range is part of its campaign's infrastructure."""
        self._infrastructure.setdefault(record.campaign, Contributions()).add(record)
        return infrastructure_id(self._producer, record.campaign)

    def add_observable(self, body: dict[str, Any], record: Record, record_key: str) -> str:
        """Add an SCO named by ``record``; returns its id.

        SCOs with the same id normally have the same content. Where they may
        not (an AS named differently by two ranges), the version from the most
        recently updated record wins, ties broken by record key, so the output
        does not depend on input order.
        """
        object_id: str = body["id"]
        current = self._observables.get(object_id)
        if current is None:  # the common case: a batch names most observables once
            contributions = Contributions(_TLP_RANK[record.tlp], record.updated)
            self._observables[object_id] = _Observable(
                body, (record.updated, record_key), contributions
            )
            return object_id
        rank = (record.updated, record_key)
        if rank > current.rank:
            current.body, current.rank = body, rank
        current.contributions.add(record)
        return object_id

    def objects(self) -> list[dict[str, Any]]:
        """The shared objects, complete with markings and times."""
        out: list[dict[str, Any]] = []
        for key, contributions in self._campaigns().items():
            out.append(self._campaign(key, contributions))
        for key, contributions in self._infrastructure.items():
            out.append(self._infrastructure_object(key, contributions))
            out.append(
                self._relationship(
                    ("campaign", key or "", "uses:infrastructure"),
                    "uses",
                    campaign_id(self._producer, key),
                    infrastructure_id(self._producer, key),
                    contributions,
                )
            )
        for (key, technique), contributions in self._technique_uses().items():
            out.append(
                self._relationship(
                    ("campaign", key or "", f"uses:{technique}"),
                    "uses",
                    campaign_id(self._producer, key),
                    atlas_attack_pattern_id(technique),
                    contributions,
                )
            )
        # Observables carry no marking: see the module docstring.
        out.extend(observable.body for observable in self._observables.values())
        return out

    def techniques(self) -> set[str]:
        return {technique for _, technique in self._technique_uses()}

    def techniques_of(self, campaign_key: str | None) -> list[str]:
        """The ATLAS techniques the batch shows the campaign uses."""
        return [technique for key, technique in self._technique_uses() if key == campaign_key]

    def _campaigns(self) -> dict[str | None, Contributions]:
        campaigns: dict[str | None, Contributions] = {}
        for (key, _), contributions in self._by_campaign_kind.items():
            campaigns.setdefault(key, Contributions()).merge(contributions)
        return campaigns

    def _technique_uses(self) -> dict[tuple[str | None, str], Contributions]:
        """(campaign key, ATLAS technique) -> the records that show the campaign uses it."""
        uses: dict[tuple[str | None, str], Contributions] = {}
        for key, contributions in self._campaigns().items():
            for technique in TECHNIQUES_FOR_EVERY_CAMPAIGN:
                uses[(key, technique)] = contributions
        for (key, kind), contributions in self._by_campaign_kind.items():
            uses[(key, RECORD_KINDS[kind].technique)] = contributions
        return uses

    def _authored(self, stix_type: str, object_id: str, c: Contributions) -> dict[str, Any]:
        created, modified = c.times()
        return {
            "type": stix_type,
            "spec_version": "2.1",
            "id": object_id,
            "created_by_ref": self._producer.identity_id,
            "created": created,
            "modified": modified,
            "object_marking_refs": c.marking_refs(),
        }

    def _campaign(self, key: str | None, c: Contributions) -> dict[str, Any]:
        obj = self._authored("campaign", campaign_id(self._producer, key), c)
        who = self._producer.name
        if key:
            obj["name"] = f"{who}: distillation campaign {key}"
            obj["description"] = (
                f"Model-distillation campaign that {who} tracks under the key {key!r}."
            )
        else:
            obj["name"] = f"{who}: unattributed distillation activity"
            obj["description"] = (
                f"Model-distillation activity seen by {who} and not yet attributed to a "
                "tracked campaign."
            )
        obj["objective"] = "Reproduce a frontier model's capabilities by training on its answers."
        assert c.first_seen is not None and c.last_seen is not None
        obj["first_seen"] = stix_timestamp(c.first_seen)
        obj["last_seen"] = stix_timestamp(c.last_seen)
        return obj

    def _infrastructure_object(self, key: str | None, c: Contributions) -> dict[str, Any]:
        obj = self._authored("infrastructure", infrastructure_id(self._producer, key), c)
        label = f"campaign {key}" if key else "unattributed activity"
        obj["name"] = f"{self._producer.name}: proxy infrastructure of {label}"
        obj["description"] = (
            "Address ranges and autonomous systems relaying the campaign's model traffic "
            "(residential and mobile proxies, hosting, VPNs, relays)."
        )
        obj["infrastructure_types"] = ["anonymization"]
        return obj

    def _relationship(
        self,
        id_parts: tuple[str, ...],
        relationship_type: str,
        source: str,
        target: str,
        c: Contributions,
    ) -> dict[str, Any]:
        obj = self._authored("relationship", self._producer.object_id("relationship", *id_parts), c)
        obj["relationship_type"] = relationship_type
        obj["source_ref"] = source
        obj["target_ref"] = target
        return obj

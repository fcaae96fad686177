"""Campaigns of different labs that share observables: which, through what, how strongly.

Each lab names its campaigns itself (``campaign`` objects authored by it), so
two labs fighting the same operation publish two campaigns. What ties them is
what their records name in common:

* **account hashes**: the same keyed ``user-account`` (same deterministic SCO
  id, i.e. the same identifier hashed under the consortium key) among the
  members of both labs' clusters;
* **prompt fingerprints**: the same ``prompt-fingerprint`` observable (same
  algorithm, key id and keyed value) named by both labs' prompt indicators;
* **address ranges**: a range of one lab contains, equals or lies inside a
  range of the other (CIDR containment; ranges of different families never
  overlap).

Strength is given per kind as the count of shared items and the Jaccard index
(shared / union; for ranges, ranges taking part in an overlap / all ranges of
both campaigns), plus ``score``, the largest of the three indices.

Only what the asking lab holds is used: its local store, filled by
``dx poll`` with exactly what the server let it read. A campaign in a
collection the lab cannot read never reaches the store, so no correlation
can reveal it; the published link (``correlation_grouping``) is authored by
the asking lab's own identity, because under the exchange's provenance rule
a lab may only post objects that name itself as author: it says "we, lab X,
link these", never speaks for the labs whose campaigns it links.
"""

from __future__ import annotations

import copy
import ipaddress
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import combinations
from typing import Any

from exchange.feed.export import ServerSource
from mappings import patterns
from mappings.names import (
    ACCOUNT_CLUSTER_TYPE,
    EXT_IP_RANGE_INDICATOR,
    EXT_TLP2,
    PROMPT_FINGERPRINT_TYPE,
)
from mappings.producer import Producer
from mappings.timestamps import object_version, stix_timestamp
from mappings.timestamps import stix_timestamp_key as timestamp_key
from mappings.well_known import (
    FIXED_OBJECT_TIME,
    TLP_CREATOR_ID,
    TLP_LEVEL_BY_MARKING,
    TLP_MARKING_IDS,
    TLP_ORDER,
    WELL_KNOWN_OBJECTS,
)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

_TLP_RANK = {level: rank for rank, level in enumerate(TLP_ORDER)}


@dataclass
class CampaignEvidence:
    """What one producer's campaign names, gathered from the objects that point at it."""

    campaign_id: str
    name: str
    producer: str | None
    accounts: dict[str, str] = field(default_factory=dict)
    """user-account SCO id -> keyed hash."""
    fingerprints: dict[str, str] = field(default_factory=dict)
    """prompt-fingerprint SCO id -> "algorithm:value"."""
    ranges: dict[str, Network] = field(default_factory=dict)
    """CIDR -> network."""
    tlp_rank: int = 0
    """Most restrictive TLP among the campaign and the statements gathered for it."""

    def note_marking(self, obj: Mapping[str, Any]) -> None:
        for ref in obj.get("object_marking_refs") or ():
            level = TLP_LEVEL_BY_MARKING.get(ref)
            if level is not None:
                self.tlp_rank = max(self.tlp_rank, _TLP_RANK[level])


@dataclass(frozen=True)
class Link:
    """Shared items of one kind between two campaigns."""

    shared: tuple[str, ...]
    jaccard: float

    @property
    def count(self) -> int:
        return len(self.shared)


@dataclass(frozen=True)
class Correlation:
    """Two campaigns of different producers and what links them."""

    first: CampaignEvidence
    second: CampaignEvidence
    accounts: Link
    fingerprints: Link
    ranges: Link
    shared_observable_ids: tuple[str, ...]

    @property
    def score(self) -> float:
        return max(self.accounts.jaccard, self.fingerprints.jaccard, self.ranges.jaccard)

    @property
    def tlp(self) -> str:
        return TLP_ORDER[max(self.first.tlp_rank, self.second.tlp_rank)]

    def to_dict(self) -> dict[str, Any]:
        def side(c: CampaignEvidence) -> dict[str, Any]:
            return {"campaign": c.campaign_id, "name": c.name, "producer": c.producer}

        def link(item: Link) -> dict[str, Any]:
            return {
                "count": item.count,
                "jaccard": round(item.jaccard, 4),
                "shared": list(item.shared),
            }

        return {
            "campaigns": [side(self.first), side(self.second)],
            "score": round(self.score, 4),
            "tlp": self.tlp,
            "accounts": link(self.accounts),
            "fingerprints": link(self.fingerprints),
            "ranges": link(self.ranges),
        }


def campaign_evidence(objects: Iterable[Mapping[str, Any]]) -> dict[str, CampaignEvidence]:
    """Per campaign id, what its producer's current, unrevoked objects name.

    ``objects`` is the current feed (latest versions; e.g. ``FeedStore.current_objects``).
    Links are followed only from objects of the campaign's own producer, so a
    third party cannot attach evidence to someone else's campaign.
    """
    by_id = {obj["id"]: obj for obj in objects if not obj.get("revoked")}
    evidence: dict[str, CampaignEvidence] = {}
    for obj in by_id.values():
        if obj.get("type") == "campaign":
            found = CampaignEvidence(obj["id"], str(obj.get("name", "")), obj.get("created_by_ref"))
            found.note_marking(obj)
            evidence[obj["id"]] = found
    fingerprint_sco: dict[str, list[str]] = defaultdict(list)
    pointing: list[tuple[Mapping[str, Any], str]] = []
    for rel in by_id.values():
        if rel.get("type") != "relationship":
            continue
        source, target = by_id.get(rel.get("source_ref", "")), rel.get("target_ref", "")
        if source is None or source.get("created_by_ref") != rel.get("created_by_ref"):
            continue
        if rel.get("relationship_type") == "related-to" and target.startswith(
            PROMPT_FINGERPRINT_TYPE + "--"
        ):
            fingerprint_sco[source["id"]].append(target)
        elif target in evidence and rel.get("created_by_ref") == evidence[target].producer:
            pointing.append((source, target))
    for source, campaign in pointing:
        found = evidence[campaign]
        kind = source.get("type")
        if kind == ACCOUNT_CLUSTER_TYPE:
            found.note_marking(source)
            for ref in source.get("member_refs") or ():
                account = by_id.get(ref)
                if account is not None and isinstance(account.get("user_id"), str):
                    found.accounts[ref] = account["user_id"]
        elif kind == "indicator" and EXT_IP_RANGE_INDICATOR in (source.get("extensions") or {}):
            try:
                cidr = patterns.parse_ip_range_pattern(str(source.get("pattern", "")))
            except ValueError:
                continue
            found.note_marking(source)
            found.ranges[cidr] = ipaddress.ip_network(cidr)
        elif kind == "indicator" and source["id"] in fingerprint_sco:
            found.note_marking(source)
            for ref in fingerprint_sco[source["id"]]:
                sco = by_id.get(ref)
                if sco is not None:
                    found.fingerprints[ref] = f"{sco.get('algorithm')}:{sco.get('value')}"
    return evidence


def current_server_objects(source: ServerSource) -> list[dict[str, Any]]:
    """The latest, unrevoked version of every object the lab may read on the exchange
    (``source`` reads as the lab's partner account, so nothing else is served)."""
    versions = source.objects(version="last")
    revoked = {obj["id"] for obj in versions if obj.get("revoked") is True}
    latest: dict[str, tuple[str, dict[str, Any]]] = {}
    for obj in versions:
        key = _version_key(obj)
        current = latest.get(obj["id"])
        if current is None or key > current[0]:
            latest[obj["id"]] = (key, obj)
    return [obj for object_id, (_, obj) in sorted(latest.items()) if object_id not in revoked]


def _version_key(obj: dict[str, Any]) -> str:
    """Comparable version (``modified``, else ``created``; observables have neither)."""
    version = object_version(obj)
    try:
        return timestamp_key(version) if version else ""
    except ValueError:
        return ""


def _jaccard(shared: int, first: int, second: int) -> float:
    union = first + second - shared
    return shared / union if union else 0.0


def _overlapping_ranges(
    a: Mapping[str, Network], b: Mapping[str, Network]
) -> tuple[list[str], int]:
    """("A <= B" descriptions of contained pairs, number of ranges taking part)."""
    pairs: list[str] = []
    involved: set[tuple[int, str]] = set()
    for cidr_a, net_a in a.items():
        for cidr_b, net_b in b.items():
            if net_a.version != net_b.version:
                continue
            if net_a.subnet_of(net_b):  # type: ignore[arg-type]
                pairs.append(f"{cidr_a} in {cidr_b}" if net_a != net_b else cidr_a)
            elif net_b.subnet_of(net_a):  # type: ignore[arg-type]
                pairs.append(f"{cidr_b} in {cidr_a}")
            else:
                continue
            involved.add((0, cidr_a))
            involved.add((1, cidr_b))
    return sorted(pairs), len(involved)


def correlate(objects: Iterable[Mapping[str, Any]], *, min_shared: int = 1) -> list[Correlation]:
    """Pairs of campaigns of different producers sharing at least ``min_shared`` items,
    strongest first (score, then total shared, then campaign ids)."""
    evidence = campaign_evidence(objects)
    found: list[Correlation] = []
    for first, second in combinations(sorted(evidence.values(), key=lambda c: c.campaign_id), 2):
        if first.producer == second.producer:
            continue
        accounts = sorted(set(first.accounts) & set(second.accounts))
        prints = sorted(set(first.fingerprints) & set(second.fingerprints))
        ranges, involved = _overlapping_ranges(first.ranges, second.ranges)
        total = len(accounts) + len(prints) + len(ranges)
        if total < min_shared or total == 0:
            continue
        range_union = len(first.ranges) + len(second.ranges)
        found.append(
            Correlation(
                first,
                second,
                Link(
                    tuple(first.accounts[i] for i in accounts),
                    _jaccard(len(accounts), len(first.accounts), len(second.accounts)),
                ),
                Link(
                    tuple(first.fingerprints[i] for i in prints),
                    _jaccard(len(prints), len(first.fingerprints), len(second.fingerprints)),
                ),
                Link(tuple(ranges), involved / range_union if range_union else 0.0),
                tuple(accounts + prints),
            )
        )
    found.sort(
        key=lambda c: (
            -c.score,
            -(c.accounts.count + c.fingerprints.count + c.ranges.count),
            c.first.campaign_id,
            c.second.campaign_id,
        )
    )
    return found


def correlation_grouping(correlation: Correlation, author: Producer) -> dict[str, Any]:
    """A ``grouping`` by ``author`` naming both campaigns and the shared observables.

    Its marking is the most restrictive of everything the correlation read (both
    campaigns and the statements linking them), so it reveals nothing at a lower
    level than its sources. Its id depends on the author and the two campaigns
    only: a later run is a new version of the same grouping.
    """
    pair = sorted((correlation.first.campaign_id, correlation.second.campaign_id))
    now = stix_timestamp(datetime.now(UTC))
    summary = (
        f"{correlation.accounts.count} shared account hashes "
        f"(Jaccard {correlation.accounts.jaccard:.2f}), "
        f"{correlation.fingerprints.count} shared prompt fingerprints "
        f"(Jaccard {correlation.fingerprints.jaccard:.2f}), "
        f"{correlation.ranges.count} overlapping address ranges"
        + (f" ({', '.join(correlation.ranges.shared)})" if correlation.ranges.shared else "")
    )
    return {
        "type": "grouping",
        "spec_version": "2.1",
        "id": author.object_id("grouping", "correlation", *pair),
        "created_by_ref": author.identity_id,
        "created": stix_timestamp(FIXED_OBJECT_TIME),
        "modified": now,
        "name": f"{author.name}: {correlation.first.name} and {correlation.second.name} "
        "look like one operation",
        "description": f"{author.name} links these campaigns by what they share: {summary}.",
        "context": "suspicious-activity",
        "object_refs": pair + list(correlation.shared_observable_ids),
        "object_marking_refs": [TLP_MARKING_IDS[correlation.tlp]],
        "confidence": round(100 * correlation.score),
    }


def correlation_bundle(correlations: Iterable[Correlation], author: Producer) -> dict[str, Any]:
    """A bundle of one grouping per correlation, with the author's identity and markings."""
    groupings = [correlation_grouping(c, author) for c in correlations]
    markings = {ref for g in groupings for ref in g["object_marking_refs"]}
    objects: list[dict[str, Any]] = [author.identity_object(), *groupings]
    if markings:
        markings |= {EXT_TLP2, TLP_CREATOR_ID}  # the TLP 2.0 extension and its author
    objects += [copy.deepcopy(WELL_KNOWN_OBJECTS[ref]) for ref in sorted(markings)]
    objects.sort(key=lambda obj: obj["id"])
    ids = "".join(f"{obj['id']} {obj.get('modified', '')}\n" for obj in objects)
    return {"type": "bundle", "id": author.object_id("bundle", ids), "objects": objects}

"""Standard STIX companions of the project's custom objects, for consumers that skip them.

MISP (misp-stix), OpenCTI and plain ``stix2`` users do not know the
``account-cluster`` SDO or the ``prompt-fingerprint`` SCO: they drop them. So
every record also travels in objects any STIX 2.1 consumer can act on:

* **cluster indicators**: per account cluster, indicators whose STIX pattern
  ORs its members' keyed ``user-account:user_id`` values, at most
  ``CLUSTER_INDICATOR_MEMBERS`` per indicator (a 100,000-member cluster would
  otherwise make one multi-megabyte pattern that no pattern engine or TAXII
  request limit takes). They ``indicate`` the campaign and share the
  cluster's lifecycle (times, confidence, TLP, revocation);
* **reports**: one ``report`` per producer and campaign naming the campaign,
  its infrastructure, its ATLAS attack-patterns and every object of its
  records (relationships aside: they name their ends themselves), so an
  import is a titled event; split in parts of ``REPORT_MAX_REFS`` references;
* **validity**: every indicator has a ``valid_until`` (see ``*_LIFETIME``).

Why a report and not a grouping: a lab's campaign bundle is finished
intelligence the lab publishes and stands behind, which is what STIX 2.1
says a report is (a grouping is explicitly "not finished intelligence", for
analysis in progress). misp-stix turns either into an event titled after
it; OpenCTI files reports as the analyst-facing container. ``published`` is
the latest update: misp-stix leaves such an event unpublished (it publishes
only when ``published`` differs from ``modified``), so the importing analyst
decides when it goes out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any, Final

from mappings.ids import record_object_id
from mappings.producer import Producer
from mappings.records import AccountCluster, IpRange, PromptFingerprint
from mappings.shared_objects import campaign_id, infrastructure_id
from mappings.timestamps import stix_timestamp
from mappings.well_known import (
    FIXED_OBJECT_TIME,
    TLP_MARKING_IDS,
    TLP_ORDER,
    atlas_attack_pattern_id,
    atlas_kill_chain_phases,
)

Record = AccountCluster | PromptFingerprint | IpRange

CLUSTER_INDICATOR_MEMBERS: Final = 250
"""Member hashes per cluster indicator pattern (about 22 KB of pattern each)."""

CLUSTER_INDICATOR_LIFETIME: Final = timedelta(days=90)
"""A cluster indicator is valid until the cluster's ``last_seen`` + 90 days.

Keyed identifier hashes stay attached to one person or device for long (an
e-mail address, a card), but accounts are resold and re-registered: after a
quarter without activity a block does more harm than good, and the producer
re-publishes the cluster (a later ``last_seen``) if it is still active."""

PROMPT_INDICATOR_LIFETIME: Final = timedelta(days=180)
"""A prompt indicator is valid until the fingerprint's ``last_seen`` + 180 days.

Templates change more slowly than accounts or proxy ranges and a match only
flags a prompt for review; half a year without a sighting means the template
is retired. IP ranges keep their own rule (record ``valid_until`` or
``last_seen`` + 14 days)."""

REPORT_MAX_REFS: Final = 5_000
"""Object references per report part: about 300 KB, well inside a TAXII request."""

CLUSTER_INDICATOR_DESCRIPTION: Final = (
    "Accounts of a distillation cluster ({members} accounts, {listed} listed), as keyed "
    "{algorithm} hashes of their normalised identifiers under key {key_id}: hash your own "
    "identifiers with the consortium key to match. Raw identifiers are never shared."
)
REPORT_DESCRIPTION: Final = (
    "What {producer} shares about {what}: account clusters (with indicators over their "
    "keyed member hashes), prompt-template fingerprints and proxy address ranges, as of "
    "this version."
)
"""Fixed prose of the companions (the privacy tests count its words as the exchange's own)."""

_TLP_RANK: Final = {level: rank for rank, level in enumerate(TLP_ORDER)}
_REPORT_SKIPPED_TYPES: Final = ("relationship--", "sighting--")
_OTHER_RECORDS_TYPES: Final = ("indicator--", "account-cluster--")


def lifetime_end(last_seen: datetime, lifetime: timedelta) -> str:
    """``valid_until`` for an indicator of a record last seen at ``last_seen``."""
    return stix_timestamp(last_seen + lifetime)


def cluster_indicator_id(producer: Producer, cluster_id: str, part: int) -> str:
    return record_object_id(
        "indicator",
        producer.key,
        "account-cluster",
        cluster_id,
        f"members:{part}",
        producer.id_namespace,
    )


def members_pattern(hashes: Iterable[str]) -> str:
    """``[user-account:user_id IN ('h1', 'h2', ...)]``: any one listed account matches.

    ``IN`` rather than OR'd ``=`` comparisons, for MISP: misp-stix merges an
    indicator whose ``=`` values equal an observable of the bundle into that
    observable (the ``user-account`` SCOs are in every bundle), giving the
    result a derived uuid, so the indicator and every sighting of it vanish.
    An ``IN`` set is kept as one ``user-account`` object under the indicator's
    uuid, its member hashes IDS-flagged, and sightings of it stay attached.
    Hashes are 64 hex digits (the record model checks it): nothing to escape.
    """
    return "[user-account:user_id IN (" + ", ".join(f"'{h}'" for h in hashes) + ")]"


def parse_members_pattern(pattern: str) -> list[str]:
    """The member hashes of a pattern ``members_pattern`` wrote ([] for any other pattern)."""
    prefix, suffix = "[user-account:user_id IN (", ")]"
    if not (pattern.startswith(prefix) and pattern.endswith(suffix)):
        return []
    items = pattern[len(prefix) : -len(suffix)].split(", ")
    hashes = [item[1:-1] for item in items if len(item) == 66 and item[0] == item[-1] == "'"]
    return hashes if len(hashes) == len(items) else []


def cluster_indicators(
    producer: Producer,
    record: AccountCluster,
    owned: Callable[[str, str], dict[str, Any]],
    relationship: Callable[[str, str, str, str], dict[str, Any]],
    campaign: str,
    cluster_sdo: str,
) -> list[dict[str, Any]]:
    """The cluster's member indicators, their ``indicates`` relationships to the
    campaign and the cluster SDO's ``related-to`` relationships to them (so a
    lab that matches an account can sight the standard indicator, which every
    consumer keeps, rather than the custom SDO).

    ``owned(type, id)`` and ``relationship(role, type, source, target)`` are the
    record writer's, so the indicators share the cluster's lifecycle exactly.
    A cluster that lists no members gets none (there is nothing to match).
    """
    hashes = list(dict.fromkeys(member.hash for member in record.members))
    if not hashes:
        return []
    parts = [
        hashes[start : start + CLUSTER_INDICATOR_MEMBERS]
        for start in range(0, len(hashes), CLUSTER_INDICATOR_MEMBERS)
    ]
    key = record.cluster_id
    valid_until = lifetime_end(record.last_seen, CLUSTER_INDICATOR_LIFETIME)
    out: list[dict[str, Any]] = []
    for number, part in enumerate(parts):
        indicator_id = cluster_indicator_id(producer, key, number)
        indicator = owned("indicator", indicator_id)
        of = f" (part {number + 1} of {len(parts)})" if len(parts) > 1 else ""
        indicator["name"] = f"Account cluster {key}: member accounts{of}"
        indicator["description"] = CLUSTER_INDICATOR_DESCRIPTION.format(
            members=record.member_count,
            listed=len(hashes),
            algorithm=record.hashing.algorithm,
            key_id=record.hashing.key_id,
        )
        indicator["indicator_types"] = ["malicious-activity"]
        indicator["pattern"] = members_pattern(part)
        indicator["pattern_type"] = "stix"
        indicator["pattern_version"] = "2.1"
        indicator["valid_from"] = indicator["created"]
        indicator["valid_until"] = valid_until
        indicator["kill_chain_phases"] = atlas_kill_chain_phases("AML.T0021")
        out.append(indicator)
        out.append(
            relationship(f"members-indicate:campaign:{number}", "indicates", indicator_id, campaign)
        )
        out.append(
            relationship(f"related-to:members:{number}", "related-to", cluster_sdo, indicator_id)
        )
    return out


class CampaignReports:
    """Collects, per campaign key, what each record's objects name; makes the reports."""

    def __init__(self, producer: Producer) -> None:
        self._producer = producer
        self._refs: dict[str | None, dict[str, None]] = {}
        self._tlp_rank: dict[str | None, int] = {}
        self._updated: dict[str | None, datetime] = {}

    def add(self, record: Record, objects: Iterable[dict[str, Any]]) -> None:
        """Note the objects ``record`` owns and the ones they reference."""
        key = getattr(record, "campaign", None)
        refs = self._refs.setdefault(key, {})
        for obj in objects:
            obj_type = obj["type"]
            if obj_type == "relationship":
                # Observables, the campaign and its infrastructure; another record's
                # indicator or cluster is named by that record, if the batch holds it.
                for end in (obj["source_ref"], obj["target_ref"]):
                    if not end.startswith(_OTHER_RECORDS_TYPES):
                        refs[end] = None
                continue
            refs[obj["id"]] = None
            for member in obj.get("member_refs", ()):
                refs[member] = None
        rank = _TLP_RANK[record.tlp]
        # The most restrictive level of what the report names: it lists their ids.
        self._tlp_rank[key] = max(rank, self._tlp_rank.get(key, rank))
        if key not in self._updated or record.updated > self._updated[key]:
            self._updated[key] = record.updated

    def objects(self, techniques_of: Callable[[str | None], Iterable[str]]) -> list[dict[str, Any]]:
        """The report parts of every campaign of the batch."""
        out: list[dict[str, Any]] = []
        for key, refs in self._refs.items():
            head = [campaign_id(self._producer, key)]
            infrastructure = infrastructure_id(self._producer, key)
            if infrastructure in refs:
                head.append(infrastructure)
            head += sorted(atlas_attack_pattern_id(t) for t in techniques_of(key))
            head_set = set(head)
            body = sorted(
                ref
                for ref in refs
                if ref not in head_set and not ref.startswith(_REPORT_SKIPPED_TYPES)
            )
            room = REPORT_MAX_REFS - len(head)
            chunks = [body[start : start + room] for start in range(0, len(body), room)] or [[]]
            for number, chunk in enumerate(chunks):
                out.append(self._report(key, number, len(chunks), head + chunk))
        return out

    def _report(self, key: str | None, number: int, parts: int, refs: list[str]) -> dict[str, Any]:
        producer = self._producer
        updated = self._updated[key]
        id_parts = ["campaign", key or ""] + ([str(number)] if number else [])
        what = f"distillation campaign {key}" if key else "unattributed distillation activity"
        of = f" (part {number + 1} of {parts})" if parts > 1 else ""
        return {
            "type": "report",
            "spec_version": "2.1",
            "id": producer.object_id("report", *id_parts),
            "created_by_ref": producer.identity_id,
            "created": stix_timestamp(min(FIXED_OBJECT_TIME, updated)),
            "modified": stix_timestamp(updated),
            "published": stix_timestamp(updated),
            "name": f"{producer.name}: {what}{of}",
            "description": REPORT_DESCRIPTION.format(producer=producer.name, what=what),
            "report_types": ["campaign", "indicator"],
            "object_refs": refs,
            "object_marking_refs": [TLP_MARKING_IDS[TLP_ORDER[self._tlp_rank[key]]]],
        }

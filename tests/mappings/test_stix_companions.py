"""Standard companions: member indicators, reports, ATLAS kill chains, times, validity.

On the committed samples and on records built here (large clusters split into
parts, withdrawal, TLP of reports).
"""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from mappings.companions import (
    CLUSTER_INDICATOR_LIFETIME,
    CLUSTER_INDICATOR_MEMBERS,
    PROMPT_INDICATOR_LIFETIME,
    parse_members_pattern,
)
from mappings.convert import records_to_bundle, records_to_objects
from mappings.records import MemberHash
from mappings.timestamps import stix_timestamp
from mappings.well_known import ATLAS_KILL_CHAIN, ATLAS_TACTICS, TLP_MARKING_IDS
from tests.mappings import stix_factories as factories

SAMPLES = Path(__file__).resolve().parents[2] / "samples"
SAMPLE_BUNDLES = ("bundle.json", "lab-b-bundle.json", "updates-bundle.json")
PHASES = {phase for _, phase in ATLAS_TACTICS.values()}


def _sample(name: str) -> list[dict[str, Any]]:
    return json.loads((SAMPLES / name).read_text("utf-8"))["objects"]


def _member_indicators(objects: list[dict[str, Any]], cluster: dict[str, Any]) -> list[dict]:
    by_id = {o["id"]: o for o in objects}
    return [
        by_id[o["target_ref"]]
        for o in objects
        if o["type"] == "relationship"
        and o["source_ref"] == cluster["id"]
        and by_id.get(o["target_ref"], {}).get("pattern", "").startswith("[user-account:")
    ]


@pytest.mark.parametrize("name", SAMPLE_BUNDLES)
def test_samples_carry_every_companion(name: str) -> None:
    objects = _sample(name)
    by_id = {o["id"]: o for o in objects}
    clusters = [o for o in objects if o["type"] == "account-cluster"]
    assert clusters
    for cluster in clusters:
        members = {by_id[ref]["user_id"] for ref in cluster["member_refs"]}
        indicators = _member_indicators(objects, cluster)
        assert {h for i in indicators for h in parse_members_pattern(i["pattern"])} == members
        for indicator in indicators:
            for field in ("created", "modified", "confidence", "object_marking_refs"):
                assert indicator[field] == cluster[field]
            assert indicator.get("revoked", False) == cluster.get("revoked", False)
    indicators = [o for o in objects if o["type"] == "indicator"]
    assert all(i["valid_until"] > i["valid_from"] for i in indicators)
    for obj in indicators + [o for o in objects if o["type"] == "attack-pattern"]:
        ((chain, phase),) = [
            (p["kill_chain_name"], p["phase_name"]) for p in obj["kill_chain_phases"]
        ]
        assert chain == ATLAS_KILL_CHAIN and phase in PHASES
    campaigns = [o for o in objects if o["type"] == "campaign"]
    reports = [o for o in objects if o["type"] == "report"]
    assert len(reports) == len(campaigns) == 1
    (campaign,), (report,) = campaigns, reports
    assert campaign["first_seen"] <= campaign["last_seen"]
    assert campaign["id"] in report["object_refs"]
    assert set(report["object_refs"]) <= set(by_id), "every reference resolves in the bundle"
    for obj in objects:  # every object a record owns is in its campaign's report
        if obj["type"] in ("indicator", "account-cluster"):
            assert obj["id"] in report["object_refs"]


def test_campaign_times_span_its_records() -> None:
    records = [
        factories.ip_range(first_seen=factories.at("2026-03-01T00:00:00")),
        factories.cluster(last_seen=factories.at("2026-05-20T00:00:00")),
    ]
    (campaign,) = [
        o for o in records_to_objects(records, factories.LAB_A) if o["type"] == "campaign"
    ]
    assert campaign["first_seen"] == "2026-03-01T00:00:00.000Z"
    assert campaign["last_seen"] == "2026-05-20T00:00:00.000Z"


def test_validity_policy() -> None:
    cluster, fingerprint = factories.cluster(), factories.fingerprint()
    objects = records_to_objects([cluster, fingerprint], factories.LAB_A)
    indicators = [o for o in objects if o["type"] == "indicator"]
    members = [i for i in indicators if i["pattern"].startswith("[user-account:")]
    prompts = [i for i in indicators if i not in members]
    assert members and prompts
    assert {i["valid_until"] for i in members} == {
        stix_timestamp(cluster.last_seen + CLUSTER_INDICATOR_LIFETIME)
    }
    assert {i["valid_until"] for i in prompts} == {
        stix_timestamp(fingerprint.last_seen + PROMPT_INDICATOR_LIFETIME)
    }


def test_a_large_cluster_is_split_and_a_withdrawn_one_revokes_its_indicators() -> None:
    count = 2 * CLUSTER_INDICATOR_MEMBERS + 1
    members = [
        MemberHash(kind="email", hash=factories.keyed_hash(f"user{n}@example.com"))
        for n in range(count)
    ]
    big = factories.cluster(members=members, member_count=count)
    objects = records_to_bundle([big], factories.LAB_A)["objects"]
    (sdo,) = [o for o in objects if o["type"] == "account-cluster"]
    parts = _member_indicators(objects, sdo)
    sizes = sorted(len(parse_members_pattern(p["pattern"])) for p in parts)
    assert sizes == [1, CLUSTER_INDICATOR_MEMBERS, CLUSTER_INDICATOR_MEMBERS]
    assert {h for p in parts for h in parse_members_pattern(p["pattern"])} == {
        m.hash for m in members
    }
    assert all("(part " in p["name"] and " of 3)" in p["name"] for p in parts)
    later = big.model_copy(update={"withdrawn": True, "updated": big.updated + timedelta(days=1)})
    withdrawn = records_to_objects([later], factories.LAB_A)
    ids = {p["id"] for p in parts}
    again = [o for o in withdrawn if o["id"] in ids]
    assert len(again) == 3 and all(o["revoked"] is True for o in again)


def test_a_report_takes_the_most_restrictive_level_of_its_records() -> None:
    records = [factories.ip_range(tlp="green"), factories.cluster(tlp="red")]
    objects = records_to_objects(records, factories.LAB_A)
    (report,) = [o for o in objects if o["type"] == "report"]
    (campaign,) = [o for o in objects if o["type"] == "campaign"]
    assert report["object_marking_refs"] == [TLP_MARKING_IDS["red"]]
    assert campaign["object_marking_refs"] == [TLP_MARKING_IDS["green"]]

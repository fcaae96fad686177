"""The correlation rules on objects made by the mappings (no server): what links, what does not."""

from __future__ import annotations

from typing import Any

from exchange.correlate import correlate, correlation_bundle
from mappings.convert import records_to_objects
from mappings.records import MemberHash
from mappings.validation import validate_bundle
from tests.mappings import stix_factories as factories

HASH = factories.keyed_hash("someone@example.com")


def _lab(producer, *records) -> list[dict[str, Any]]:
    return records_to_objects(list(records), producer)


def test_a_range_inside_another_labs_range_links_their_campaigns() -> None:
    a = _lab(factories.LAB_A, factories.ip_range(cidr="198.51.100.0/24"))
    b = _lab(factories.LAB_B, factories.ip_range(cidr="198.51.100.64/26", campaign="other"))
    (found,) = correlate(a + b)
    assert found.ranges.shared == ("198.51.100.64/26 in 198.51.100.0/24",)
    assert found.ranges.jaccard == 1.0 and found.accounts.count == found.fingerprints.count == 0


def test_disjoint_ranges_and_other_families_do_not_link() -> None:
    a = _lab(factories.LAB_A, factories.ip_range(cidr="198.51.100.0/25"))
    b = _lab(
        factories.LAB_B,
        factories.ip_range(cidr="198.51.100.128/25"),
        factories.ipv6_range(cidr="2001:db8::/32"),
    )
    assert correlate(a + b) == []


def test_one_labs_own_campaigns_never_correlate_with_each_other() -> None:
    objects = _lab(
        factories.LAB_A,
        factories.ip_range(cidr="198.51.100.0/24", campaign="one"),
        factories.ip_range(cidr="198.51.100.0/25", campaign="two"),
    )
    assert correlate(objects) == []


def test_shared_account_hash_and_withdrawn_records() -> None:
    members = [MemberHash(kind="email", hash=HASH)]
    a = _lab(factories.LAB_A, factories.cluster(members=members, member_count=1))
    b = _lab(
        factories.LAB_B,
        factories.cluster(cluster_id="b-1", members=members, member_count=1, tlp="green"),
    )
    (found,) = correlate(a + b)
    assert found.accounts.shared == (HASH,) and found.accounts.jaccard == 1.0
    assert found.tlp == "amber"  # the most restrictive of what it read
    withdrawn = _lab(
        factories.LAB_B,
        factories.cluster(cluster_id="b-1", members=members, member_count=1, withdrawn=True),
    )
    assert correlate(a + withdrawn) == []


def test_a_third_party_cannot_attach_evidence_to_someone_elses_campaign() -> None:
    a = _lab(factories.LAB_A, factories.ip_range(cidr="198.51.100.0/24"))
    b = _lab(factories.LAB_B, factories.ip_range(cidr="203.0.113.0/24"))
    b_range = next(o for o in b if o["type"] == "indicator" and "ISSUBSET" in o["pattern"])
    a_campaign = next(o for o in a if o["type"] == "campaign")
    forged = {
        "type": "relationship",
        "spec_version": "2.1",
        "id": "relationship--6f3c3c3e-0000-4000-8000-000000000001",
        "created_by_ref": factories.LAB_B.identity_id,
        "created": "2026-05-02T10:00:00.000Z",
        "modified": "2026-05-02T10:00:00.000Z",
        "relationship_type": "indicates",
        "source_ref": b_range["id"],
        "target_ref": a_campaign["id"],
    }
    assert correlate(a + b + [forged]) == []


def test_min_shared_and_the_published_grouping() -> None:
    members = [MemberHash(kind="email", hash=HASH)]
    a = _lab(factories.LAB_A, factories.cluster(members=members, member_count=1))
    b = _lab(factories.LAB_B, factories.cluster(members=members, member_count=1))
    assert correlate(a + b, min_shared=2) == []
    found = correlate(a + b)
    bundle = correlation_bundle(found, factories.LAB_B)
    assert validate_bundle(bundle).ok
    (grouping,) = [o for o in bundle["objects"] if o["type"] == "grouping"]
    assert grouping["created_by_ref"] == factories.LAB_B.identity_id
    assert grouping["context"] == "suspicious-activity"
    again = correlation_bundle(correlate(a + b), factories.LAB_B)
    assert next(o for o in again["objects"] if o["type"] == "grouping")["id"] == grouping["id"]

"""Same input, same bytes; updates are new versions of the same ids; withdrawals revoke."""

from __future__ import annotations

import random
import re
from datetime import timedelta
from typing import Any

import pytest

import tests.mappings.stix_factories as factories
from mappings.convert import MappingError, bundle_json, records_to_bundle
from mappings.producer import Producer
from mappings.well_known import TLP_MARKING_IDS, WELL_KNOWN_IDS

SHARED_TYPES = {"campaign", "report", "infrastructure"}
OBSERVABLE_TYPES = {
    "ipv4-addr",
    "ipv6-addr",
    "autonomous-system",
    "user-account",
    "prompt-fingerprint",
}


def _objects(records: list[Any], producer: Producer = factories.LAB_A) -> dict[str, Any]:
    return {obj["id"]: obj for obj in records_to_bundle(records, producer)["objects"]}


def _record_owned(objects: dict[str, Any], producer: Producer) -> dict[str, Any]:
    """Objects the lab authors for its records (not identity, shared or well-known ones)."""
    return {
        object_id: obj
        for object_id, obj in objects.items()
        if obj.get("created_by_ref") == producer.identity_id
        and obj["type"] not in SHARED_TYPES | {"identity"}
        and obj.get("relationship_type") != "uses"
    }


def test_same_records_give_byte_identical_bundles_whatever_their_order() -> None:
    records = factories.campaign_records()
    first = bundle_json(records_to_bundle(records, factories.LAB_A))
    again = bundle_json(records_to_bundle(factories.campaign_records(), factories.LAB_A))
    shuffled = records[:]
    random.Random(7).shuffle(shuffled)
    assert first == again == bundle_json(records_to_bundle(shuffled, factories.LAB_A))
    assert first.endswith(b"\n") and first.count(b"\n") == 1
    first.decode("utf-8")


def test_bundle_json_is_canonical_for_any_object_order() -> None:
    bundle = records_to_bundle(factories.campaign_records(), factories.LAB_A)
    reordered = dict(bundle, objects=list(reversed(bundle["objects"])))
    assert bundle_json(reordered) == bundle_json(bundle)


def test_updated_record_keeps_its_ids_and_gets_a_later_modified() -> None:
    records = factories.campaign_records()
    later = [
        r.model_copy(update={"updated": r.updated + timedelta(hours=6), "confidence": 95})
        for r in records
    ]
    before, after = _objects(records), _objects(later)
    assert set(before) == set(after)
    owned = _record_owned(before, factories.LAB_A)
    assert owned, "the records produce objects of their own"
    for object_id, old in owned.items():
        new = after[object_id]
        assert new["modified"] > old["modified"]
        assert new["created"] == old["created"], "created is first_seen and never moves"
        assert new["confidence"] == 95
    for object_id, old in before.items():
        if old["type"] in SHARED_TYPES:
            assert after[object_id]["modified"] > old["modified"]
            assert after[object_id]["created"] == old["created"]


def test_bundle_id_changes_with_content_and_only_then() -> None:
    records = factories.campaign_records()
    same = records_to_bundle(records, factories.LAB_A)["id"]
    assert records_to_bundle(factories.campaign_records(), factories.LAB_A)["id"] == same
    later = [records[0].model_copy(update={"updated": records[0].updated + timedelta(1)})]
    assert records_to_bundle(later + records[1:], factories.LAB_A)["id"] != same


def test_withdrawn_record_revokes_every_object_it_owns() -> None:
    records = factories.campaign_records()
    withdrawn = [
        r.model_copy(update={"withdrawn": True, "updated": r.updated + timedelta(1)})
        for r in records
    ]
    objects = _objects(withdrawn)
    owned = _record_owned(objects, factories.LAB_A)
    kinds = {obj["type"] for obj in owned.values()}
    assert {"account-cluster", "indicator", "relationship"} <= kinds
    assert all(obj.get("revoked") is True for obj in owned.values())
    for obj in objects.values():
        if obj["type"] in SHARED_TYPES or obj["id"] in WELL_KNOWN_IDS:
            assert "revoked" not in obj
    assert not any(obj.get("revoked") for obj in _objects(records).values())


def test_different_producers_author_different_ids() -> None:
    a = _objects(factories.campaign_records(), factories.LAB_A)
    b = _objects(factories.campaign_records(), factories.LAB_B)
    authored_a = {i for i, o in a.items() if o.get("created_by_ref") == factories.LAB_A.identity_id}
    authored_b = {i for i, o in b.items() if o.get("created_by_ref") == factories.LAB_B.identity_id}
    assert authored_a and authored_b and not authored_a & authored_b
    common = set(a) & set(b)
    assert all(a[i]["type"] in OBSERVABLE_TYPES or i in WELL_KNOWN_IDS for i in common)


def test_same_fingerprint_from_two_producers_is_the_same_observable() -> None:
    a = _objects([factories.fingerprint()], factories.LAB_A)
    theirs = factories.fingerprint(fingerprint_id="their-own-name", tlp="amber")
    b = _objects([theirs], factories.LAB_B)
    scos_a = {i for i, o in a.items() if o["type"] == "prompt-fingerprint"}
    scos_b = {i for i, o in b.items() if o["type"] == "prompt-fingerprint"}
    assert len(scos_a) == 3 and scos_a == scos_b
    # Unmarked, so byte-identical whatever each lab's TLP: the server can store either copy.
    assert all(a[same] == b[same] and "object_marking_refs" not in a[same] for same in scos_a)


def test_shared_objects_take_the_least_restrictive_tlp_of_their_records() -> None:
    records = [
        factories.ip_range(tlp="red"),
        factories.ip_range(cidr="203.0.113.0/25", tlp="green"),
        factories.cluster(tlp="amber"),
    ]
    objects = _objects(records)
    campaign = next(o for o in objects.values() if o["type"] == "campaign")
    assert campaign["object_marking_refs"] == [TLP_MARKING_IDS["green"]]
    # Observables are never marked (docs/stix-mapping.md): the statements about them are.
    red_range = next(o for o in objects.values() if o.get("value") == "198.51.100.0/24")
    assert "object_marking_refs" not in red_range
    red_indicator = next(
        o
        for o in objects.values()
        if "198.51.100.0/24" in o.get("pattern", "") and "ISSUBSET" in o["pattern"]
    )
    assert red_indicator["object_marking_refs"] == [TLP_MARKING_IDS["red"]]
    system = next(o for o in objects.values() if o["type"] == "autonomous-system")
    assert "object_marking_refs" not in system


def test_two_records_with_one_key_in_a_batch_are_refused() -> None:
    twice = [factories.ip_range(), factories.ip_range(confidence=1)]
    expected = re.escape("record 1: a second ip-range with key '198.51.100.0/24'")
    with pytest.raises(MappingError, match=expected):
        records_to_bundle(twice, factories.LAB_A)


def test_producer_key_is_validated() -> None:
    with pytest.raises(ValueError, match="producer key"):
        Producer("alice@example.com", "Lab")
    with pytest.raises(ValueError, match="name"):
        Producer("lab-c.example", " ")
    assert Producer("lab-c.example", "C").identity_id == Producer("lab-c.example", "C2").identity_id

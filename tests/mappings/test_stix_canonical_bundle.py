"""The record-by-record builder writes exactly the bytes of the dict path, plain and pretty."""

from __future__ import annotations

import json
import re

import orjson
import pytest

import tests.mappings.stix_factories as factories
from mappings.canonical_bundle import CanonicalBundleBuilder
from mappings.convert import MappingError, bundle_json, records_to_bundle
from mappings.records import AccountCluster, IpRange, PromptFingerprint

Record = AccountCluster | PromptFingerprint | IpRange


def _varied_batch() -> list[Record]:
    """Every code path, plus what makes shared objects merge: the same AS and the same
    member hash named by records of different TLPs and update times, withdrawals,
    records without a campaign, and a name that JSON has to escape."""
    shared_member = factories.cluster().members[0]
    return [
        *factories.campaign_records(),
        factories.cluster(
            cluster_id="cluster-0002",
            tlp="clear",
            withdrawn=True,
            members=[shared_member],
            member_count=1,
            campaign=None,
            prompt_fingerprint_refs=[],
            ip_range_refs=[],
        ),
        factories.fingerprint(fingerprint_id="tmpl-other", tlp="red", withdrawn=True),
        factories.ip_range(
            cidr="203.0.113.0/25",
            tlp="clear",
            as_name='EXAMPLE "QUOTED" NET\\ caf\u00e9',
            updated=factories.at("2026-05-03T00:00:00"),
        ),
        factories.ip_range(cidr="192.0.2.128/25", valid_until=factories.at("2026-07-01T00:00:00")),
    ]


def _built(records: list[Record], *, pretty: bool = False) -> bytes:
    builder = CanonicalBundleBuilder(factories.LAB_A, pretty=pretty)
    for record in records:
        builder.add(record)
    return builder.finish().data


@pytest.mark.parametrize("pretty", [False, True], ids=["compact", "pretty"])
def test_builder_bytes_equal_the_dict_path(pretty: bool) -> None:
    records = _varied_batch()
    expected = bundle_json(records_to_bundle(records, factories.LAB_A), pretty=pretty)
    assert _built(records, pretty=pretty) == expected
    assert _built(list(reversed(records)), pretty=pretty) == expected  # input order is irrelevant


def test_the_merged_shared_objects_are_in_the_builder_output_too() -> None:
    """The case the equality test must cover: one AS and one member hash named at two
    TLPs are written once, unmarked."""
    bundle = json.loads(_built(_varied_batch()))
    by_id = {obj["id"]: obj for obj in bundle["objects"]}
    assert len(by_id) == len(bundle["objects"])
    system = [
        o for o in by_id.values() if o["type"] == "autonomous-system" and o["number"] == 64500
    ]
    assert len(system) == 1
    assert "object_marking_refs" not in system[0]


def test_chunks_object_count_and_bundle_id_describe_the_bytes() -> None:
    builder = CanonicalBundleBuilder(factories.LAB_A)
    builder.add_all(_varied_batch())
    bundle = builder.finish()
    data = b"".join(bundle.chunks())
    parsed = orjson.loads(data)
    assert data == bundle.data
    assert parsed["id"] == bundle.bundle_id
    assert len(parsed["objects"]) == bundle.object_count
    ids = [obj["id"] for obj in parsed["objects"]]
    assert ids == sorted(ids)


def test_observer_sees_every_object_once() -> None:
    seen: list[str] = []
    builder = CanonicalBundleBuilder(factories.LAB_A, observe=lambda obj: seen.append(obj["id"]))
    builder.add_all(_varied_batch())
    bundle = builder.finish()
    assert sorted(seen) == [obj["id"] for obj in orjson.loads(bundle.data)["objects"]]


def test_a_repeated_record_key_is_refused() -> None:
    builder = CanonicalBundleBuilder(factories.LAB_A)
    builder.add(factories.ip_range())
    with pytest.raises(
        MappingError, match=re.escape("a second ip-range with key '198.51.100.0/24'")
    ):
        builder.add(factories.ip_range(confidence=10))


def test_a_finished_builder_takes_nothing_more() -> None:
    """The bundle shares the builder's buffer: a second finish or a late record would
    change or break it, so both are refused."""
    builder = CanonicalBundleBuilder(factories.LAB_A)
    builder.add(factories.ip_range())
    bundle = builder.finish()
    for late in (lambda: builder.add(factories.cluster()), builder.finish):
        with pytest.raises(RuntimeError, match="finished"):
            late()
    assert orjson.loads(bundle.data)["id"] == bundle.bundle_id

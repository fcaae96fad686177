"""Bundles parse with stix2 (allow_custom=False) and convert back to the records they came from."""

from __future__ import annotations

import copy
import ipaddress
import json
import re
from datetime import timedelta
from typing import Any

import pytest
import stix2
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import mappings  # noqa: F401  (registers the custom classes, as every consumer must)
import tests.mappings.stix_factories as factories
from mappings.convert import (
    MappingError,
    bundle_json,
    objects_to_records,
    objects_to_records_by_producer,
    records_to_bundle,
)
from mappings.names import EXT_FINGERPRINT_INDICATOR
from mappings.record_kinds import record_key
from mappings.records import IpRange
from mappings.stix_classes import AccountCluster as AccountClusterSdo
from mappings.stix_classes import PromptFingerprintObservable


def _sorted(records: list[Any]) -> list[Any]:
    order = {"account-cluster": 0, "prompt-fingerprint": 1, "ip-range": 2}
    return sorted(records, key=lambda r: (order[r.kind], record_key(r)))


def test_bundle_parses_with_stix2_without_custom_content() -> None:
    bundle = records_to_bundle(factories.campaign_records(), factories.LAB_A)
    parsed = stix2.parse(bundle_json(bundle).decode(), allow_custom=False)
    assert len(parsed.objects) == len(bundle["objects"])
    by_type = {type(obj).__name__ for obj in parsed.objects}
    assert {"AccountCluster", "PromptFingerprintObservable", "Indicator"} <= by_type
    sdo = next(obj for obj in parsed.objects if isinstance(obj, AccountClusterSdo))
    assert sdo.member_count == 240
    assert sdo.hashing.key_id == factories.KEY_ID


def test_parsed_objects_convert_back_to_the_input_records() -> None:
    records = factories.campaign_records()
    bundle = records_to_bundle(records, factories.LAB_A)
    parsed = stix2.parse(bundle_json(bundle).decode(), allow_custom=False)
    plain = [json.loads(obj.serialize()) for obj in parsed.objects]
    assert objects_to_records(plain) == _sorted(records)
    assert objects_to_records(bundle["objects"]) == _sorted(records)


def test_default_expiry_microseconds_and_withdrawal_survive_the_round_trip() -> None:
    records = [
        factories.ip_range(valid_until=None, last_seen=factories.at("2026-05-01T18:00:00.000001")),
        factories.ipv6_range(withdrawn=True),
        factories.fingerprint(withdrawn=True, campaign=None, elicitation_features=[]),
        factories.cluster(members=[], linking_signals=[], prompt_fingerprint_refs=[]),
    ]
    bundle = records_to_bundle(records, factories.LAB_A)
    assert objects_to_records(bundle["objects"]) == _sorted(records)


def test_a_feed_with_several_versions_gives_the_latest_records() -> None:
    first = factories.campaign_records()
    later = [
        record.model_copy(update={"updated": record.updated + timedelta(days=1), "confidence": 99})
        for record in first
    ]
    feed = records_to_bundle(later, factories.LAB_A)["objects"]
    feed += records_to_bundle(first, factories.LAB_A)["objects"]
    assert objects_to_records(feed) == _sorted(later)


def test_records_of_two_producers_stay_apart() -> None:
    a = records_to_bundle([factories.ip_range(confidence=10)], factories.LAB_A)
    b = records_to_bundle([factories.ip_range(confidence=90)], factories.LAB_B)
    by_producer = objects_to_records_by_producer(a["objects"] + b["objects"])
    assert by_producer[factories.LAB_A.identity_id][0].confidence == 10
    assert by_producer[factories.LAB_B.identity_id][0].confidence == 90
    assert len(objects_to_records(a["objects"] + b["objects"])) == 2


def test_objects_the_exchange_does_not_map_back_are_ignored() -> None:
    bundle = records_to_bundle(factories.campaign_records(), factories.LAB_A)
    foreign = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": "indicator--8e2e2d2b-17d4-4cbf-938f-98ee46b3cd3f",
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "pattern": "[url:value = 'http://example.com/']",
        "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00Z",
    }
    assert objects_to_records([*bundle["objects"], foreign]) == _sorted(
        factories.campaign_records()
    )


def _without(objects: list[dict[str, Any]], drop: Any) -> list[dict[str, Any]]:
    return [obj for obj in objects if not drop(obj)]


def test_incomplete_or_inconsistent_objects_are_refused_with_the_object_named() -> None:
    objects = records_to_bundle(factories.campaign_records(), factories.LAB_A)["objects"]

    no_members = _without(objects, lambda o: o["type"] == "user-account")
    with pytest.raises(MappingError, match="member_refs: user-account--"):
        objects_to_records(no_members)

    def is_second_fingerprint(obj: dict[str, Any]) -> bool:
        details = obj.get("extensions", {}).get(EXT_FINGERPRINT_INDICATOR, {})
        return details.get("position") == 1

    with pytest.raises(MappingError, match=re.escape("positions 0..3-1")):
        objects_to_records(_without(objects, is_second_fingerprint))

    tampered = copy.deepcopy(objects)
    signature = next(o for o in tampered if o.get("pattern_type") == "dx-prompt-signature")
    signature["pattern"] = signature["pattern"].replace('"key_id":"test-2026"', '"key_id":"other"')
    with pytest.raises(MappingError, match=f"{signature['id']}: pattern: .*key_id"):
        objects_to_records(tampered)

    unmarked = copy.deepcopy(objects)
    sdo = next(o for o in unmarked if o["type"] == "account-cluster")
    del sdo["object_marking_refs"]
    with pytest.raises(MappingError, match=f"{sdo['id']}: object_marking_refs"):
        objects_to_records(unmarked)


def test_prompt_fingerprint_sco_id_is_the_one_stix2_computes() -> None:
    value = factories.fingerprint().fingerprints[1]
    bundle = records_to_bundle([factories.fingerprint()], factories.LAB_A)
    scos = [o for o in bundle["objects"] if o["type"] == "prompt-fingerprint"]
    ours = next(o for o in scos if o["value"] == value.value)
    theirs = PromptFingerprintObservable(
        algorithm=value.algorithm, key_id=value.key_id, value=value.value
    )
    assert ours["id"] == theirs.id


def test_standard_sco_ids_are_the_ones_stix2_computes() -> None:
    bundle = records_to_bundle(factories.campaign_records(), factories.LAB_A)
    for obj in bundle["objects"]:
        if obj["type"] in {"ipv4-addr", "ipv6-addr", "autonomous-system", "user-account"}:
            fields = {k: v for k, v in obj.items() if k not in {"id", "object_marking_refs"}}
            assert stix2.parse(fields, allow_custom=False).id == obj["id"]


# -- property-based: any valid IP range round-trips ---------------------------------------

_times = st.datetimes(
    min_value=factories.at("2025-01-01T00:00:00").replace(tzinfo=None),
    max_value=factories.at("2027-01-01T00:00:00").replace(tzinfo=None),
)


def _network(bits: int, number: int, prefix: int) -> str:
    """The canonical CIDR of ``number`` with its host bits cleared."""
    network = number >> (bits - prefix) << (bits - prefix)
    family = ipaddress.IPv4Network if bits == 32 else ipaddress.IPv6Network
    return family((network, prefix)).compressed


_networks = st.one_of(
    st.builds(_network, st.just(32), st.integers(0, 2**32 - 1), st.integers(8, 32)),
    st.builds(_network, st.just(128), st.integers(0, 2**128 - 1), st.integers(16, 128)),
)


@settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(
    network=_networks,
    start=_times,
    spans=st.tuples(*[st.timedeltas(timedelta(0), timedelta(days=90))] * 3),
    confidence=st.integers(0, 100),
    tlp=st.sampled_from(["clear", "green", "amber", "amber+strict", "red"]),
    share=st.floats(0, 1),
    asn=st.integers(0, 4_294_967_295),
    name=st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=40),
    withdrawn=st.booleans(),
    expiry=st.booleans(),
    campaign=st.one_of(st.none(), st.from_regex(r"[a-z][a-z0-9-]{0,20}", fullmatch=True)),
)
def test_any_valid_ip_range_round_trips(
    network: str,
    start: Any,
    spans: tuple[timedelta, timedelta, timedelta],
    confidence: int,
    tlp: str,
    share: float,
    asn: int,
    name: str,
    withdrawn: bool,
    expiry: bool,
    campaign: str | None,
) -> None:
    first = start.replace(tzinfo=factories.at("2026-01-01T00:00:00").tzinfo)
    last, updated = first + spans[0], first + spans[1]
    fields = {
        "updated": updated,
        "first_seen": first,
        "last_seen": last,
        "confidence": confidence,
        "tlp": tlp,
        "campaign": campaign,
        "cidr": network,
        "asn": asn,
        "as_name": name,
        "provider_type": "vpn",
        "traffic_share": share,
        "benign_accounts_seen": 0,
        "recommended_action": "monitor",
        "withdrawn": withdrawn,
        "valid_until": first + spans[2] + timedelta(seconds=1) if expiry else None,
    }
    try:
        record = IpRange.model_validate(fields)
    except ValueError:
        return  # e.g. a name that is only whitespace: the model refuses it, nothing to map
    bundle = records_to_bundle([record], factories.LAB_A)
    assert objects_to_records(bundle["objects"]) == [record]


# -- hostile input: partner feeds are not trusted -----------------------------------------

_junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=3),
)
_BASE_OBJECTS = records_to_bundle(factories.campaign_records(), factories.LAB_A)["objects"]
_MAPPED = [i for i, o in enumerate(_BASE_OBJECTS) if o["type"] in {"account-cluster", "indicator",
           "user-account"}]  # fmt: skip


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += _paths(item, (*prefix, index))
    return found


@settings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
)
@given(data=st.data(), junk=_junk)
def test_malformed_objects_raise_mapping_errors_or_are_reported(data: Any, junk: Any) -> None:
    objects = copy.deepcopy(_BASE_OBJECTS)
    target = objects[data.draw(st.sampled_from(_MAPPED))]
    path = data.draw(st.sampled_from([p for p in _paths(target) if p[0] not in {"type", "id"}]))
    holder = target
    for part in path[:-1]:
        holder = holder[part]
    holder[path[-1]] = junk

    try:
        objects_to_records(objects)
    except MappingError as exc:
        assert str(exc)
    reported: list[MappingError] = []
    records = objects_to_records(objects, on_error=reported.append)
    # Every record comes back or is reported, except the one whose object no longer
    # carries the project's extension (it is then someone else's content, ignored).
    assert len(records) + len(reported) >= len(factories.campaign_records()) - 1
    assert all(isinstance(error, MappingError) for error in reported)

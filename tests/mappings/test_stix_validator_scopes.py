"""The exchange's validator says exactly what stix2-validator 3.2.0 says, only faster;
sampled validation covers every shape of object and says how much it checked."""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

import pytest
from stix2validator import validate_instance

import tests.mappings.stix_factories as factories
from mappings.convert import records_to_bundle
from mappings.names import EXT_ACCOUNT_CLUSTER
from mappings.validation import (
    FULL_VALIDATION_LIMIT,
    SAMPLE_PER_SHAPE,
    object_shape,
    sample_objects,
    validate_bundle,
    validator_options,
)


@pytest.fixture(scope="module")
def bundle() -> dict[str, Any]:
    return records_to_bundle(factories.campaign_records(), factories.LAB_A)


def _first(objects: list[dict[str, Any]], stix_type: str) -> dict[str, Any]:
    return next(obj for obj in objects if obj["type"] == stix_type)


def _broken(bundle: dict[str, Any]) -> dict[str, Any]:
    """One fault per kind of check: built-in schema, project schema, MUST, SHOULD."""
    broken = copy.deepcopy(bundle)
    objects = broken["objects"]
    indicator = _first(objects, "indicator")
    indicator["confidence"] = 500  # built-in schema
    indicator["pattern"] = "[ipv4-addr:value = '198.51.100.1'"  # MUST: pattern grammar
    _first(objects, "user-account")["account_login"] = "alice@example.com"  # project schema
    relationship = _first(objects, "relationship")
    relationship["relationship_type"] = "Bogus"  # SHOULD: relationship type format
    relationship["created"] = "2020-01-01"  # MUST and schema: timestamp
    del _first(objects, "account-cluster")["extensions"][EXT_ACCOUNT_CLUSTER]
    return broken


def _library_messages(bundle: dict[str, Any]) -> list[str]:
    result = validate_instance(copy.deepcopy(bundle), validator_options())
    return [str(getattr(error, "message", error)) for error in result.errors]


def test_same_messages_in_the_same_order_as_the_library(bundle: dict[str, Any]) -> None:
    assert validate_bundle(bundle).errors == _library_messages(bundle) == []
    broken = _broken(bundle)
    expected = _library_messages(broken)
    assert len(expected) >= 6
    report = validate_bundle(broken)
    assert report.errors == expected
    assert (report.checked, report.total) == (len(bundle["objects"]), len(bundle["objects"]))


def test_a_process_pool_gives_the_same_messages(bundle: dict[str, Any]) -> None:
    broken = _broken(bundle)
    assert validate_bundle(broken, workers=2).errors == validate_bundle(broken, workers=1).errors


def test_the_sample_holds_every_shape_up_to_its_quota(bundle: dict[str, Any]) -> None:
    objects = bundle["objects"]
    many = objects + [
        dict(obj, id=f"relationship--{index:08d}-0000-4000-8000-000000000000")
        for index, obj in enumerate(o for o in objects * 3 if o["type"] == "relationship")
    ]
    sample = sample_objects(many)
    shapes, sampled = Counter(map(object_shape, many)), Counter(map(object_shape, sample))
    assert set(sampled) == set(shapes)
    assert all(sampled[s] == min(n, SAMPLE_PER_SHAPE) for s, n in shapes.items())
    assert len(sample) < len(many)
    assert sample == sample_objects(many)  # deterministic: same bundle, same verdict


def test_sample_scope_reports_what_it_checked_and_catches_rare_shapes(
    bundle: dict[str, Any],
) -> None:
    broken = copy.deepcopy(bundle)
    _first(broken["objects"], "campaign")["created"] = "yesterday"
    report = validate_bundle(broken, scope="sample")
    assert any(
        error.startswith(_first(broken["objects"], "campaign")["id"]) for error in report.errors
    )
    assert report.checked == len(sample_objects(broken["objects"]))
    assert report.total == len(broken["objects"])


def test_auto_scope_checks_every_object_of_a_bundle_up_to_the_limit(
    bundle: dict[str, Any],
) -> None:
    assert len(bundle["objects"]) <= FULL_VALIDATION_LIMIT
    broken = _broken(bundle)
    report = validate_bundle(broken, scope="auto")
    assert report.checked == report.total == len(bundle["objects"])
    assert report.errors == validate_bundle(broken).errors


def test_input_the_fast_path_does_not_cover_goes_to_the_library(bundle: dict[str, Any]) -> None:
    odd = copy.deepcopy(bundle)
    odd["objects"].append("not an object")
    with pytest.raises(Exception) as raised:
        validate_instance(copy.deepcopy(odd), validator_options())
    report = validate_bundle(odd)
    assert not report.ok and str(raised.value) in report.errors[0]


@pytest.mark.parametrize("scope", ["sample", "auto", "full"])
def test_malformed_values_are_reported_in_every_scope_not_raised(bundle, scope) -> None:
    """A list where a string belongs must reach the validator's report, never a TypeError."""
    broken = copy.deepcopy(bundle)
    indicator = _first(broken["objects"], "indicator")
    indicator["pattern_type"] = ["stix"]
    report = validate_bundle(broken, scope=scope)
    assert not report.ok
    assert any(indicator["id"] in error for error in report.errors)

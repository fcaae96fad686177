"""Bundles pass stix2-validator 3.2.0 --strict with the project's schemas; broken ones fail."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from stix2validator import ValidationOptions, validate_instance
from stix2validator.v21 import shoulds

import mappings
import tests.mappings.stix_factories as factories
from mappings.convert import bundle_json, records_to_bundle
from mappings.names import (
    EXT_ACCOUNT_CLUSTER,
    EXT_FINGERPRINT_INDICATOR,
    EXT_IP_RANGE_INDICATOR,
    EXT_KEYED_IDENTIFIER,
    EXT_PROMPT_FINGERPRINT,
    EXT_TLP2,
    PROJECT_EXTENSIONS,
)
from mappings.validation import DISABLED_CHECKS, validate_bundle, validator_options
from mappings.well_known import TLP_MARKING_IDS, WELL_KNOWN_OBJECTS

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bundle() -> dict[str, Any]:
    return records_to_bundle(factories.campaign_records(), factories.LAB_A)


def test_bundle_of_every_kind_passes_strict_validation(bundle: dict[str, Any]) -> None:
    report = validate_bundle(bundle)
    assert report.errors == []
    assert report.ok
    types = {obj["type"] for obj in bundle["objects"]}
    assert {"account-cluster", "prompt-fingerprint", "user-account", "indicator"} <= types
    assert {"ipv4-addr", "ipv6-addr", "autonomous-system", "campaign", "infrastructure"} <= types
    assert {"attack-pattern", "marking-definition", "extension-definition"} <= types


def test_bytes_text_and_file_inputs_validate(bundle: dict[str, Any], tmp_path: Path) -> None:
    data = bundle_json(bundle)
    path = tmp_path / "bundle.json"
    path.write_bytes(data)
    for given in (data, data.decode(), path):
        report = validate_bundle(given)
        assert report.ok, report.errors


def test_every_well_known_object_validates() -> None:
    objects = [copy.deepcopy(obj) for obj in WELL_KNOWN_OBJECTS.values()]
    bundle_id = "bundle--6a1f0b2e-0c3d-4e5f-8a9b-0c1d2e3f4a5b"
    report = validate_bundle({"type": "bundle", "id": bundle_id, "objects": objects})
    assert report.errors == []


def _first(bundle: dict[str, Any], match: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    return next(obj for obj in bundle["objects"] if match(obj))


def _of_type(stix_type: str, extension: str | None = None) -> Callable[[dict[str, Any]], bool]:
    def match(obj: dict[str, Any]) -> bool:
        return obj["type"] == stix_type and (
            extension is None or extension in obj.get("extensions", {})
        )

    return match


def _set(path: tuple[str, ...], value: Any) -> Callable[[dict[str, Any]], None]:
    def change(obj: dict[str, Any]) -> None:
        target = obj
        for part in path[:-1]:
            target = target[part]
        target[path[-1]] = value

    return change


BREAKAGES = [
    ("account-cluster", None, _set(("member_count",), 0), "member_count"),
    ("account-cluster", None, _set(("enforcement",), "nuked"), "enforcement"),
    ("account-cluster", None, _set(("hashing", "algorithm"), "sha1"), "hashing.algorithm"),
    ("account-cluster", None, _set(("x_notes",), "free text"), "x_notes"),
    ("user-account", None, _set(("user_id",), "alice.distiller@example.com"), "does not match"),
    ("user-account", None, _set(("display_name",), "Alice"), "display_name"),
    (
        "user-account",
        None,
        _set(("extensions", EXT_KEYED_IDENTIFIER, "identifier_kind"), "ssn"),
        "ssn",
    ),
    ("prompt-fingerprint", None, _set(("algorithm",), "md5"), "md5"),
    ("prompt-fingerprint", None, _set(("prompt_text",), "raw prompt"), "prompt_text"),
    (
        "indicator",
        EXT_FINGERPRINT_INDICATOR,
        _set(("extensions", EXT_FINGERPRINT_INDICATOR, "scope"), "whole_chat"),
        "whole_chat",
    ),
    (
        "indicator",
        EXT_FINGERPRINT_INDICATOR,
        _set(("extensions", EXT_FINGERPRINT_INDICATOR, "benign_fp_rate"), 1.5),
        "1.5",
    ),
    (
        "indicator",
        EXT_IP_RANGE_INDICATOR,
        _set(("extensions", EXT_IP_RANGE_INDICATOR, "traffic_share"), 2),
        "traffic_share",
    ),
    (
        "indicator",
        EXT_IP_RANGE_INDICATOR,
        _set(("extensions", EXT_IP_RANGE_INDICATOR, "provider_type"), "satellite"),
        "satellite",
    ),
    (
        "marking-definition",
        None,
        _set(("extensions", EXT_TLP2, "tlp_2_0"), "red"),
        "marking-definition",
    ),
]


@pytest.mark.parametrize(("stix_type", "extension", "change", "expected"), BREAKAGES)
def test_broken_custom_object_fails_only_because_of_the_project_schemas(
    bundle: dict[str, Any],
    stix_type: str,
    extension: str | None,
    change: Callable[[dict[str, Any]], None],
    expected: str,
) -> None:
    target = copy.deepcopy(_first(bundle, _of_type(stix_type, extension)))
    change(target)
    broken = {"type": "bundle", "id": bundle["id"], "objects": [target]}

    report = validate_bundle(broken)
    assert not report.ok
    assert any(target["id"] in error and expected in error for error in report.errors), (
        report.errors
    )
    # The same object passes the validator's built-in checks: the project's schema caught it.
    without_schemas = validator_options()
    without_schemas.schema_dir = None
    builtin_errors = validate_instance(broken, without_schemas).errors
    assert not any(target["id"] in str(error) for error in builtin_errors)


def test_a_schema_exists_for_every_extension_the_project_defines() -> None:
    names = {path.name for path in mappings.schemas_dir().iterdir()}
    assert {f"{ext}.json" for ext in (*PROJECT_EXTENSIONS, EXT_TLP2)} == names
    for path in mappings.schemas_dir().iterdir():
        schema = json.loads(path.read_text("utf-8"))
        assert schema["$id"] == path.name
        assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
        assert "http" not in json.dumps(schema.get("$defs", {})), "schemas must be offline"


def test_new_sdo_extension_is_required_by_its_schema(bundle: dict[str, Any]) -> None:
    broken = copy.deepcopy(bundle)
    sdo = _first(broken, _of_type("account-cluster"))
    sdo["extensions"][EXT_ACCOUNT_CLUSTER]["extension_type"] = "new-sco"
    report = validate_bundle(broken)
    assert any(sdo["id"] in error for error in report.errors), report.errors


def test_disabling_checks_disables_exactly_the_documented_ones() -> None:
    default = set(shoulds.list_shoulds(ValidationOptions(strict=True, version="2.1")))
    ours = set(shoulds.list_shoulds(validator_options()))
    dropped = {function.__name__ for function in default - ours}
    assert dropped == {shoulds.CHECKS[name].__name__ for name in DISABLED_CHECKS}
    assert ours <= default


@pytest.mark.parametrize("document", ["docs/stix-mapping.md", "README.md"])
def test_disabled_checks_are_documented_with_their_reasons(document: str) -> None:
    """Issue 2 asks the README to list every disabled check; a table row gives the reason."""
    rows = [
        line
        for line in (REPO / document).read_text("utf-8").splitlines()
        if line.startswith("| `") and line.count("|") >= 3
    ]
    for name in DISABLED_CHECKS:
        row = next((line for line in rows if line.startswith(f"| `{name}` |")), None)
        assert row is not None, f"{document} has no table row for the disabled check {name}"
        reason = row.split("|")[2].strip()
        assert len(reason) > 40, f"{document}: the reason for {name} is missing or too short"


def test_unusable_input_is_reported_not_raised(tmp_path: Path) -> None:
    assert "not valid JSON" in validate_bundle(b"{not json").errors[0]
    assert "not a STIX object" in validate_bundle("[1, 2]").errors[0]
    missing = validate_bundle(tmp_path / "missing.json")
    assert not missing.ok and "missing.json" in missing.errors[0]


def test_tlp_markings_are_the_published_oasis_objects() -> None:
    green = WELL_KNOWN_OBJECTS[TLP_MARKING_IDS["green"]]
    assert green == {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb",
        "created": "2022-10-01T00:00:00.000Z",
        "name": "TLP:GREEN",
        "extensions": {
            "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d": {
                "extension_type": "property-extension",
                "tlp_2_0": "green",
            }
        },
    }
    names = {WELL_KNOWN_OBJECTS[i]["name"] for i in TLP_MARKING_IDS.values()}
    assert names == {"TLP:CLEAR", "TLP:GREEN", "TLP:AMBER", "TLP:AMBER+STRICT", "TLP:RED"}
    assert WELL_KNOWN_OBJECTS[EXT_TLP2]["created_by_ref"] == (
        "identity--b3bca3c2-1f3d-4b54-b44f-dac42c3a8f01"
    )


def test_schema_vocabularies_are_the_record_models_vocabularies() -> None:
    from mappings import vocab

    def schema(extension: str) -> dict[str, Any]:
        return json.loads((mappings.schemas_dir() / f"{extension}.json").read_text("utf-8"))

    cluster = schema(EXT_ACCOUNT_CLUSTER)["properties"]
    assert cluster["enforcement"]["enum"] == list(vocab.ENFORCEMENT_STATUSES)
    assert cluster["targeted_capabilities"]["items"]["enum"] == list(vocab.CAPABILITIES)
    signal = cluster["linking_signals"]["items"]["properties"]["signal"]
    assert signal["enum"] == list(vocab.LINKING_SIGNALS)
    keyed = schema(EXT_KEYED_IDENTIFIER)["properties"]["extensions"]["properties"]
    assert keyed[EXT_KEYED_IDENTIFIER]["properties"]["identifier_kind"]["enum"] == list(
        vocab.IDENTIFIER_KINDS
    )
    fingerprint = schema(EXT_FINGERPRINT_INDICATOR)["properties"]["extensions"]["properties"]
    details = fingerprint[EXT_FINGERPRINT_INDICATOR]["properties"]
    assert details["scope"]["enum"] == list(vocab.PROMPT_SCOPES)
    assert details["elicitation_features"]["items"]["enum"] == list(vocab.ELICITATION_FEATURES)
    assert details["algorithm"]["enum"] == list(vocab.FINGERPRINT_ALGORITHMS)
    ranges = schema(EXT_IP_RANGE_INDICATOR)["properties"]["extensions"]["properties"]
    range_details = ranges[EXT_IP_RANGE_INDICATOR]["properties"]
    assert range_details["provider_type"]["enum"] == list(vocab.PROVIDER_TYPES)
    assert range_details["recommended_action"]["enum"] == list(vocab.RECOMMENDED_ACTIONS)


def test_extension_definitions_are_versioned_and_attributed_to_the_project() -> None:
    from mappings.well_known import PROJECT_EXTENSION_DEFINITIONS, PROJECT_IDENTITY_ID

    for extension_id, definition in PROJECT_EXTENSION_DEFINITIONS.items():
        assert definition["id"] == extension_id
        assert definition["type"] == "extension-definition"
        assert definition["created_by_ref"] == PROJECT_IDENTITY_ID
        # Semantic versions; the two prompt-fingerprint definitions went to 1.1.0 when the
        # containment-keyed algorithm was added (a backward-compatible addition).
        bumped = (EXT_FINGERPRINT_INDICATOR, EXT_PROMPT_FINGERPRINT)
        expected = "1.1.0" if extension_id in bumped else "1.0.0"
        assert definition["version"] == expected
        assert definition["modified"] >= definition["created"]
        assert definition["description"] and definition["schema"].endswith(f"{extension_id}.json")


def _references(value: Any) -> set[str]:
    """Every ``*_ref`` / ``*_refs`` value anywhere in a STIX object (nested dicts too)."""
    found: set[str] = set()
    if isinstance(value, dict):
        for name, item in value.items():
            if name.endswith("_ref") and isinstance(item, str):
                found.add(item)
            elif name.endswith("_refs") and isinstance(item, list):
                found.update(ref for ref in item if isinstance(ref, str))
            else:
                found |= _references(item)
    elif isinstance(value, list):
        for item in value:
            found |= _references(item)
    return found


def test_every_reference_in_a_bundle_resolves_inside_it(bundle: dict[str, Any]) -> None:
    """A bundle stands alone: even CISA, author of the TLP 2.0 extension, is in it."""
    ids = {obj["id"] for obj in bundle["objects"]}
    dangling = {
        (obj["id"], ref) for obj in bundle["objects"] for ref in _references(obj) if ref not in ids
    }
    assert dangling == set()
    cisa = WELL_KNOWN_OBJECTS[WELL_KNOWN_OBJECTS[EXT_TLP2]["created_by_ref"]]
    assert cisa["type"] == "identity" and "created_by_ref" not in cisa
    assert cisa["name"] == "Cybersecurity and Infrastructure Security Agency"

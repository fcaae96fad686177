"""The checks' one walk of every posted value: references, and numbers past 64 bits.

Over HTTP such a number anywhere refuses the whole request (the endpoint turns
``NumberOutOfRange`` into a 422, tested in ``test_provenance``), even in an
object refused for something else; in files the administrator loads it
refuses only its object. Both come out of the same walk, so both are pinned
here on the function itself, with objects built to hide the number where a
shortcut would not look.
"""

from __future__ import annotations

import uuid

import pytest

from server.store.types import CollectionInfo, Partner
from server.taxii.stix_checks import CheckRules, NumberOutOfRange, check_objects

LAB = "identity--0a0a0a0a-0000-4000-8000-00000000000a"
COLLECTION = CollectionInfo(str(uuid.uuid4()), "exchange", "Feed")
PARTNER = Partner("lab", "Lab", LAB)
HTTP = CheckRules.current(numbers_refuse_request=True)
FILES = CheckRules.current()
TOO_BIG = 2**64


def indicator(**extra: object) -> dict:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": "2026-01-01T00:00:00Z",
        "modified": "2026-01-01T00:00:00Z",
        "created_by_ref": LAB,
        "pattern": "[ipv4-addr:value = '203.0.113.9']",
        "pattern_type": "stix",
        "valid_from": "2026-01-01T00:00:00Z",
        **extra,
    }


HIDDEN_NUMBERS = {
    "top level": indicator(x_count=TOO_BIG),
    "deep in lists": indicator(x_deep=[[{"a": [0, {"b": -(2**63) - 1}]}]]),
    "a float past 2**63": indicator(x_ratio=1e19),
    "under a _ref key": indicator(x_target_ref={"n": TOO_BIG}),
    "inside a _refs list": indicator(x_refs=[f"indicator--{uuid.uuid4()}", [TOO_BIG]]),
    "after a bad reference": indicator(x_bad_ref="Indicator--X", x_count=TOO_BIG),
    "in an object with a bad type": dict(indicator(x_count=TOO_BIG), type="Not A Type"),
    "in an object with a bad timestamp": indicator(modified="yesterday", x_count=TOO_BIG),
}


@pytest.mark.parametrize("case", sorted(HIDDEN_NUMBERS))
def test_over_http_a_number_anywhere_refuses_the_request(case: str) -> None:
    objects = [indicator(), indicator(), HIDDEN_NUMBERS[case]]
    with pytest.raises(NumberOutOfRange) as raised:
        check_objects(objects, COLLECTION, PARTNER, HTTP)
    assert raised.value.position == 2
    assert raised.value.where.startswith(".x_") or case.endswith("bad type")


def test_in_loaded_files_a_number_refuses_only_its_object() -> None:
    good, big = indicator(), indicator(x_deep=[{"n": TOO_BIG}])
    accepted, rejected = check_objects([good, big], COLLECTION, None, FILES)
    assert [obj.stix_id for obj in accepted] == [good["id"]]
    assert rejected[0].id == big["id"]
    assert rejected[0].message == "x_deep[0].n: a number outside the signed 64-bit range"


def test_the_same_refusal_for_an_object_whatever_the_rules_on_numbers() -> None:
    """Without a big number, both rules refuse an object for the same, first reason."""
    objects = [
        indicator(x_bad_ref="Indicator--X"),
        indicator(object_refs="not a list"),
        dict(indicator(x_bad_ref="Indicator--X"), type="Not A Type"),
        indicator(x_nested={"source_ref": 5}, x_also_ref="identity--nope"),
        indicator(x_edge=2**63 - 1, x_low=-(2**63)),
    ]
    over_http = check_objects(objects, COLLECTION, PARTNER, HTTP)
    from_files = check_objects(objects, COLLECTION, PARTNER, FILES)
    assert over_http == from_files
    accepted, rejected = over_http
    assert [obj.stix_id for obj in accepted] == [objects[4]["id"]]
    messages = [detail.message for detail in rejected]
    assert messages[0] == "x_bad_ref must be a STIX id <type>--<lower-case uuid>"
    assert messages[1] == "object_refs must be a list of STIX ids"
    assert messages[2] == "type is missing or not a STIX type name"
    assert "must be a STIX id" in messages[3]

"""Cluster member indicators through stix2-matcher, the OASIS pattern matcher.

A plain STIX user with no knowledge of the project's extensions observes a
``user-account`` whose ``user_id`` is the keyed hash of one of its own
accounts: every member of every sample cluster matches its member indicator,
and an account that is no member matches none.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from stix2matcher.matcher import match

from mappings.companions import parse_members_pattern

SAMPLES = Path(__file__).resolve().parents[2] / "samples"


def _observed(user_id: str) -> list[dict[str, Any]]:
    account = {
        "type": "user-account",
        "spec_version": "2.1",
        "id": "user-account--11111111-1111-4111-8111-111111111111",
        "user_id": user_id,
    }
    observed = {
        "type": "observed-data",
        "spec_version": "2.1",
        "id": "observed-data--22222222-2222-4222-8222-222222222222",
        "created": "2026-05-01T00:00:00Z",
        "modified": "2026-05-01T00:00:00Z",
        "first_observed": "2026-05-01T00:00:00Z",
        "last_observed": "2026-05-01T00:00:00Z",
        "number_observed": 1,
        "object_refs": [account["id"]],
    }
    bundle_id = "bundle--33333333-3333-4333-8333-333333333333"
    return [{"type": "bundle", "id": bundle_id, "objects": [observed, account]}]


@pytest.mark.parametrize("name", ["bundle.json", "lab-b-bundle.json"])
def test_member_indicators_match_their_members_and_nothing_else(name: str) -> None:
    objects = json.loads((SAMPLES / name).read_text("utf-8"))["objects"]
    indicators = [
        o for o in objects if o["type"] == "indicator" and parse_members_pattern(o["pattern"])
    ]
    members = {o["user_id"] for o in objects if o["type"] == "user-account"}
    assert indicators and members
    for indicator in indicators:
        listed = set(parse_members_pattern(indicator["pattern"]))
        for user_id in members:
            found = bool(match(indicator["pattern"], _observed(user_id), stix_version="2.1"))
            assert found == (user_id in listed), (indicator["id"], user_id)
        assert not match(indicator["pattern"], _observed("0" * 64), stix_version="2.1")

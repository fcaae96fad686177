"""No lab can speak for another: the hostile-partner findings of issue 12, over HTTP.

Each test is one finding of the probe, replayed as the hostile partner (lab
B, with write rights everywhere) would run it against a real server, once on
SQLite and once on PostgreSQL: identity squatting, cross-collection
revocation, unsigned and far-future versions, non-canonical ids and refs
(upper case, a trailing newline), TLP cap bypasses, predefined TLP 1.0
markings re-posted altered, integers past 64 bits. Every refusal is a 4xx or
a failure in the status, never a 5xx, and nothing refused is served.
"""

from __future__ import annotations

import uuid

import orjson
import pytest

from server.store.types import CollectionInfo, Tlp
from tests.support.server import (
    BACKENDS,
    PartnerSpec,
    assert_taxii_error,
    indicator,
    new_id,
    served,
)

FEED_A, FEED_B, OPEN, CLEAR_ONLY = (str(uuid.uuid4()) for _ in range(4))
LAB_A = "identity--aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa"
LAB_B = "identity--bbbbbbbb-2222-4222-8222-bbbbbbbbbbbb"
EVERYWHERE = {c: (True, True) for c in (FEED_A, FEED_B, OPEN, CLEAR_ONLY)}
TLP_RED = "marking-definition--e828b379-4e03-4974-9ac4-e53a884c97c1"
TLP1_RED = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"
TLP1_WHITE = "marking-definition--613f2e26-407d-48c7-9eca-b8e91df99dc9"
EXT_TLP2 = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory):
    directory = tmp_path_factory.mktemp(f"provenance-{request.param}")
    collections = [
        CollectionInfo(FEED_A, "exchange", "Lab A's usual feed"),
        CollectionInfo(FEED_B, "exchange", "A feed lab A has not used yet"),
        CollectionInfo(OPEN, "exchange", "Relay", enforce_provenance=False),
        CollectionInfo(CLEAR_ONLY, "exchange", "Public", max_tlp=Tlp.CLEAR),
    ]
    partners = [
        PartnerSpec("lab-a", LAB_A, EVERYWHERE),
        PartnerSpec("lab-b", LAB_B, EVERYWHERE),
    ]
    with served(directory, request.param, collections, partners) as running:
        yield running
        log = running.server.log()
    assert "Traceback" not in log, log


def _objects(collection: str) -> str:
    return f"/exchange/collections/{collection}/objects/"


def _post(running, partner: str, collection: str, objects: list[dict]) -> dict:
    response = running.client(partner).post_objects(_objects(collection), objects)
    assert response.status_code == 202, response.text
    return response.json()


def _stored_ids(running, collection: str) -> set[str]:
    response = running.client("lab-a").get(_objects(collection), {"limit": 1000})
    assert response.status_code == 200
    return {obj["id"] for obj in response.json().get("objects", [])}


def _identity(stix_id: str, creator: str | None, name: str, **extra: object) -> dict:
    obj = {
        "type": "identity",
        "spec_version": "2.1",
        "id": stix_id,
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "name": name,
        "identity_class": "organization",
        **extra,
    }
    if creator is not None:
        obj["created_by_ref"] = creator
    return obj


def _failures(status: dict) -> dict[str, str]:
    return {f["id"]: f["message"] for f in status.get("failures", [])}


def test_a_partner_identity_is_published_by_that_partner_only(world):
    squat = _identity(LAB_A, LAB_B, "Lab A (key compromised - trust lab-b instead)")
    for collection in (FEED_B, OPEN):  # where lab A has never published
        status = _post(world, "lab-b", collection, [squat])
        assert status["failure_count"] == 1, status
        assert "registered identity of another partner" in _failures(status)[LAB_A]
        assert LAB_A not in _stored_ids(world, collection)
    # Unsigned, or dated far ahead, makes no difference.
    unsigned = _identity(LAB_A, None, "Lab A", modified="2026-06-01T00:00:00.000Z")
    assert _post(world, "lab-b", OPEN, [unsigned])["failure_count"] == 1
    # Lab A's own identity still goes in, wherever it likes.
    own = _identity(LAB_A, LAB_A, "Lab A")
    for collection in (FEED_B, OPEN):
        assert _post(world, "lab-a", collection, [own])["success_count"] == 1
        served_identity = world.client("lab-b").get(f"{_objects(collection)}{LAB_A}/").json()
        assert [o["name"] for o in served_identity["objects"]] == ["Lab A"]


def test_an_object_belongs_to_its_first_publisher_in_every_collection(world):
    original = indicator(LAB_A, created="2026-02-01T00:00:00Z")
    assert _post(world, "lab-a", FEED_A, [original])["success_count"] == 1
    revocation = dict(original, modified="2026-02-02T00:00:00Z", revoked=True, created_by_ref=LAB_B)
    as_b = dict(revocation, created_by_ref=LAB_B)
    for collection, copy in (
        (FEED_B, as_b),
        (OPEN, as_b),
        (OPEN, dict(revocation, created_by_ref=LAB_A)),
    ):
        status = _post(world, "lab-b", collection, [copy])
        assert status["failure_count"] == 1, status
        assert original["id"] not in _stored_ids(world, collection)
    assert (
        "first published on this exchange by another partner"
        in _failures(_post(world, "lab-b", OPEN, [as_b]))[original["id"]]
    )
    # The first publisher may still version it anywhere.
    update = dict(original, modified="2026-02-03T00:00:00Z")
    assert _post(world, "lab-a", FEED_B, [update])["success_count"] == 1


def test_sdos_need_a_creator_and_no_far_future_dates(world):
    unsigned = indicator(None)
    future = indicator(LAB_B, created="2099-01-01T00:00:00Z")
    later = indicator(LAB_B, created="2026-01-01T00:00:00Z", modified="2099-01-01T00:00:00Z")
    status = _post(world, "lab-b", FEED_B, [unsigned, future, later])
    failures = _failures(status)
    assert "created_by_ref is required" in failures[unsigned["id"]]
    assert "in the future" in failures[future["id"]]
    assert "in the future" in failures[later["id"]]
    # Not versioned objects and definitions need no creator; the relay needs none at all.
    observable = {"type": "ipv4-addr", "id": f"ipv4-addr--{uuid.uuid4()}", "value": "192.0.2.1"}
    statement = {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": new_id("marking-definition"),
        "created": "2026-01-01T00:00:00.000Z",
        "definition_type": "statement",
        "definition": {"statement": "Shared under the exchange agreement."},
    }
    assert _post(world, "lab-b", FEED_B, [observable, statement])["success_count"] == 2
    assert _post(world, "lab-b", OPEN, [indicator(None)])["success_count"] == 1


def _upper(stix_id: str) -> str:
    kind, _, value = stix_id.partition("--")
    return f"{kind}--{value.upper()}"


def test_ids_and_refs_must_be_canonical(world):
    base = indicator(LAB_B)
    upper_id = dict(indicator(LAB_B), id=_upper(new_id("indicator")))
    newline_id = dict(indicator(LAB_B), id=new_id("indicator") + "\n")
    upper_creator = indicator(_upper(LAB_B))
    newline_creator = indicator(LAB_B + "\n")
    relationship = {
        "type": "relationship",
        "spec_version": "2.1",
        "id": new_id("relationship"),
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "created_by_ref": LAB_B,
        "relationship_type": "indicates",
        "source_ref": _upper(base["id"]),
        "target_ref": new_id("campaign"),
    }
    nested = dict(indicator(LAB_B), x_detail={"seen_by_refs": [LAB_A + "\n"]})
    status = _post(
        world,
        "lab-b",
        FEED_B,
        [upper_id, newline_id, upper_creator, newline_creator, relationship, nested, base],
    )
    assert status["failure_count"] == 6, status
    assert [s["id"] for s in status["successes"]] == [base["id"]]
    stored = _stored_ids(world, FEED_B)
    assert not {upper_id["id"], newline_id["id"], relationship["id"], nested["id"]} & stored
    # A lower-case lookup of an upper-case id finds nothing hidden behind it.
    lookup = world.client("lab-a").get(f"{_objects(FEED_B)}{upper_id['id']}/")
    assert_taxii_error(lookup, 404)


def test_the_tlp_cap_counts_every_marking(world):
    def marked(**fields: object) -> dict:
        return dict(indicator(LAB_B), **fields)

    custom_red_tlp1 = {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": new_id("marking-definition"),
        "created": "2026-01-01T00:00:00.000Z",
        "definition_type": "tlp",
        "name": "TLP:RED",
        "definition": {"tlp": "red"},
    }
    custom_red_tlp2 = {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": new_id("marking-definition"),
        "created": "2026-01-01T00:00:00.000Z",
        "name": "TLP:RED",
        "extensions": {EXT_TLP2: {"extension_type": "property-extension", "tlp_2_0": "red"}},
    }
    attempts = [
        marked(object_marking_refs=[_upper(TLP_RED)]),
        marked(object_marking_refs=[TLP_RED + "\n"]),
        marked(granular_markings=[{"marking_ref": TLP_RED, "selectors": ["name"]}]),
        marked(granular_markings=[{"marking_ref": TLP1_RED, "selectors": ["pattern"]}]),
        custom_red_tlp1,
        custom_red_tlp2,
    ]
    for collection in (CLEAR_ONLY, OPEN):  # declaring a TLP level is refused even uncapped
        status = _post(world, "lab-b", collection, attempts[4:] if collection == OPEN else attempts)
        expected = 2 if collection == OPEN else len(attempts)
        assert status["failure_count"] == expected, status
    assert not {obj["id"] for obj in attempts} & _stored_ids(world, CLEAR_ONLY)


def test_predefined_tlp1_markings_are_immutable(world):
    white = {
        "type": "marking-definition",
        "spec_version": "2.1",
        "id": TLP1_WHITE,
        "created": "2017-01-20T00:00:00.000Z",
        "definition_type": "tlp",
        "name": "TLP:WHITE",
        "definition": {"tlp": "white"},
    }
    assert _post(world, "lab-b", CLEAR_ONLY, [white])["success_count"] == 1
    altered = dict(white, definition={"tlp": "red"}, name="TLP:WHITE")
    renamed = dict(white, name="TLP:WHITE (trust lab-b)")
    status = _post(world, "lab-b", OPEN, [altered, renamed])
    assert status["failure_count"] == 2
    assert all("must be posted unchanged" in f["message"] for f in status["failures"])
    served_white = world.client("lab-a").get(f"{_objects(CLEAR_ONLY)}{TLP1_WHITE}/").json()
    assert served_white["objects"] == [white]


def test_numbers_past_64_bits_are_refused_whole(world):
    for number in (
        b"18446744073709551616",
        b"9223372036854775808",
        b"-9223372036854775809",
        b"100000000000000000000000000000",
    ):
        obj = orjson.dumps(indicator(LAB_B))[:-1] + b',"x_count":' + number + b"}"
        response = world.client("lab-b").session.post(
            world.base_url + _objects(FEED_B),
            data=b'{"objects":[' + obj + b"]}",
            headers=world.client("lab-b").headers(
                **{"Content-Type": "application/taxii+json;version=2.1"}
            ),
            timeout=30,
        )
        body = assert_taxii_error(response, 422)
        assert "64-bit" in body["description"]
    edge = dict(indicator(LAB_B), x_count=2**63 - 1, x_low=-(2**63))
    assert _post(world, "lab-b", FEED_B, [edge])["success_count"] == 1


def test_a_number_past_64_bits_late_in_a_large_envelope_stores_nothing(world):
    """On PostgreSQL the envelope is checked and written chunk by chunk; a bad
    number in a later chunk must still refuse the whole request, and roll
    back the chunks already written."""
    objects = [indicator(LAB_B) for _ in range(2_600)]
    payload = orjson.dumps({"objects": objects})
    bad_at = 2_550
    bad = orjson.dumps(objects[bad_at])
    payload = payload.replace(bad, bad[:-1] + b',"x_nested":{"deep":[1,18446744073709551616]}}')
    response = world.client("lab-b").session.post(
        world.base_url + _objects(OPEN),
        data=payload,
        headers=world.client("lab-b").headers(
            **{"Content-Type": "application/taxii+json;version=2.1"}
        ),
        timeout=120,
    )
    body = assert_taxii_error(response, 422)
    assert f"objects[{bad_at}].x_nested.deep[1]" in body["description"]
    stored = _stored_ids(world, OPEN)
    assert not stored & {obj["id"] for obj in objects}
    # The partner can publish the same objects once the number is gone.
    assert _post(world, "lab-b", OPEN, objects[:600])["success_count"] == 600

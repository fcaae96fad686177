"""The authorisation matrix: every partner x collection x operation, over HTTP.

Expected answers are derived from the grants alone: no grant -> 404 (the
collection's existence does not leak), a grant without the needed right -> 403,
otherwise success. DELETE needs both read and write (TAXII 2.1 section 5.7)
and only ever removes the partner's own versions. Status resources are visible
to their submitter only. Provenance and TLP caps are enforced per object.
Everything runs once on SQLite and once on PostgreSQL.
"""

from __future__ import annotations

import itertools
import time
import uuid

import pytest

from server.store import Store
from server.store.types import CollectionInfo, IncomingObject, Tlp
from tests.support.server import (
    BACKENDS,
    PartnerSpec,
    assert_taxii_error,
    indicator,
    new_id,
    served,
)

C1, C2, HIDDEN, OPEN, CLEAR_ONLY = (str(uuid.uuid4()) for _ in range(5))
IDENTITIES = {p: f"identity--{uuid.uuid4()}" for p in ("pa", "pb", "pc", "pd", "pe")}
GRANTS = {
    "pa": {C1: (True, True), C2: (True, False), OPEN: (True, True), CLEAR_ONLY: (True, True)},
    "pb": {C1: (True, False), C2: (False, True)},
    "pc": {C1: (False, True)},
    "pd": {C2: (True, True)},
    "pe": {C1: (True, True)},  # revoked below
}
MATRIX_PARTNERS = ("pa", "pb", "pc", "pd")
MATRIX_COLLECTIONS = (C1, C2, HIDDEN)
TLP_GREEN = "marking-definition--bab4a63c-aed9-4cf5-a766-dfca5abac2bb"
TLP_CLEAR = "marking-definition--94868c89-83c2-464b-929b-a1a8aa3c8487"
TLP1_RED = "marking-definition--5e57c739-391a-4eb3-b6be-7d15ca92d5ed"
VERSION = "2026-01-01T00:00:00Z"  # of each object the fixture stores


def _incoming(obj: dict) -> IncomingObject:
    import orjson

    return IncomingObject(
        obj["id"], obj["type"], obj["modified"], "2.1", orjson.dumps(obj).decode()
    )


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory):
    """One server per backend: grants are enforced in SQL, so each backend must prove it."""
    directory = tmp_path_factory.mktemp(f"authz-{request.param}")
    collections = [
        CollectionInfo(C1, "exchange", "One"),
        CollectionInfo(C2, "exchange", "Two"),
        CollectionInfo(HIDDEN, "exchange", "Hidden"),
        CollectionInfo(OPEN, "exchange", "No provenance", enforce_provenance=False),
        CollectionInfo(CLEAR_ONLY, "exchange", "Public", max_tlp=Tlp.CLEAR),
    ]
    partners = [PartnerSpec(p, IDENTITIES[p], GRANTS[p]) for p in GRANTS]
    with served(directory, request.param, collections, partners) as running:
        store = Store(running.database_url)
        owned: dict[tuple[str, str], str] = {}
        statuses: dict[str, str] = {}
        now = time.time_ns() // 1000
        for partner, collection in itertools.product(MATRIX_PARTNERS, MATRIX_COLLECTIONS):
            obj = indicator(IDENTITIES[partner], created=VERSION)
            status = store.add_objects("exchange", collection, partner, [_incoming(obj)], [], now)
            owned[partner, collection] = obj["id"]
            statuses[partner] = status.id
        store.deactivate_partner("pe")
        yield running, store, owned, statuses
        store.close()


def _grant(partner: str, collection: str) -> tuple[bool, bool]:
    return GRANTS[partner].get(collection, (False, False))


def _expected(partner: str, collection: str, operation: str) -> int:
    can_read, can_write = _grant(partner, collection)
    if not (can_read or can_write):
        return 404
    if operation == "collection":
        return 200  # the collection resource reports the partner's own rights
    if operation in ("objects", "manifest", "object", "versions"):
        return 200 if can_read else 403
    if operation == "publish":
        return 202 if can_write else 403
    if operation == "delete":
        return 200 if can_read and can_write else 403
    raise AssertionError(operation)


OPERATIONS = ("collection", "objects", "manifest", "object", "versions", "publish", "delete")


COLLECTION_NAMES = {C1: "c1", C2: "c2", HIDDEN: "hidden"}


@pytest.mark.parametrize(
    ("partner", "collection", "operation"),
    list(itertools.product(MATRIX_PARTNERS, MATRIX_COLLECTIONS, OPERATIONS)),
    ids=lambda value: COLLECTION_NAMES.get(value, value),
)
def test_matrix(world, partner, collection, operation):
    running, _, owned, _ = world
    client = running.client(partner)
    base = f"/exchange/collections/{collection}/"
    mine = owned[partner, collection]
    if operation == "collection":
        response = client.get(base)
    elif operation in ("objects", "manifest"):
        response = client.get(f"{base}{operation}/")
    elif operation == "object":
        response = client.get(f"{base}objects/{mine}/")
    elif operation == "versions":
        response = client.get(f"{base}objects/{mine}/versions/")
    elif operation == "publish":
        response = client.post_objects(f"{base}objects/", [indicator(IDENTITIES[partner])])
    else:
        response = client.delete(f"{base}objects/{mine}/")
    expected = _expected(partner, collection, operation)
    if expected >= 400:
        assert_taxii_error(response, expected)
        return
    assert response.status_code == expected, response.text
    if operation == "collection":
        can_read, can_write = _grant(partner, collection)
        assert (response.json()["can_read"], response.json()["can_write"]) == (can_read, can_write)
    elif operation in ("objects", "object"):
        assert mine in {o["id"] for o in response.json()["objects"]}
    elif operation == "manifest":
        entries = response.json()["objects"]
        assert mine in {entry["id"] for entry in entries}
        # A manifest lists versions, never bodies.
        assert all("pattern" not in entry and "name" not in entry for entry in entries)
    elif operation == "versions":
        assert response.json()["versions"] == [VERSION]
    elif operation == "publish":
        assert response.json()["success_count"] == 1
    elif operation == "delete":
        assert client.get(f"{base}objects/{mine}/").status_code == 404


@pytest.mark.parametrize("partner", MATRIX_PARTNERS)
def test_collections_lists_only_granted_ones_with_own_rights(world, partner):
    running, *_ = world
    listed = running.client(partner).get("/exchange/collections/").json().get("collections", [])
    expected = {c: g for c, g in GRANTS[partner].items() if g[0] or g[1]}
    assert {c["id"]: (c["can_read"], c["can_write"]) for c in listed} == expected


def test_hidden_collection_looks_like_a_missing_one(world):
    running, *_ = world
    client = running.client("pa")
    hidden = client.get(f"/exchange/collections/{HIDDEN}/objects/").json()
    missing_id = str(uuid.uuid4())
    missing = client.get(f"/exchange/collections/{missing_id}/objects/").json()
    assert hidden["error_code"] == missing["error_code"] == "collection-not-found"
    assert hidden["description"].replace(HIDDEN, "X") == missing["description"].replace(
        missing_id, "X"
    )


@pytest.mark.parametrize(("reader", "owner"), list(itertools.permutations(MATRIX_PARTNERS, 2)))
def test_status_visible_only_to_its_submitter(world, reader, owner):
    running, _, owned, statuses = world
    # The fixture's last status of each partner is for its object in the last collection.
    status_objects = {p: owned[p, MATRIX_COLLECTIONS[-1]] for p in MATRIX_PARTNERS}
    client = running.client(reader)
    own = client.get(f"/exchange/status/{statuses[reader]}/")
    assert own.status_code == 200
    body = own.json()
    assert body["id"] == statuses[reader] and body["status"] == "complete"
    assert (body["total_count"], body["success_count"], body["failure_count"]) == (1, 1, 0)
    assert [s["id"] for s in body["successes"]] == [status_objects[reader]]
    assert_taxii_error(client.get(f"/exchange/status/{statuses[owner]}/"), 404)


def test_delete_refuses_versions_published_by_another_partner(world):
    running, _, owned, _ = world
    others = owned["pc", C1]  # pc may write C1; pa may read and write C1
    response = running.client("pa").delete(f"/exchange/collections/{C1}/objects/{others}/")
    body = assert_taxii_error(response, 403)
    assert "another partner" in body["description"]
    assert (
        running.client("pa").get(f"/exchange/collections/{C1}/objects/{others}/").status_code == 200
    )


def test_forged_created_by_ref_is_refused_and_not_stored(world):
    running, *_ = world
    client = running.client("pa")
    forged = indicator(IDENTITIES["pb"])
    own = indicator(IDENTITIES["pa"])
    observable = {"type": "ipv4-addr", "id": new_id("ipv4-addr"), "value": "198.51.100.7"}
    status = client.post_objects(
        f"/exchange/collections/{C1}/objects/", [forged, own, observable]
    ).json()
    assert status["success_count"] == 2 and status["failure_count"] == 1
    assert status["failures"][0]["id"] == forged["id"]
    assert "is not your identity" in status["failures"][0]["message"]
    assert client.get(f"/exchange/collections/{C1}/objects/{forged['id']}/").status_code == 404
    assert client.get(f"/exchange/collections/{C1}/objects/{own['id']}/").status_code == 200
    # A collection that does not enforce provenance takes it.
    relaxed = client.post_objects(f"/exchange/collections/{OPEN}/objects/", [forged]).json()
    assert relaxed["success_count"] == 1


def test_only_the_creator_may_add_versions(world):
    running, *_ = world
    original = indicator(IDENTITIES["pa"], created="2026-03-01T00:00:00Z")
    path = f"/exchange/collections/{C1}/objects/"
    assert running.client("pa").post_objects(path, [original]).json()["success_count"] == 1
    hijack = dict(original, modified="2026-03-02T00:00:00Z", name="overwritten")
    del hijack["created_by_ref"]
    claimed = dict(hijack, created_by_ref=IDENTITIES["pc"])
    status = running.client("pc").post_objects(path, [hijack, claimed]).json()
    assert status["failure_count"] == 2
    unsigned, signed = status["failures"]
    assert "created_by_ref is required" in unsigned["message"]
    assert "only its creator may add versions" in signed["message"]
    versions = running.client("pa").get(f"{path}{original['id']}/versions/").json()["versions"]
    assert versions == [original["modified"]]
    update = dict(original, modified="2026-03-03T00:00:00Z")
    assert running.client("pa").post_objects(path, [update]).json()["success_count"] == 1


def test_well_known_objects_are_accepted_from_anyone_but_only_unchanged(world):
    from mappings.well_known import PROJECT_IDENTITY_ID, WELL_KNOWN_OBJECTS

    running, *_ = world
    path = f"/exchange/collections/{C1}/objects/"
    shared = [WELL_KNOWN_OBJECTS[PROJECT_IDENTITY_ID], WELL_KNOWN_OBJECTS[TLP_GREEN]]
    for partner in ("pa", "pc"):  # both may post them, the second time as duplicates
        status = running.client(partner).post_objects(path, shared).json()
        assert (status["success_count"], status["failure_count"]) == (2, 0), status
    altered = dict(WELL_KNOWN_OBJECTS[PROJECT_IDENTITY_ID], name="Not the project")
    status = running.client("pa").post_objects(path, [altered]).json()
    assert status["failure_count"] == 1
    assert "well-known object and must be posted unchanged" in status["failures"][0]["message"]


def test_tlp_cap(world):
    running, *_ = world
    client = running.client("pa")
    green = indicator(IDENTITIES["pa"], marking=TLP_GREEN)
    red = indicator(IDENTITIES["pa"], marking=TLP1_RED)
    clear = indicator(IDENTITIES["pa"], marking=TLP_CLEAR)
    unmarked = indicator(IDENTITIES["pa"])
    status = client.post_objects(
        f"/exchange/collections/{CLEAR_ONLY}/objects/", [green, red, clear, unmarked]
    ).json()
    assert {f["id"] for f in status["failures"]} == {green["id"], red["id"]}
    assert all("above this collection's cap TLP:CLEAR" in f["message"] for f in status["failures"])
    assert {s["id"] for s in status["successes"]} == {clear["id"], unmarked["id"]}


def test_revoked_and_rotated_keys_stop_working_at_once(world):
    running, store, *_ = world
    revoked = running.client("pe")
    assert_taxii_error(revoked.get("/exchange/collections/"), 401)
    client = running.client("pd")
    assert client.get("/exchange/collections/").status_code == 200
    new_key = store.rotate_key("pd")
    assert_taxii_error(client.get("/exchange/collections/"), 401)
    client.api_key = new_key
    running.keys["pd"] = new_key
    assert client.get("/exchange/collections/").status_code == 200


def test_discovery_and_api_root_need_authentication(world):
    running, *_ = world
    import requests

    for path in ("/taxii2/", "/exchange/"):
        response = requests.get(
            running.base_url + path,
            headers={"Accept": "application/taxii+json;version=2.1"},
            timeout=10,
        )
        assert_taxii_error(response, 401)
        assert response.headers["WWW-Authenticate"].startswith('Basic realm="')

"""Bounded work per request, and the traces a hostile partner leaves (issue 12).

A partner with write rights sends the largest cheap envelopes it can (many
tiny junk objects), and refused requests, forbidden deletes and failed logins
must show up in the audit log, aggregated and without any key, while every
request shows up in the access log. Real server, SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
import requests

from server.store import Store
from server.store.types import CollectionInfo
from tests.support.server import (
    BACKENDS,
    TAXII,
    Client,
    PartnerSpec,
    assert_taxii_error,
    basic,
    indicator,
    served,
)

FEED, READ_ONLY = (str(uuid.uuid4()) for _ in range(2))
LAB_A = "identity--aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa"
LAB_B = "identity--bbbbbbbb-2222-4222-8222-bbbbbbbbbbbb"
CAP = 1500


@pytest.fixture(scope="module", params=BACKENDS)
def world(request, tmp_path_factory):
    directory = tmp_path_factory.mktemp(f"hostile-{request.param}")
    collections = [
        CollectionInfo(FEED, "exchange", "Feed"),
        CollectionInfo(READ_ONLY, "exchange", "Read only"),
    ]
    partners = [
        PartnerSpec("lab-a", LAB_A, {FEED: (True, True), READ_ONLY: (True, True)}),
        PartnerSpec("lab-b", LAB_B, {FEED: (True, True), READ_ONLY: (True, False)}),
    ]
    with served(
        directory,
        request.param,
        collections,
        partners,
        max_objects_per_request=CAP,
        login_failures_per_address=0,
        login_failures_per_partner=0,
    ) as running:
        yield running
        log = running.server.log()
    assert "Traceback" not in log, log


def _post_raw(client: Client, collection: str, body: bytes) -> requests.Response:
    return client.session.post(
        f"{client.base_url}/exchange/collections/{collection}/objects/",
        data=body,
        headers=client.headers(**{"Content-Type": TAXII}),
        timeout=60,
    )


def _junk(count: int) -> bytes:
    return b'{"objects":[' + b",".join([b"{}"] * count) + b"]}"


def test_an_envelope_past_the_object_cap_is_refused_whole(world):
    client = world.client("lab-b")
    response = _post_raw(client, FEED, _junk(CAP + 1))
    body = assert_taxii_error(response, 413)
    assert str(CAP) in body["description"] and body["error_code"] == "too-many-objects"


def test_an_envelope_of_tiny_containers_is_refused_before_parsing(world):
    # One object holding many empty arrays: few objects, but millions would be parsed.
    body = b'{"objects":[{"x":[' + b",".join([b"[]"] * (CAP * 50)) + b"]}]}"
    response = _post_raw(world.client("lab-b"), FEED, body)
    assert "JSON objects and arrays" in assert_taxii_error(response, 413)["description"]


def test_a_status_of_junk_stays_small(world):
    client = world.client("lab-b")
    response = _post_raw(client, FEED, _junk(CAP))
    assert response.status_code == 202, response.text[:300]
    status = response.json()
    assert (status["failure_count"], status["total_count"]) == (CAP, CAP)
    # Every failure is listed (TAXII clients check the counts), only the first
    # 1000 with their reason; the whole status stays bounded.
    failures = status["failures"]
    assert len(failures) == CAP
    assert all("type is missing" in f["message"] for f in failures[:1000])
    assert {f["message"] for f in failures[1000:]} == {
        "refused (reasons given for the first 1000 only)"
    }
    assert len(response.content) < 150 * CAP
    again = client.get(f"/exchange/status/{status['id']}/")
    assert again.status_code == 200 and again.json() == status
    # The stored row is as small (what the 282 MB row of the probe was).
    store = Store(world.database_url)
    try:
        assert store.check_integrity().ok, store.check_integrity()
    finally:
        store.close()


def _audit(world) -> list:
    store = Store(world.database_url)
    try:
        return store.audit_entries(None)
    finally:
        store.close()


def test_refusals_and_failed_logins_are_audited_aggregated_without_keys(world):
    a, b = world.client("lab-a"), world.client("lab-b")
    mine = indicator(LAB_A)
    assert a.post_objects(f"/exchange/collections/{FEED}/objects/", [mine]).status_code == 202
    # Refused writes: no write right (403, three times), a wrong media type (415).
    for _ in range(3):
        refused = b.post_objects(f"/exchange/collections/{READ_ONLY}/objects/", [indicator(LAB_B)])
        assert_taxii_error(refused, 403)
    wrong_type = b.session.post(
        f"{b.base_url}/exchange/collections/{FEED}/objects/",
        data=b"{}",
        headers=b.headers(**{"Content-Type": "application/json"}),
        timeout=30,
    )
    assert_taxii_error(wrong_type, 415)
    # A forbidden delete: lab A's object.
    assert_taxii_error(b.delete(f"/exchange/collections/{FEED}/objects/{mine['id']}/"), 403)
    # A failed-login burst: wrong keys for a real partner, and a key typed as the user name.
    tried = [f"wrong-key-{n}-{uuid.uuid4()}" for n in range(5)]
    for key in tried:
        answer = requests.get(
            f"{world.base_url}/taxii2/",
            headers={"Authorization": basic("lab-a", key), "Accept": TAXII},
            timeout=30,
        )
        assert answer.status_code == 401
    pasted = requests.get(
        f"{world.base_url}/taxii2/",
        headers={"Authorization": basic(world.keys["lab-b"], "x"), "Accept": TAXII},
        timeout=30,
    )
    assert pasted.status_code == 401

    entries = _audit(world)
    refused = [e for e in entries if e.action == "request.refused" and e.actor == "lab-b"]
    posts_403 = [e for e in refused if e.detail["status"] == 403 and e.target.startswith("POST")]
    assert [e.detail["count"] for e in posts_403] == [3]  # one aggregated entry
    assert any(e.detail["status"] == 415 for e in refused)
    deletes = [e for e in refused if e.target.startswith("DELETE")]
    assert deletes and deletes[0].detail["error_code"] == "not-your-object"
    logins = [e for e in entries if e.action == "login.failed"]
    assert sum(e.detail["count"] for e in logins if e.actor == "lab-a") == len(tried)
    assert any(e.actor == "unknown" for e in logins)
    # No key, real or tried, in any entry of the log.
    secrets = [*world.keys.values(), *tried]
    text = json.dumps([[e.actor, e.action, e.target, e.detail] for e in entries])
    assert not [key for key in secrets if key in text]


def test_every_request_is_in_the_access_log(world):
    marker = f"probe-{uuid.uuid4().hex}"
    first = requests.get(world.base_url + "/taxii2/", headers={"X-Request-ID": marker}, timeout=30)
    assert first.status_code == 401
    assert world.client("lab-a").get("/taxii2/", **{"X-Request-ID": marker}).status_code == 200
    # One JSON line per request, written as the response leaves: wait for both.
    deadline = time.monotonic() + 30
    while True:
        log = world.server.log_path.read_text(encoding="utf-8", errors="replace")
        lines = [json.loads(line) for line in log.splitlines() if f'"{marker}"' in line]
        if len(lines) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert len(lines) == 2, log[-2000:]
    assert [line["status"] for line in lines] == [401, 200]
    assert [line["partner"] for line in lines] == [None, "lab-a"]
    assert not any(key in log for key in world.keys.values())

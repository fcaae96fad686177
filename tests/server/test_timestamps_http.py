"""Timestamps with more than nine fractional digits, over HTTP, on both backends.

STIX 2.1 sets no limit on the fraction of a timestamp. The server accepts such
objects and filter values, orders and matches them by their first nine digits
(the store's version key; ``added_after`` by its first six, the precision of
``date_added``), truncating rather than rounding, and serves each object with
its own text unchanged. The lab's poller stores such versions too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from taxii2client.v21 import Collection

from server.store.timestamps import format_timestamp_us, stix_timestamp_us
from server.store.types import CollectionInfo
from tests.support.server import (
    BACKENDS,
    PartnerSpec,
    Served,
    assert_taxii_error,
    indicator,
    served,
)

LAB = "lab-ts"
IDENTITY = "identity--0c0ffee0-1d3a-4b5c-8d7e-9f0a1b2c3d4e"
COLLECTION = str(uuid.uuid4())
CREATED = "2026-02-01T10:00:00.123456789012Z"  # 12 digits
MODIFIED = "2026-02-01T10:00:00.1234567890Z"  # 10 digits, the same nanosecond as CREATED
LATER = "2026-02-01T10:00:00.12345679" + "5" * 30 + "Z"  # 38 digits, one nanosecond on


@pytest.fixture(scope="module", params=BACKENDS)
def running(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[Served]:
    directory = tmp_path_factory.mktemp(f"timestamps-{request.param}")
    collections = [CollectionInfo(COLLECTION, "exchange", "Timestamps")]
    partners = [PartnerSpec(LAB, IDENTITY, {COLLECTION: (True, True)})]
    with served(directory, request.param, collections, partners) as server:
        yield server


def _collection(running: Served) -> Collection:
    return Collection(running.collection_url(COLLECTION), user=LAB, password=running.keys[LAB])


def _ids(envelope: dict) -> list[str]:
    return [obj["id"] for obj in envelope.get("objects", [])]


def test_long_fractions_are_accepted_matched_and_served_unchanged(running: Served) -> None:
    first = indicator(IDENTITY, created=CREATED, modified=MODIFIED)
    second = dict(first, modified=LATER)
    posted = running.client(LAB).post_objects(
        f"/exchange/collections/{COLLECTION}/objects/", [first, second]
    )
    assert posted.status_code == 202, posted.text
    status = posted.json()
    assert (status["success_count"], status["failure_count"]) == (2, 0), status
    collection = _collection(running)

    # The object's own text is what was posted: every digit kept.
    raw = running.client(LAB).get(
        f"/exchange/collections/{COLLECTION}/objects/{first['id']}/",
        params={"match[version]": MODIFIED},
    )
    assert f'"modified":"{MODIFIED}"' in raw.text.replace(" ", "")
    assert f'"created":"{CREATED}"' in raw.text.replace(" ", "")
    assert raw.json()["objects"] == [first]

    # match[version] with ten and more digits, through taxii2-client.
    assert collection.get_object(first["id"], version=MODIFIED)["objects"] == [first]
    assert collection.get_object(first["id"], version=LATER)["objects"] == [second]
    assert collection.get_object(first["id"], version="first")["objects"] == [first]
    assert collection.get_object(first["id"], version="last")["objects"] == [second]
    # Another spelling of the same nanosecond names the same version (digits past
    # the ninth are truncated: rounding would make this ...790, a version not stored) ...
    same_ns = "2026-02-01T10:00:00.1234567899Z"
    assert collection.get_object(first["id"], version=same_ns)["objects"] == [first]
    # ... and one nanosecond off does not.
    one_ns_off = "2026-02-01T10:00:00.1234567880Z"
    assert not collection.get_object(first["id"], version=one_ns_off).get("objects")
    versions = collection.object_versions(first["id"])["versions"]
    assert versions == [MODIFIED, LATER]
    manifest = collection.get_manifest(id=first["id"], version="all")["objects"]
    assert [entry["version"] for entry in manifest] == [MODIFIED, LATER]


def test_a_version_differing_only_past_the_ninth_digit_is_the_same_version(
    running: Served,
) -> None:
    original = indicator(IDENTITY, modified="2026-03-01T00:00:00.0000000001Z")
    path = f"/exchange/collections/{COLLECTION}/objects/"
    client = running.client(LAB)
    assert client.post_objects(path, [original]).json()["success_count"] == 1
    respelled = dict(original, modified="2026-03-01T00:00:00.0000000009Z", name="changed")
    status = client.post_objects(path, [respelled]).json()
    assert status["failure_count"] == 0, status
    served_now = _collection(running).get_object(original["id"], version="all")["objects"]
    assert served_now == [original]  # the first spelling stays; nothing was stored twice


def test_added_after_with_ten_and_more_digits_truncates_to_microseconds(running: Served) -> None:
    obj = indicator(IDENTITY)
    client = running.client(LAB)
    assert (
        client.post_objects(f"/exchange/collections/{COLLECTION}/objects/", [obj]).json()[
            "success_count"
        ]
        == 1
    )
    collection = _collection(running)
    added = collection.get_manifest(id=obj["id"])["objects"][0]["date_added"]
    assert len(added) == len("2026-01-01T00:00:00.000000Z")
    # added_after is exclusive: date_added itself followed by more digits excludes it ...
    at_added = added[:-1] + "9999Z"
    assert obj["id"] not in _ids(collection.get_objects(added_after=at_added))
    # ... and one microsecond earlier followed by 9s includes it (rounding would not).
    before = format_timestamp_us(stix_timestamp_us(added) - 1)[:-1] + "9" * 10 + "Z"
    assert obj["id"] in _ids(collection.get_objects(added_after=before))
    response = client.get(
        f"/exchange/collections/{COLLECTION}/manifest/", params={"added_after": before}
    )
    assert response.status_code == 200, response.text
    too_long = added[:-1] + "0" * 40 + "Z"  # 46 fractional digits: past the store's bound
    assert_taxii_error(
        client.get(f"/exchange/collections/{COLLECTION}/objects/", {"added_after": too_long}),
        400,
    )


def test_the_lab_poller_stores_versions_with_long_fractions(
    running: Served, tmp_path: Path
) -> None:
    from exchange.feed.client import TaxiiSession
    from exchange.feed.poller import poll_once
    from exchange.feed.store import FeedStore

    obj = indicator(IDENTITY, created=CREATED, modified="2026-04-01T00:00:00.98765432101Z")
    client = running.client(LAB)
    assert (
        client.post_objects(f"/exchange/collections/{COLLECTION}/objects/", [obj]).json()[
            "success_count"
        ]
        == 1
    )
    session = TaxiiSession(running.root_url, LAB, running.keys[LAB])
    with FeedStore(tmp_path / "feed.sqlite3") as store:
        poll_once(store, session, [COLLECTION])
        stored = store.latest_by_id([obj["id"]])
    assert stored[obj["id"]].obj == obj

"""Importing a medallion data file keeps every version and its date_added.

The file is the project's own, ``tests/data/medallion-export.json``: an exchange as it
ran on medallion (three API roots, one without collections; an indicator with three
versions added out of version order; an object in STIX 2.0 and 2.1; two statuses).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from server.store import InvalidInputError, Store
from server.store.timestamps import format_timestamp_us, stix_timestamp_us, version_key
from server.store.types import ImportSummary, ObjectQuery
from tests.store.store_helpers import make_object

MEDALLION_FILE = Path(__file__).resolve().parents[1] / "data" / "medallion-export.json"
PROXY_RANGES = "208fad6d-c7c2-5cf2-9e0c-56bad4940d55"
RANGE_INDICATOR = "indicator--90e1fa7c-eb80-52c0-80ca-8b4610abcbc7"
EVERY_VERSION = ObjectQuery(versions=("all",), spec_versions=("2.0", "2.1"), limit=1_000)


@pytest.fixture
def medallion_data() -> dict:
    return json.loads(MEDALLION_FILE.read_text(encoding="utf-8"))


@pytest.fixture
def empty_store(store_url: str):
    with Store(store_url) as store:
        store.migrate()
        yield store


def expected_versions(collection: dict) -> set[tuple[str, str, str, int, str]]:
    """(id, version, version key, date_added, spec_version) of every object, from the file."""
    manifest = {
        (entry["id"], version_key(entry["version"])): entry for entry in collection["manifest"]
    }
    expected = set()
    for obj in collection["objects"]:
        version = obj.get("modified") or obj["created"]
        entry = manifest[(obj["id"], version_key(version))]
        spec = obj.get("spec_version") or entry["media_type"].split("version=")[1]
        date_added = stix_timestamp_us(entry["date_added"])
        expected.add((obj["id"], version, version_key(version), date_added, spec))
    return expected


def test_import_keeps_every_version_and_its_date_added(empty_store: Store, medallion_data) -> None:
    summary = empty_store.import_medallion(MEDALLION_FILE)
    assert summary == ImportSummary(api_roots=3, collections=4, objects_added=15, statuses_added=2)
    assert [root.name for root in empty_store.list_api_roots()] == [
        "archive",
        "consortium",
        "sandbox",
    ]
    compared = 0
    for name, root in medallion_data.items():
        if name == "/discovery":
            continue
        assert (
            empty_store.get_api_root(name).max_content_length
            == root["information"]["max_content_length"]
        )
        for collection in root["collections"]:
            info = empty_store.get_collection(name, collection["id"])
            assert info is not None and info.title == collection["title"]
            assert list(info.media_types) == collection["media_types"]
            page = empty_store.query_objects(collection["id"], EVERY_VERSION)
            assert not page.more
            stored = {
                (
                    row.stix_id,
                    row.version,
                    version_key(row.version),
                    row.date_added_us,
                    row.spec_version,
                )
                for row in page.rows
            }
            assert stored == expected_versions(collection)
            originals = {
                (obj["id"], obj.get("modified") or obj["created"]): obj
                for obj in collection["objects"]
            }
            for row in page.rows:
                assert json.loads(row.body) == originals[(row.stix_id, row.version)]
            manifest_dates = {entry["date_added"] for entry in collection["manifest"]}
            assert {format_timestamp_us(row.date_added_us) for row in page.rows} == manifest_dates
            compared += len(page.rows)
    assert compared == 15
    # date_added is the manifest's, not the version's: the third version of the proxy
    # range came in before the second.
    rows = empty_store.query_objects(PROXY_RANGES, EVERY_VERSION).rows
    ranges = [row.version for row in rows if row.stix_id == RANGE_INDICATOR]
    assert ranges == [
        "2026-02-03T10:00:00.000Z",
        "2026-03-01T12:00:00.250Z",
        "2026-02-10T08:30:00.000Z",
    ]


def test_default_query_after_import_gives_latest_of_latest_spec(empty_store: Store) -> None:
    empty_store.import_medallion(MEDALLION_FILE)
    page = empty_store.query_objects(PROXY_RANGES, ObjectQuery())
    latest = {row.stix_id: row.version for row in page.rows}
    assert latest == {
        "identity--f56c7399-71c2-5c0c-a1c2-94aa73cdfdbe": "2026-01-15T00:00:00.000Z",
        "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": "2017-01-20T00:00:00.000Z",
        # Its newest version is STIX 2.0; by default the latest spec_version (2.1) is served.
        "attack-pattern--8028a514-8cce-58e5-ad3a-4bc94ede5f74": "2026-01-20T00:00:00.000Z",
        "campaign--61dfb9ed-6943-5b6e-bdc2-d0d4f201f1f7": "2026-02-01T00:00:00.000Z",
        "relationship--4151259c-85ae-5b68-b11a-2d641177ac9d": "2026-02-03T10:05:00.000Z",
        "indicator--f406dab0-eee2-51c4-8414-6e6ff15daf59": "2026-02-05T09:15:00.000Z",
        # Three versions; the newest by version, whatever the order they were added in.
        RANGE_INDICATOR: "2026-03-01T12:00:00.250Z",
    }
    dates = [row.date_added_us for row in page.rows]
    assert dates == sorted(dates)


def test_reimport_adds_nothing(empty_store: Store) -> None:
    empty_store.import_medallion(MEDALLION_FILE)
    before = empty_store.query_objects(PROXY_RANGES, EVERY_VERSION)
    again = empty_store.import_medallion(MEDALLION_FILE)
    assert again == ImportSummary(objects_already_present=15, statuses_already_present=2)
    assert empty_store.query_objects(PROXY_RANGES, EVERY_VERSION) == before
    assert empty_store.count_objects(PROXY_RANGES) == 10


def test_statuses_and_discovery_come_across(empty_store: Store, medallion_data) -> None:
    empty_store.import_medallion(medallion_data)
    status = empty_store.get_status("consortium", "8e1c0f3a-5b7d-4e2a-9c6f-0d1e2f3a4b5c", None)
    assert status is not None
    assert status.status == "pending"
    assert status.request_timestamp_us == stix_timestamp_us("2026-03-01T12:00:00.654321Z")
    assert [d.id for d in status.pendings] == [
        RANGE_INDICATOR,
        "indicator--6edaeec8-f93c-50c8-a3df-b9a754217f89",
    ]
    assert len(status.successes) == 1 and len(status.failures) == 1
    assert status.failures[0].message == "pattern does not parse"
    done = empty_store.get_status("consortium", "8e1c0f3a-5b7d-4e2a-9c6f-7a8b9c0d1e2f", None)
    assert done is not None and done.status == "complete" and len(done.successes) == 1
    # Imported statuses belong to no partner: only the administrator sees them.
    assert empty_store.get_status("consortium", status.id, "some-lab") is None
    discovery = medallion_data["/discovery"]
    assert empty_store.get_discovery() == {
        key: discovery[key] for key in ("title", "description", "contact", "default")
    }


def test_new_objects_are_added_after_the_imported_ones(empty_store: Store) -> None:
    empty_store.import_medallion(MEDALLION_FILE)
    newest_imported = max(
        row.date_added_us for row in empty_store.query_objects(PROXY_RANGES, EVERY_VERSION).rows
    )
    empty_store.add_objects(
        "consortium", PROXY_RANGES, None, [make_object(1, "2021-01-01T00:00:00Z")], [], 0
    )
    page = empty_store.query_objects(
        PROXY_RANGES, ObjectQuery(added_after_us=newest_imported, limit=10)
    )
    assert [row.version for row in page.rows] == ["2021-01-01T00:00:00Z"]


def test_a_malformed_file_names_the_field_and_writes_nothing(
    empty_store: Store, medallion_data
) -> None:
    broken = copy.deepcopy(medallion_data)
    del broken["consortium"]["collections"][1]["objects"][2]["id"]
    with pytest.raises(InvalidInputError) as raised:
        empty_store.import_medallion(broken)
    message = str(raised.value)
    assert "'consortium'" in message and "collections[1]" in message
    assert "objects[2]" in message and "'id'" in message
    assert empty_store.list_api_roots() == []

    bad_date = copy.deepcopy(medallion_data)
    bad_date["consortium"]["collections"][0]["manifest"][0]["date_added"] = "yesterday"
    with pytest.raises(InvalidInputError, match=r"manifest\[0\].*not a STIX timestamp"):
        empty_store.import_medallion(bad_date)
    assert empty_store.get_discovery() == {}


def test_unreadable_files_are_reported_with_their_path(empty_store: Store, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="cannot read"):
        empty_store.import_medallion(tmp_path / "missing.json")
    not_json = tmp_path / "data.json"
    not_json.write_text('{\n  "/discovery": {},\n  oops\n}\n', encoding="utf-8")
    with pytest.raises(InvalidInputError, match=r"data\.json: line 3: not valid JSON"):
        empty_store.import_medallion(not_json)

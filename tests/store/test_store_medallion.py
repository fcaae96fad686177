"""Importing medallion's own sample data file keeps every version and its date_added."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from server.store import InvalidInputError, Store
from server.store.timestamps import format_timestamp_us, stix_timestamp_us, version_key
from server.store.types import ImportSummary, ObjectQuery
from tests.store.store_helpers import make_object, shared_data_dir

MEDALLION_FILE = shared_data_dir() / "data" / "medallion_default_data.json"
EVERY_VERSION = ObjectQuery(versions=("all",), spec_versions=("2.0", "2.1"), limit=1_000)


@pytest.fixture
def medallion_data() -> dict:
    assert MEDALLION_FILE.is_file(), f"missing test data {MEDALLION_FILE} (set DX_SHARED_DIR)"
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
    assert summary == ImportSummary(api_roots=3, collections=5, objects_added=8, statuses_added=2)
    assert [root.name for root in empty_store.list_api_roots()] == ["api1", "api2", "trustgroup1"]
    root = medallion_data["trustgroup1"]
    assert (
        empty_store.get_api_root("trustgroup1").max_content_length
        == (root["information"]["max_content_length"])
    )
    for collection in root["collections"]:
        info = empty_store.get_collection("trustgroup1", collection["id"])
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
            (obj["id"], obj.get("modified") or obj["created"]): obj for obj in collection["objects"]
        }
        for row in page.rows:
            assert json.loads(row.body) == originals[(row.stix_id, row.version)]
        manifest_dates = {entry["date_added"] for entry in collection["manifest"]}
        assert {format_timestamp_us(row.date_added_us) for row in page.rows} == manifest_dates


def test_default_query_after_import_gives_latest_of_latest_spec(empty_store: Store) -> None:
    empty_store.import_medallion(MEDALLION_FILE)
    page = empty_store.query_objects("91a7b528-80eb-42ed-a74d-c6fbd5a26116", ObjectQuery())
    latest = {row.stix_id: row.version for row in page.rows}
    assert latest == {
        "relationship--2f9a9aa9-108a-4333-83e2-4fb25add0463": "2014-05-08T09:00:00.000Z",
        "indicator--cd981c25-8042-4166-8945-51178443bdac": "2014-05-08T09:00:00.000Z",
        "indicator--6770298f-0fd8-471a-ab8c-1c658a46574e": "2017-01-27T13:49:53.935Z",
        "marking-definition--34098fce-860f-48ae-8e50-ebd3cc5e41da": "2017-01-20T00:00:00.000Z",
        # Its newest version is STIX 2.0; by default the latest spec_version (2.1) is served.
        "malware--c0931cc6-c75e-47e5-9036-78fabc95d4ec": "2017-01-27T13:49:53.997Z",
    }
    dates = [row.date_added_us for row in page.rows]
    assert dates == sorted(dates)


def test_reimport_adds_nothing(empty_store: Store) -> None:
    empty_store.import_medallion(MEDALLION_FILE)
    collection_id = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"
    before = empty_store.query_objects(collection_id, EVERY_VERSION)
    again = empty_store.import_medallion(MEDALLION_FILE)
    assert again == ImportSummary(objects_already_present=8, statuses_already_present=2)
    assert empty_store.query_objects(collection_id, EVERY_VERSION) == before
    assert empty_store.count_objects(collection_id) == 8


def test_statuses_and_discovery_come_across(empty_store: Store, medallion_data) -> None:
    empty_store.import_medallion(medallion_data)
    status = empty_store.get_status("trustgroup1", "2d086da7-4bdc-4f91-900e-d77486753710", None)
    assert status is not None
    assert status.status == "pending"
    assert status.request_timestamp_us == stix_timestamp_us("2016-11-02T12:34:34.123456Z")
    assert [d.id for d in status.pendings] == [
        "indicator--252c7c11-daf2-42bd-843b-be65edca9f61",
        "relationship--045585ad-a22f-4333-af33-bfd503a683b5",
    ]
    assert len(status.successes) == 1 and len(status.failures) == 1
    # Imported statuses belong to no partner: only the administrator sees them.
    assert empty_store.get_status("trustgroup1", status.id, "some-lab") is None
    discovery = medallion_data["/discovery"]
    assert empty_store.get_discovery() == {
        key: discovery[key] for key in ("title", "description", "contact", "default")
    }


def test_new_objects_are_added_after_the_imported_ones(empty_store: Store) -> None:
    empty_store.import_medallion(MEDALLION_FILE)
    collection_id = "91a7b528-80eb-42ed-a74d-c6fbd5a26116"
    newest_imported = max(
        row.date_added_us for row in empty_store.query_objects(collection_id, EVERY_VERSION).rows
    )
    empty_store.add_objects(
        "trustgroup1", collection_id, None, [make_object(1, "2021-01-01T00:00:00Z")], [], 0
    )
    page = empty_store.query_objects(
        collection_id, ObjectQuery(added_after_us=newest_imported, limit=10)
    )
    assert [row.version for row in page.rows] == ["2021-01-01T00:00:00Z"]


def test_a_malformed_file_names_the_field_and_writes_nothing(
    empty_store: Store, medallion_data
) -> None:
    broken = copy.deepcopy(medallion_data)
    del broken["trustgroup1"]["collections"][2]["objects"][3]["id"]
    with pytest.raises(InvalidInputError) as raised:
        empty_store.import_medallion(broken)
    message = str(raised.value)
    assert "'trustgroup1'" in message and "collections[2]" in message
    assert "objects[3]" in message and "'id'" in message
    assert empty_store.list_api_roots() == []

    bad_date = copy.deepcopy(medallion_data)
    bad_date["trustgroup1"]["collections"][2]["manifest"][0]["date_added"] = "yesterday"
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

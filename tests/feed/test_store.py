"""The feed store on real SQLite files: idempotent pages, forward-only cursors, current state."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from exchange.feed.store import FeedStore, FeedStoreError, ReceivedVersion
from tests.feed.stix_factory import indicator

ROOT = "http://127.0.0.1:1/exchange/"
COLLECTION = "3f0c3d1e-0000-4000-8000-000000000001"
OTHER = "3f0c3d1e-0000-4000-8000-000000000002"


def received(obj: dict, date_added: str) -> ReceivedVersion:
    return ReceivedVersion(obj["id"], obj["modified"], date_added, obj)


@pytest.fixture
def store(tmp_path: Path):
    with FeedStore(tmp_path / "feed.sqlite3") as opened:
        yield opened


def test_page_is_stored_once_and_cursor_follows(store: FeedStore) -> None:
    page = [
        received(indicator("a"), "2026-03-01T00:00:00.000001Z"),
        received(indicator("b"), "2026-03-01T00:00:00.000002Z"),
    ]
    assert store.cursor(ROOT, COLLECTION) is None
    assert store.store_page(ROOT, COLLECTION, page, "2026-03-01T00:00:00.000002Z") == 2
    assert store.store_page(ROOT, COLLECTION, page, "2026-03-01T00:00:00.000002Z") == 0
    assert store.count_versions(COLLECTION) == 2
    assert store.cursor(ROOT, COLLECTION) == "2026-03-01T00:00:00.000002Z"
    assert store.version_index(COLLECTION) == [
        (page[0].stix_id, "2026-01-01T00:00:00.000Z", "2026-03-01T00:00:00.000001Z"),
        (page[1].stix_id, "2026-01-01T00:00:00.000Z", "2026-03-01T00:00:00.000002Z"),
    ]


def test_cursor_never_moves_backwards(store: FeedStore) -> None:
    store.store_page(ROOT, COLLECTION, [], "2026-03-02T00:00:00Z")
    store.store_page(ROOT, COLLECTION, [], "2026-03-01T00:00:00.5Z")
    assert store.cursor(ROOT, COLLECTION) == "2026-03-02T00:00:00Z"
    store.store_page(ROOT, COLLECTION, [], "2026-03-02T00:00:00.000001Z")
    assert store.cursor(ROOT, COLLECTION) == "2026-03-02T00:00:00.000001Z"


def test_cursors_are_per_api_root_and_collection(store: FeedStore) -> None:
    store.store_page(ROOT, COLLECTION, [], "2026-03-02T00:00:00Z")
    assert store.cursor(ROOT, OTHER) is None
    assert store.cursor("http://elsewhere/exchange/", COLLECTION) is None


def test_two_spellings_of_one_version_are_one_version(store: FeedStore) -> None:
    first = indicator("a", modified="2026-01-01T00:00:00Z")
    second = indicator("a", modified="2026-01-01T00:00:00.000Z")
    first_page = [received(first, "2026-03-01T00:00:01Z")]
    store.store_page(ROOT, COLLECTION, first_page, "2026-03-01T00:00:01Z")
    assert (
        store.store_page(
            ROOT, COLLECTION, [received(second, "2026-03-01T00:00:02Z")], "2026-03-01T00:00:02Z"
        )
        == 0
    )


def test_latest_version_wins_across_collections_and_revocation_sticks(store: FeedStore) -> None:
    v1 = indicator("a", modified="2026-01-01T00:00:00Z")
    v2 = indicator("a", cidr="198.51.100.0/25", modified="2026-01-02T00:00:00Z")
    revoked = indicator("b", modified="2026-01-03T00:00:00Z", revoked=True)
    # A later version of b without the flag would be a STIX violation; it stays revoked.
    unrevoked = indicator("b", modified="2026-01-04T00:00:00Z")
    newest_page = [received(v2, "2026-03-01T00:00:01Z")]
    store.store_page(ROOT, COLLECTION, newest_page, "2026-03-01T00:00:01Z")
    store.store_page(
        ROOT,
        OTHER,
        [
            received(v1, "2026-03-01T00:00:02Z"),
            received(revoked, "2026-03-01T00:00:03Z"),
            received(unrevoked, "2026-03-01T00:00:04Z"),
        ],
        "2026-03-01T00:00:04Z",
    )
    latest = {stored.stix_id: stored for stored in store.latest_versions()}
    assert latest[v1["id"]].obj == v2
    assert latest[v1["id"]].collection == COLLECTION
    assert latest[revoked["id"]].revoked is True
    assert [obj["id"] for obj in store.current_objects()] == [v1["id"]]
    assert store.current_objects(types=["identity"]) == []
    assert store.latest_by_id([v1["id"], "indicator--nope"])[v1["id"]].obj == v2
    all_versions = list(store.iter_versions(collections=[OTHER]))
    assert [stored.date_added for stored in all_versions] == [
        "2026-03-01T00:00:02Z",
        "2026-03-01T00:00:03Z",
        "2026-03-01T00:00:04Z",
    ]


def test_a_file_that_is_not_a_store_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "not-a-store.sqlite3"
    path.write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(FeedStoreError, match=r"not-a-store\.sqlite3"):
        FeedStore(path)


def test_store_uses_wal_so_readers_do_not_block_the_poller(store: FeedStore) -> None:
    import sqlite3

    with sqlite3.connect(store.path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_objects_orjson_cannot_encode_are_kept_exactly(store: FeedStore) -> None:
    obj = indicator("big")
    obj["x_big_number"] = 2**80
    store.store_page(
        ROOT, COLLECTION, [received(obj, "2026-03-01T00:00:01Z")], "2026-03-01T00:00:01Z"
    )
    assert store.current_objects() == [obj]


LAB_B_IDENTITY = "identity--9462e710-e71f-5dbc-95aa-877ffa73d0fd"


def test_a_version_by_another_creator_is_refused_and_reported(store: FeedStore) -> None:
    """Lab B's revoked copy of lab A's indicator, from another collection, never counts."""
    original = indicator("owned", modified="2026-01-01T00:00:00Z")
    poisoned = indicator("owned", modified="2026-06-01T00:00:00Z", revoked=True)
    poisoned["created_by_ref"] = LAB_B_IDENTITY
    anonymous = indicator("owned", modified="2026-07-01T00:00:00Z", revoked=True)
    del anonymous["created_by_ref"]
    store.store_page(
        ROOT, COLLECTION, [received(original, "2026-03-01T00:00:01Z")], "2026-03-01T00:00:01Z"
    )
    page = store.store_page_report(
        ROOT,
        OTHER,
        [received(poisoned, "2026-03-02T00:00:01Z"), received(anonymous, "2026-03-02T00:00:02Z")],
        "2026-03-02T00:00:02Z",
    )
    assert page.stored == 0
    assert [(r.stix_id, r.created_by_ref, r.first_creator) for r in page.refused] == [
        (original["id"], LAB_B_IDENTITY, original["created_by_ref"]),
        (original["id"], None, original["created_by_ref"]),
    ]
    assert store.cursor(ROOT, OTHER) == "2026-03-02T00:00:02Z"
    assert store.current_objects() == [original]
    assert [v.obj for v in store.iter_versions()] == [original]
    assert store.latest_by_id([original["id"]])[original["id"]].obj == original


def test_the_earliest_creator_wins_whichever_collection_is_synced_first(store: FeedStore) -> None:
    """The poisoned collection synced first: the original, added earlier, takes the object back."""
    original = indicator("first", modified="2026-01-01T00:00:00Z")
    update = indicator("first", cidr="198.51.100.0/25", modified="2026-02-01T00:00:00Z")
    poisoned = indicator("first", modified="2026-06-01T00:00:00Z", revoked=True)
    poisoned["created_by_ref"] = LAB_B_IDENTITY
    early = store.store_page_report(
        ROOT, OTHER, [received(poisoned, "2026-03-05T00:00:00Z")], "2026-03-05T00:00:00Z"
    )
    assert (early.stored, early.refused) == (1, [])
    late = store.store_page_report(
        ROOT,
        COLLECTION,
        [received(original, "2026-03-01T00:00:00Z"), received(update, "2026-03-06T00:00:00Z")],
        "2026-03-06T00:00:00Z",
    )
    assert late.stored == 2
    assert [(r.collection, r.created_by_ref) for r in late.refused] == [(OTHER, LAB_B_IDENTITY)]
    assert store.current_objects() == [update]
    assert store.count_versions(OTHER) == 0


def test_observables_have_no_creator_and_are_kept_as_before(store: FeedStore) -> None:
    address = {
        "type": "ipv4-addr",
        "spec_version": "2.1",
        "id": "ipv4-addr--" + "1" * 8 + "-1111-4111-8111-" + "1" * 12,
        "value": "198.51.100.7",
    }
    later = dict(address, x_note="seen again")
    pages = [
        received_plain(address, "2026-03-01T00:00:00Z", "2026-03-01T00:00:00Z"),
        received_plain(later, "2026-03-02T00:00:00Z", "2026-03-02T00:00:00Z"),
    ]
    page = store.store_page_report(ROOT, COLLECTION, pages, "2026-03-02T00:00:00Z")
    assert (page.stored, page.refused) == (2, [])


def received_plain(obj: dict, version: str, date_added: str) -> ReceivedVersion:
    return ReceivedVersion(obj["id"], version, date_added, obj)


def test_a_store_from_before_first_creators_is_cleaned_when_opened(tmp_path: Path) -> None:
    """Stores written by an older dx kept every version: opening one drops the foreign ones."""
    import sqlite3

    original = indicator("old", modified="2026-01-01T00:00:00Z")
    poisoned = indicator("old", modified="2026-06-01T00:00:00Z", revoked=True)
    poisoned["created_by_ref"] = LAB_B_IDENTITY
    path = tmp_path / "old.sqlite3"
    with FeedStore(path) as opened:
        opened.store_page(
            ROOT, OTHER, [received(poisoned, "2026-03-02T00:00:00Z")], "2026-03-02T00:00:00Z"
        )
        opened.store_page(
            ROOT, COLLECTION, [received(original, "2026-03-01T00:00:00Z")], "2026-03-01T00:00:00Z"
        )
    with sqlite3.connect(path) as raw:  # as an older store: all versions, no creators table
        raw.execute(
            "INSERT INTO object_versions (collection, stix_id, obj_type, version, version_key,"
            " date_added, created_by_ref, revoked, body) SELECT ?, stix_id, obj_type,"
            " '2026-06-01T00:00:00Z', '2026-06-01T00:00:00.000000000Z', '2026-03-02T00:00:00Z',"
            " ?, 1, ? FROM object_versions",
            (OTHER, LAB_B_IDENTITY, orjson.dumps(poisoned).decode()),
        )
        raw.execute("DROP TABLE object_creators")
    with FeedStore(path) as reopened:
        assert reopened.current_objects() == [original]
        assert reopened.count_versions(OTHER) == 0


def test_the_store_counts_the_exchange_observable_as_an_observable() -> None:
    from exchange.feed.creators import OBSERVABLE_TYPES
    from mappings import names

    assert names.PROMPT_FINGERPRINT_TYPE in OBSERVABLE_TYPES

"""The feed store on real SQLite files: idempotent pages, forward-only cursors, current state."""

from __future__ import annotations

from pathlib import Path

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

"""A POST stored a chunk at a time is stored exactly as one batch, or not at all.

On PostgreSQL ``add_object_chunks`` writes each checked chunk on a writer
thread while the caller checks the next (``server.store.publish``); on SQLite
it gathers them first. Both must give what one batch gives: every version
once, repeats across chunks reported as already stored, one latest version
per object, date_added increasing in input order, and one status; and a
failure while checking must leave nothing behind.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from server.store import NotFoundError, Store
from server.store.publish import ALREADY_STORED_MESSAGE
from server.store.timestamps import now_us
from server.store.types import IncomingObject, ObjectQuery, StatusDetail
from tests.store.store_helpers import API_ROOT, COLLECTION_ID, make_object

OLD, NEW = "2021-01-01T00:00:00.000Z", "2021-06-01T00:00:00.000Z"


def _chunks(objects: list[IncomingObject], size: int) -> list[tuple[list, list]]:
    return [(objects[start : start + size], []) for start in range(0, len(objects), size)]


def _all_versions(store: Store) -> list:
    rows, after = [], None
    while True:
        page = store.query_objects(
            COLLECTION_ID, ObjectQuery(versions=("all",), limit=1000, after=after), with_body=False
        )
        rows.extend(page.rows)
        if not page.more:
            return rows
        after = page.last


def test_chunks_store_what_one_batch_stores(store: Store) -> None:
    first = [make_object(n, OLD) for n in range(3_000)]
    # Later chunks repeat versions of the first chunk and add newer versions of them.
    repeats = [make_object(n, OLD) for n in range(0, 3_000, 7)]
    newer = [make_object(n, NEW) for n in range(0, 3_000, 5)]
    objects = first + repeats + newer
    refused = [StatusDetail("indicator--bad", "x", "refused by the checks")]
    chunks = _chunks(objects, 1_000)
    chunks[2] = (chunks[2][0], refused)

    record = store.add_object_chunks(API_ROOT, COLLECTION_ID, None, iter(chunks), now_us())

    assert len(record.successes) == len(objects)
    assert [detail.id for detail in record.failures] == ["indicator--bad"]
    already = [d for d in record.successes if d.message == ALREADY_STORED_MESSAGE]
    assert len(already) == len(repeats)
    stored = _all_versions(store)
    assert len(stored) == len(first) + len(newer)
    dates = [row.date_added_us for row in stored]
    assert dates == sorted(dates) and len(set(dates)) == len(dates)
    # date_added follows input order across chunks: the newer versions came last.
    assert [row.version for row in stored[-len(newer) :]] == [NEW] * len(newer)
    latest = store.query_objects(COLLECTION_ID, ObjectQuery(limit=5_000), with_body=False)
    assert len(latest.rows) == len(first)
    newer_ids = {obj.stix_id for obj in newer}
    for row in latest.rows:
        assert row.version == (NEW if row.stix_id in newer_ids else OLD)
    saved = store.get_status(API_ROOT, record.id, None)
    assert saved is not None and len(saved.successes) == len(objects)
    assert store.check_integrity().ok, store.check_integrity().problems


class CheckingFailed(RuntimeError):
    pass


def test_a_failure_while_checking_stores_nothing(store: Store) -> None:
    consumed: list[int] = []

    def failing_chunks() -> Iterator[tuple[list, list]]:
        for number, chunk in enumerate(_chunks([make_object(n, OLD) for n in range(3_000)], 1_000)):
            if number == 2:
                raise CheckingFailed("the checks broke on the third chunk")
            consumed.append(number)
            yield chunk

    with pytest.raises(CheckingFailed):
        store.add_object_chunks(API_ROOT, COLLECTION_ID, None, failing_chunks(), now_us())
    assert consumed == [0, 1]
    assert store.count_objects(COLLECTION_ID) == 0
    assert store.audit_entries(action="objects.publish") == []
    # The collection's lock and date_added are free for the next POST.
    record = store.add_objects(API_ROOT, COLLECTION_ID, None, [make_object(1, OLD)], [], now_us())
    assert len(record.successes) == 1 and store.count_objects(COLLECTION_ID) == 1


def test_a_missing_collection_is_reported_and_nothing_is_stored(store: Store) -> None:
    chunks = _chunks([make_object(n, OLD) for n in range(3_000)], 100)
    with pytest.raises(NotFoundError):
        store.add_object_chunks(API_ROOT, "no-such-collection", None, iter(chunks), now_us())
    assert store.count_objects(COLLECTION_ID) == 0

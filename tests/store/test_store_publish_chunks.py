"""A POST stored a chunk at a time is stored exactly as one batch, or not at all.

On PostgreSQL ``add_object_chunks`` writes each checked chunk on a writer
thread while the caller checks the next (``server.store.publish``); on SQLite
it gathers them first. Both must give what one batch gives: every version
once, repeats across chunks reported as already stored, one latest version
per object, date_added increasing in input order, and one status; and a
failure while checking must leave nothing behind.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import psycopg
import pytest
from sqlalchemy.engine import make_url

from server.store import NotFoundError, Store
from server.store.publish import ALREADY_STORED_MESSAGE
from server.store.timestamps import now_us
from server.store.types import (
    ApiRootInfo,
    CollectionInfo,
    IncomingObject,
    ObjectQuery,
    StatusDetail,
    StatusRecord,
)
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


def _waiting_on_a_lock(admin: psycopg.Connection, pid: int | None = None) -> bool:
    """Whether backend ``pid`` (or any backend but ``admin``'s) waits for a row lock now."""
    rows = admin.execute(
        "SELECT pid FROM pg_stat_activity"
        " WHERE wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
    ).fetchall()
    return any(pid is None or row[0] == pid for row in rows)


def _first_chunk_written(admin: psycopg.Connection) -> bool:
    """A transaction idle after its last statement for a chunk (the collection's date_added)."""
    rows = admin.execute(
        "SELECT 1 FROM pg_stat_activity WHERE state = 'idle in transaction'"
        " AND query LIKE 'UPDATE collections SET last_date_added_us%%'"
    ).fetchall()
    return bool(rows)


def _until(condition, what: str) -> None:
    deadline = time.monotonic() + 120
    while not condition():
        assert time.monotonic() < deadline, f"never happened: {what}"
        time.sleep(0.02)


def test_a_post_chosen_as_deadlock_victim_starts_again_and_succeeds(pg_url: str) -> None:
    """Owner claims lock ids chunk by chunk. Here another transaction holds the claim on
    the second chunk's id and waits for the first chunk's: PostgreSQL aborts the POST's
    transaction, and the POST must start again rather than fail."""
    store = Store(pg_url)
    store.migrate()
    store.add_api_root(ApiRootInfo(name=API_ROOT, title="Exchange"))
    store.add_collection(CollectionInfo(id=COLLECTION_ID, api_root=API_ROOT, title="Main"))
    first, second = make_object(1, OLD), make_object(2, OLD)
    libpq_url = make_url(pg_url).set(drivername="postgresql").render_as_string(False)
    claim = (
        "INSERT INTO object_owners (stix_id, owner_identity, first_published_us) "
        "VALUES (%s, NULL, 1)"
    )
    with psycopg.connect(libpq_url, autocommit=True) as admin, psycopg.connect(libpq_url) as other:
        # The other side never looks for deadlocks itself, so PostgreSQL picks the POST.
        other.execute("SET deadlock_timeout = '1h'")
        other.execute(claim, (second.stix_id,))
        release_second = threading.Event()

        def chunks() -> Iterator[tuple[list, list]]:
            yield [first], []
            release_second.wait(timeout=120)
            yield [second], []

        result: dict[str, object] = {}

        def post() -> None:
            try:
                result["record"] = store.add_object_chunks(
                    API_ROOT, COLLECTION_ID, None, chunks(), now_us()
                )
            except Exception as error:  # reported by the assertion below
                result["error"] = error

        def claim_first() -> None:
            try:
                other.execute(claim, (first.stix_id,))
                result["other claimed"] = True
            except psycopg.Error as error:
                result["other failed"] = error

        poster = threading.Thread(target=post)
        poster.start()
        _until(
            lambda: _first_chunk_written(admin),
            "the POST wrote its first chunk and waits for the second",
        )
        # The other transaction waits for the POST's claim on the first id ...
        other_claims = threading.Thread(target=claim_first)
        other_claims.start()
        _until(
            lambda: _waiting_on_a_lock(admin, other.info.backend_pid),
            "the other transaction waits for the POST",
        )
        # ... and the POST's second chunk waits for the other's claim: a deadlock, in
        # which PostgreSQL aborts the POST's transaction; the other one's claim goes in.
        release_second.set()
        other_claims.join(timeout=120)
        assert result.get("other claimed"), result
        other.rollback()  # the POST, started again, may now claim both ids
        poster.join(timeout=120)
    store.close()
    assert "error" not in result, result
    record = result["record"]
    assert isinstance(record, StatusRecord) and len(record.successes) == 2
    assert not record.failures

"""Publishing, querying, paging and deleting object versions, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from server.store import NotFoundError, Store
from server.store.schema import collections
from server.store.timestamps import now_us, version_key
from server.store.types import (
    IncomingObject,
    ObjectQuery,
    Position,
    StatusDetail,
    StoredVersion,
)
from tests.store.store_helpers import (
    API_ROOT,
    COLLECTION_ID,
    IDENTITY_A,
    IDENTITY_B,
    OTHER_COLLECTION_ID,
    make_object,
    stix_id,
)

T1 = "2021-01-01T00:00:00Z"
T2 = "2021-01-02T00:00:00.5Z"
T3 = "2021-01-03T00:00:00.123456789Z"


def publish(store: Store, *objects: IncomingObject, partner: str | None = None, coll=COLLECTION_ID):
    return store.add_objects(API_ROOT, coll, partner, list(objects), [], now_us())


def everything(store: Store, query: ObjectQuery | None = None) -> list[StoredVersion]:
    query = query or ObjectQuery()
    return store.query_objects(COLLECTION_ID, replace(query, limit=10_000)).rows


def summary(rows: list[StoredVersion]) -> list[tuple[str, str]]:
    return [(row.stix_id, row.version) for row in rows]


@pytest.fixture
def partners(store: Store) -> dict[str, str]:
    return {
        "lab-a": store.add_partner("lab-a", "Lab A", IDENTITY_A),
        "lab-b": store.add_partner("lab-b", "Lab B", IDENTITY_B),
    }


def test_default_query_returns_the_latest_version_of_each_object(store: Store) -> None:
    status = publish(store, make_object(1, T1), make_object(1, T2), make_object(2, T1))
    assert status.status == "complete"
    assert [(d.id, d.version) for d in status.successes] == [
        (stix_id("indicator", 1), T1),
        (stix_id("indicator", 1), T2),
        (stix_id("indicator", 2), T1),
    ]
    assert status.failures == []
    rows = everything(store)
    assert summary(rows) == [(stix_id("indicator", 1), T2), (stix_id("indicator", 2), T1)]
    assert json.loads(rows[0].body)["modified"] == T2
    assert rows[0].media_type == "application/stix+json;version=2.1"


def test_version_filters_first_last_all_explicit_and_unions(store: Store) -> None:
    publish(store, make_object(1, T1), make_object(1, T2), make_object(1, T3))
    publish(store, make_object(2, T2))
    one, two = stix_id("indicator", 1), stix_id("indicator", 2)

    def versions(*wanted: str) -> list[tuple[str, str]]:
        return summary(everything(store, ObjectQuery(versions=wanted)))

    assert versions("last") == [(one, T3), (two, T2)]
    assert versions() == versions("last")
    assert versions("first") == [(one, T1), (two, T2)]
    assert versions("all") == [(one, T1), (one, T2), (one, T3), (two, T2)]
    assert versions(version_key(T2)) == [(one, T2), (two, T2)]
    assert versions("first", "last") == [(one, T1), (one, T3), (two, T2)]
    assert versions("first", version_key(T2)) == [(one, T1), (one, T2), (two, T2)]
    assert versions("all", "first") == versions("all")
    assert versions(version_key("1999-01-01T00:00:00Z")) == []


def test_type_and_id_filters(store: Store) -> None:
    publish(
        store,
        make_object(1, T1),
        make_object(2, T1, obj_type="malware"),
        make_object(3, T1, obj_type="attack-pattern"),
        make_object(4, T1),
    )
    by_type = everything(store, ObjectQuery(types=("malware", "attack-pattern")))
    assert [row.stix_id for row in by_type] == [stix_id("malware", 2), stix_id("attack-pattern", 3)]
    by_single_type = everything(store, ObjectQuery(types=("indicator",)))
    assert [row.stix_id for row in by_single_type] == [
        stix_id("indicator", 1),
        stix_id("indicator", 4),
    ]
    by_id = everything(store, ObjectQuery(ids=(stix_id("indicator", 4), stix_id("malware", 2))))
    assert [row.stix_id for row in by_id] == [stix_id("malware", 2), stix_id("indicator", 4)]
    both = everything(store, ObjectQuery(ids=(stix_id("malware", 2),), types=("indicator",)))
    assert both == []
    assert everything(store, ObjectQuery(types=("tool",))) == []


def test_added_after_returns_only_later_additions(store: Store) -> None:
    publish(store, make_object(1, T1), make_object(2, T1))
    first_batch = everything(store)
    cut = first_batch[-1].date_added_us
    publish(store, make_object(3, T1), make_object(1, T2))
    later = everything(store, ObjectQuery(added_after_us=cut))
    assert summary(later) == [(stix_id("indicator", 3), T1), (stix_id("indicator", 1), T2)]
    assert all(row.date_added_us > cut for row in later)
    assert everything(store, ObjectQuery(added_after_us=later[-1].date_added_us)) == []


def test_date_added_is_unique_increasing_and_not_in_the_past(store: Store) -> None:
    before = now_us()
    for round_number in range(3):
        publish(store, *(make_object(n, T1) for n in range(round_number * 5, round_number * 5 + 5)))
    rows = everything(store, ObjectQuery(versions=("all",)))
    dates = [row.date_added_us for row in rows]
    assert len(rows) == 15
    assert dates == sorted(dates)
    assert len(set(dates)) == len(dates)
    assert dates[0] >= before


@pytest.mark.parametrize("versions", [("all",), ()])
def test_paging_with_every_page_size_walks_the_full_ordered_list(
    store: Store, versions: tuple[str, ...]
) -> None:
    for batch in range(4):
        publish(
            store, *(make_object(n, f"2021-01-0{batch + 1}T00:00:00Z") for n in range(batch, 7))
        )
    full = everything(store, ObjectQuery(versions=versions))
    assert len(full) == (22 if versions else 7)
    for limit in range(1, len(full) + 2):
        walked: list[StoredVersion] = []
        after: Position | None = None
        for _ in range(len(full) + 2):
            page = store.query_objects(
                COLLECTION_ID, ObjectQuery(versions=versions, limit=limit, after=after)
            )
            assert len(page.rows) <= limit
            walked.extend(page.rows)
            if not page.more:
                break
            after = page.last
        assert walked == full, f"limit {limit}"
    last_page = store.query_objects(COLLECTION_ID, ObjectQuery(versions=versions, after=page.last))
    assert last_page.rows == [] and not last_page.more and last_page.last is None


def test_manifest_pages_carry_no_body(store: Store) -> None:
    publish(store, make_object(1, T1), make_object(2, T1, spec_version="2.0"))
    manifest = store.query_objects(COLLECTION_ID, ObjectQuery(), with_body=False)
    assert [row.body for row in manifest.rows] == [None, None]
    assert [row.media_type for row in manifest.rows] == [
        "application/stix+json;version=2.1",
        "application/stix+json;version=2.0",
    ]
    with_bodies = store.query_objects(COLLECTION_ID, ObjectQuery())
    assert [replace(row, body=None) for row in with_bodies.rows] == manifest.rows


def test_duplicates_are_successes_stored_once(store: Store) -> None:
    publish(store, make_object(1, T1))
    assert store.count_objects(COLLECTION_ID) == 1
    same_instant = replace(make_object(1, T1), version="2021-01-01T00:00:00.000Z")
    status = publish(
        store, make_object(1, T1), same_instant, make_object(2, T1), make_object(2, T1)
    )
    assert [d.id for d in status.successes] == [stix_id("indicator", n) for n in (1, 1, 2, 2)]
    assert [bool(d.message) for d in status.successes] == [True, True, False, True]
    assert status.failures == []
    assert store.count_objects(COLLECTION_ID) == 2
    assert store.count_objects(COLLECTION_ID, latest_only=True) == 2


def test_rejected_objects_and_bad_versions_are_failures(store: Store) -> None:
    rejected = [StatusDetail(stix_id("indicator", 9), T1, "created_by_ref is not yours")]
    bad_version = replace(make_object(3, T1), version="yesterday")
    status = store.add_objects(
        API_ROOT, COLLECTION_ID, None, [make_object(1, T1), bad_version], rejected, 42
    )
    assert [d.id for d in status.successes] == [stix_id("indicator", 1)]
    assert [(d.id, d.version) for d in status.failures] == [
        (stix_id("indicator", 9), T1),
        (stix_id("indicator", 3), "yesterday"),
    ]
    assert "not a STIX timestamp" in status.failures[1].message
    assert status.request_timestamp_us == 42
    assert store.count_objects(COLLECTION_ID) == 1


def test_a_failing_batch_leaves_nothing_visible(store: Store) -> None:
    publish(store, make_object(1, T1))
    before = everything(store, ObjectQuery(versions=("all",)))
    with store._engine.connect() as connection:
        last_before = connection.execute(
            select(collections.c.last_date_added_us).where(collections.c.id == COLLECTION_ID)
        ).scalar_one()
    broken = replace(make_object(5, T1), body=None)  # violates NOT NULL at INSERT
    batch = [make_object(1, T2), make_object(2, T1), broken, make_object(3, T1)]
    with pytest.raises(IntegrityError):
        publish(store, *batch)
    assert everything(store, ObjectQuery(versions=("all",))) == before
    assert everything(store)[0].version == T1  # the demotion of version T1 was rolled back too
    with store._engine.connect() as connection:
        last_after = connection.execute(
            select(collections.c.last_date_added_us).where(collections.c.id == COLLECTION_ID)
        ).scalar_one()
    assert last_after == last_before
    assert store.audit_entries(1)[0].action == "objects.publish"
    assert store.audit_entries(1)[0].detail["added"] == 1


def test_an_older_version_arriving_late_does_not_become_latest(store: Store) -> None:
    publish(store, make_object(1, T3))
    publish(store, make_object(1, T1))
    publish(store, make_object(1, T2))
    assert summary(everything(store)) == [(stix_id("indicator", 1), T3)]
    assert summary(everything(store, ObjectQuery(versions=("first",)))) == [
        (stix_id("indicator", 1), T1)
    ]
    assert store.count_objects(COLLECTION_ID, latest_only=True) == 1


def test_newer_version_in_the_same_batch_after_an_older_one(store: Store) -> None:
    publish(store, make_object(1, T2), make_object(1, T3), make_object(1, T1))
    assert summary(everything(store)) == [(stix_id("indicator", 1), T3)]
    assert store.count_objects(COLLECTION_ID, latest_only=True) == 1


def test_latest_spec_version_wins_and_explicit_spec_versions_filter(store: Store) -> None:
    one = stix_id("indicator", 1)
    # The newest version is STIX 2.0; the newest 2.1 version is older.
    publish(
        store,
        make_object(1, T1, spec_version="2.1"),
        make_object(1, T2, spec_version="2.1"),
        make_object(1, T3, spec_version="2.0"),
    )

    def query(**filters) -> list[tuple[str, str]]:
        return summary(everything(store, ObjectQuery(**filters)))

    assert query() == [(one, T2)]
    assert query(versions=("all",)) == [(one, T1), (one, T2)]
    assert query(versions=("first",)) == [(one, T1)]
    assert query(spec_versions=("2.0",)) == [(one, T3)]
    assert query(spec_versions=("2.1",)) == [(one, T2)]
    assert query(spec_versions=("2.0", "2.1")) == [(one, T3)]
    assert query(spec_versions=("2.0", "2.1"), versions=("all",)) == [
        (one, T1),
        (one, T2),
        (one, T3),
    ]
    assert query(spec_versions=("2.0", "2.1"), versions=("first",)) == [(one, T1)]
    assert query(spec_versions=("2.2",)) == []


def test_versions_lists_every_version_of_one_object(store: Store) -> None:
    publish(store, make_object(1, T2), make_object(2, T1))
    publish(store, make_object(1, T1), make_object(1, T3, spec_version="2.0"))
    one = stix_id("indicator", 1)
    page = store.get_versions(COLLECTION_ID, one, ObjectQuery(versions=("last",)))
    assert summary(page.rows) == [(one, T2), (one, T1)]
    assert all(row.body is None for row in page.rows)
    both = store.get_versions(COLLECTION_ID, one, ObjectQuery(spec_versions=("2.0", "2.1")))
    assert summary(both.rows) == [(one, T2), (one, T1), (one, T3)]
    first = store.get_versions(COLLECTION_ID, one, ObjectQuery(limit=1))
    assert summary(first.rows) == [(one, T2)] and first.more
    rest = store.get_versions(COLLECTION_ID, one, ObjectQuery(limit=1, after=first.last))
    assert summary(rest.rows) == [(one, T1)] and not rest.more
    later = store.get_versions(
        COLLECTION_ID, one, ObjectQuery(added_after_us=first.rows[0].date_added_us)
    )
    assert summary(later.rows) == [(one, T1)]
    assert store.get_versions(COLLECTION_ID, stix_id("tool", 77), ObjectQuery()).rows == []


def test_collections_are_separate(store: Store) -> None:
    publish(store, make_object(1, T1))
    publish(store, make_object(1, T2), coll=OTHER_COLLECTION_ID)
    assert summary(everything(store)) == [(stix_id("indicator", 1), T1)]
    other = store.query_objects(OTHER_COLLECTION_ID, ObjectQuery())
    assert summary(other.rows) == [(stix_id("indicator", 1), T2)]


def test_publishing_to_a_collection_outside_the_api_root_is_not_found(store: Store) -> None:
    with pytest.raises(NotFoundError):
        store.add_objects("elsewhere", COLLECTION_ID, None, [make_object(1, T1)], [], 0)
    with pytest.raises(NotFoundError):
        store.add_objects(API_ROOT, "00000000-0000-4000-8000-000000000000", None, [], [], 0)
    assert store.count_objects(COLLECTION_ID) == 0


def test_publisher_may_delete_only_its_own_versions(store: Store, partners) -> None:
    one = stix_id("indicator", 1)
    publish(store, make_object(1, T1), partner="lab-a")
    # Another lab may not add a version (exchange-wide owners, by identity) ...
    refused = publish(store, make_object(1, T2), partner="lab-b")
    assert [f.id for f in refused.failures] == [one] and not refused.successes
    # ... but another account of the same lab may; each deletes only its own versions.
    store.add_partner("lab-a2", "Lab A's second account", IDENTITY_A)
    publish(store, make_object(1, T2), partner="lab-a2")
    everything_of_one = ObjectQuery(versions=("all",))

    by_b = store.delete_object(COLLECTION_ID, one, everything_of_one, "lab-a2")
    assert (by_b.deleted, by_b.not_owned) == (1, 1)
    assert summary(everything(store)) == [(one, T1)]  # lab-a's version is latest again

    by_b_again = store.delete_object(COLLECTION_ID, one, everything_of_one, "lab-a2")
    assert (by_b_again.deleted, by_b_again.not_owned) == (0, 1)
    nothing = store.delete_object(COLLECTION_ID, stix_id("indicator", 2), everything_of_one, None)
    assert (nothing.deleted, nothing.not_owned) == (0, 0)

    by_admin = store.delete_object(COLLECTION_ID, one, everything_of_one, None)
    assert (by_admin.deleted, by_admin.not_owned) == (1, 0)
    assert everything(store, everything_of_one) == []
    actions = [entry.action for entry in store.audit_entries(10)]
    assert actions.count("objects.delete") == 2


def test_delete_defaults_to_the_latest_version_and_recomputes_latest(store: Store) -> None:
    one = stix_id("indicator", 1)
    publish(store, make_object(1, T1), make_object(1, T2), make_object(1, T3))
    assert store.delete_object(COLLECTION_ID, one, ObjectQuery(), None).deleted == 1
    assert summary(everything(store)) == [(one, T2)]
    first = ObjectQuery(versions=("first",))
    assert store.delete_object(COLLECTION_ID, one, first, None).deleted == 1
    assert summary(everything(store, ObjectQuery(versions=("all",)))) == [(one, T2)]
    assert summary(everything(store)) == [(one, T2)]
    explicit = ObjectQuery(versions=(version_key(T2),))
    assert store.delete_object(COLLECTION_ID, one, explicit, None).deleted == 1
    assert everything(store, ObjectQuery(versions=("all",))) == []


def test_a_page_limit_below_one_is_refused(store: Store) -> None:
    with pytest.raises(ValueError, match="limit"):
        store.query_objects(COLLECTION_ID, ObjectQuery(limit=0))


def test_large_batches_are_stored_in_one_request(store: Store) -> None:
    batch = [make_object(n, T1) for n in range(3_000)]
    status = publish(store, *batch)
    assert len(status.successes) == 3_000
    again = publish(store, *batch[:1_500], *(make_object(n, T2) for n in range(1_500)))
    assert len(again.successes) == 3_000
    assert store.count_objects(COLLECTION_ID) == 4_500
    assert store.count_objects(COLLECTION_ID, latest_only=True) == 3_000
    latest = everything(store)
    assert len(latest) == 3_000
    assert sum(row.version == T2 for row in latest) == 1_500
    saved = store.get_status(API_ROOT, again.id, None)
    assert saved is not None and len(saved.successes) == 3_000

"""Status resources: private to their submitter, purged after the retention period."""

from __future__ import annotations

import pytest

from server.store import Store
from server.store.types import ApiRootInfo, CollectionInfo, StatusDetail
from tests.store.store_helpers import API_ROOT, COLLECTION_ID, IDENTITY_A, IDENTITY_B, make_object

HOUR_US = 3_600_000_000
T1 = "2021-01-01T00:00:00Z"


class Clock:
    """A clock the test moves by hand: retention is measured in days."""

    def __init__(self, start_us: int) -> None:
        self.now = start_us

    def __call__(self) -> int:
        return self.now


def test_a_status_is_visible_only_to_its_partner_and_the_admin(store: Store) -> None:
    store.add_partner("lab-a", "Lab A", IDENTITY_A)
    store.add_partner("lab-b", "Lab B", IDENTITY_B)
    rejected = [StatusDetail("indicator--x", T1, "refused")]
    status = store.add_objects(
        API_ROOT, COLLECTION_ID, "lab-a", [make_object(1, T1)], rejected, 1234
    )
    mine = store.get_status(API_ROOT, status.id, "lab-a")
    assert mine == status
    assert mine.partner_id == "lab-a" and mine.status == "complete"
    assert len(mine.successes) == 1 and len(mine.failures) == 1 and mine.pendings == []
    assert store.get_status(API_ROOT, status.id, None) == status
    assert store.get_status(API_ROOT, status.id, "lab-b") is None
    assert store.get_status("other-root", status.id, "lab-a") is None
    assert store.get_status(API_ROOT, "no-such-status", None) is None


def test_statuses_older_than_retention_are_purged_on_later_writes(store_url: str) -> None:
    day_one = 1_700_000_000_000_000
    clock = Clock(day_one)
    with Store(store_url, status_retention_hours=24, clock=clock) as store:
        store.migrate()
        store.add_api_root(ApiRootInfo(name=API_ROOT, title="Exchange"))
        store.add_collection(CollectionInfo(id=COLLECTION_ID, api_root=API_ROOT, title="Main"))
        old = store.add_objects(API_ROOT, COLLECTION_ID, None, [make_object(1, T1)], [], 0)

        clock.now = day_one + 23 * HOUR_US
        recent = store.add_objects(API_ROOT, COLLECTION_ID, None, [make_object(2, T1)], [], 0)
        assert store.get_status(API_ROOT, old.id, None) is not None  # kept at least 24 h

        clock.now = day_one + 25 * HOUR_US
        store.add_objects(API_ROOT, COLLECTION_ID, None, [make_object(3, T1)], [], 0)
        assert store.get_status(API_ROOT, old.id, None) is None
        assert store.get_status(API_ROOT, recent.id, None) is not None

        clock.now = day_one + 48 * HOUR_US
        assert store.purge_statuses() == 1
        assert store.get_status(API_ROOT, recent.id, None) is None
        # Objects are never purged with their statuses.
        assert store.count_objects(COLLECTION_ID) == 3


def test_retention_below_a_day_is_refused(store_url: str) -> None:
    with pytest.raises(ValueError, match="at least 24"):
        Store(store_url, status_retention_hours=23)

"""``Store.first_creators``: the creator the "only its creator versions it" rule compares with."""

from __future__ import annotations

import json

from server.store import Store
from server.store.timestamps import now_us
from server.store.types import IncomingObject
from tests.store.store_helpers import (
    API_ROOT,
    COLLECTION_ID,
    IDENTITY_A,
    IDENTITY_B,
    OTHER_COLLECTION_ID,
    stix_id,
)

EARLY = "2021-01-01T00:00:00Z"
LATE = "2021-01-02T00:00:00.5Z"


def version(number: int, modified: str, creator: object = None, **extra: object) -> IncomingObject:
    body: dict[str, object] = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": stix_id("indicator", number),
        "created": "2020-01-01T00:00:00Z",
        "modified": modified,
        **extra,
    }
    if creator is not None:
        body["created_by_ref"] = creator
    return IncomingObject(body["id"], "indicator", modified, "2.1", json.dumps(body))


def publish(store: Store, collection: str, *versions: IncomingObject) -> None:
    status = store.add_objects(API_ROOT, collection, None, list(versions), [], now_us())
    assert status.failure_count == 0


def test_the_earliest_version_names_the_creator_whatever_the_posting_order(store: Store) -> None:
    # The later version went in first, signed by another identity.
    publish(store, COLLECTION_ID, version(1, LATE, IDENTITY_B))
    publish(store, COLLECTION_ID, version(1, EARLY, IDENTITY_A))
    publish(store, COLLECTION_ID, version(2, EARLY), version(2, LATE, IDENTITY_B))
    publish(store, COLLECTION_ID, version(3, EARLY, 7))  # not a reference: no creator
    publish(store, OTHER_COLLECTION_ID, version(4, EARLY, IDENTITY_A))
    # Text that would trip a naive reader of the JSON: quotes, nesting, the key as a value.
    tricky = {"x_note": 'say "created_by_ref": "identity--x"', "x_deep": [[{"a": [1, {}]}]]}
    publish(store, COLLECTION_ID, version(5, EARLY, IDENTITY_B, **tricky))

    ids = [stix_id("indicator", number) for number in (1, 2, 3, 4, 5, 6)]
    assert store.first_creators(COLLECTION_ID, ids) == {
        ids[0]: IDENTITY_A,
        ids[1]: None,
        ids[2]: None,
        ids[4]: IDENTITY_B,
    }
    assert store.first_creators(OTHER_COLLECTION_ID, ids) == {ids[3]: IDENTITY_A}
    assert store.first_creators(COLLECTION_ID, []) == {}


def test_many_ids_many_versions(store: Store) -> None:
    """More ids than one SQLite IN list takes, with several versions each."""
    present = range(1, 701)
    for modified in (LATE, EARLY, "2021-01-03T00:00:00Z"):
        creator = IDENTITY_A if modified == EARLY else IDENTITY_B
        publish(store, COLLECTION_ID, *(version(n, modified, creator) for n in present))
    asked = [stix_id("indicator", number) for number in range(1, 1201)]
    found = store.first_creators(COLLECTION_ID, asked)
    assert found == {stix_id("indicator", number): IDENTITY_A for number in present}

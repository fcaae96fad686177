"""Every page is an index range scan in date_added order, never a sort of the collection.

The planners are asked directly (EXPLAIN). On PostgreSQL sequential scans,
bitmap scans and sorts are disabled for the EXPLAIN, so a plan without a Sort
node proves an index delivers the rows in page order; any plan that still
sorts would be one the index design cannot serve.
"""

from __future__ import annotations

import re

import pytest
from sqlalchemy import Select

from server.store import Store
from server.store.objects_read import page_select
from server.store.timestamps import now_us, version_key
from server.store.types import ObjectQuery, Position
from tests.store.store_helpers import COLLECTION_ID, make_object, stix_id

API_ROOT = "exchange"

ORDERED_BY_INDEX = {
    "latest (default)": (ObjectQuery(), "ix_objects_latest_added"),
    "latest after a cursor": (
        ObjectQuery(after=Position(1, 1), added_after_us=0),
        "ix_objects_latest_added",
    ),
    "every version": (ObjectQuery(versions=("all",)), "ix_objects_added"),
    "first versions": (ObjectQuery(versions=("first",)), "ix_objects_added"),
    "explicit version": (
        ObjectQuery(versions=(version_key("2021-01-02T00:00:00Z"),)),
        "ix_objects_added",
    ),
    "one type": (ObjectQuery(types=("malware",)), "ix_objects_type_added"),
    "explicit spec_version": (ObjectQuery(spec_versions=("2.1",)), "ix_objects_added"),
}


@pytest.fixture
def filled(store: Store) -> Store:
    objects = []
    for n in range(300):
        obj_type = "malware" if n % 10 == 0 else "indicator"
        objects.append(make_object(n, "2021-01-01T00:00:00Z", obj_type=obj_type))
        if n % 3 == 0:
            objects.append(make_object(n, "2021-01-02T00:00:00Z", obj_type=obj_type))
    store.add_objects(API_ROOT, COLLECTION_ID, None, objects, [], now_us())
    store.analyze()
    return store


def plan(store: Store, statement: Select) -> str:
    engine = store._engine
    sql = str(statement.compile(engine, compile_kwargs={"literal_binds": True}))
    with engine.connect() as connection, connection.begin():
        if store.dialect == "postgresql":
            for setting in ("enable_seqscan", "enable_bitmapscan", "enable_sort"):
                connection.exec_driver_sql(f"SET LOCAL {setting} = off")
            rows = connection.exec_driver_sql("EXPLAIN " + sql).all()
        else:
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql).all()
    return "\n".join(str(row[-1]) for row in rows)


# The index the outer table ("objects", not the "peer" alias of the subqueries) is read through.
_DRIVING_INDEX = re.compile(
    r"Index (?:Only )?Scan using (\w+) on objects\s+\("
    r"|SEARCH objects USING (?:COVERING )?INDEX (\w+)"
)


def driving_index(text: str) -> str | None:
    match = _DRIVING_INDEX.search(text)
    return (match.group(1) or match.group(2)) if match else None


@pytest.mark.parametrize("case", sorted(ORDERED_BY_INDEX))
def test_pages_are_read_in_index_order(filled: Store, case: str) -> None:
    query, index = ORDERED_BY_INDEX[case]
    for with_body in (True, False):
        text = plan(filled, page_select(COLLECTION_ID, query, with_body=with_body))
        assert driving_index(text) == index, text
        assert "Sort" not in text and "TEMP B-TREE" not in text, text
        assert "SCAN objects" not in text and "Seq Scan" not in text, text


def test_id_lookups_use_the_stix_id_index(filled: Store) -> None:
    by_id = ObjectQuery(ids=(stix_id("indicator", 3), stix_id("indicator", 4)))
    versions = page_select(
        COLLECTION_ID, ObjectQuery(), with_body=False, only_stix_id=stix_id("indicator", 3)
    )
    for statement in (page_select(COLLECTION_ID, by_id, with_body=True), versions):
        text = plan(filled, statement)
        assert driving_index(text) == "ux_objects_version", text
        assert "SCAN objects" not in text and "Seq Scan" not in text, text
        assert "ix_objects_added" not in text and "ix_objects_latest_added" not in text, text

"""``AnyOf`` finds exactly the listed values, whichever way PostgreSQL is sent them.

Strings are usually sent joined into one parameter and split again in the
database; values that would not split back (a comma, an empty string) must
take the plain array path and still match exactly.
"""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from server.store import Store
from server.store.schema import partners
from server.store.sql_helpers import AnyOf, joined_text_array

NAMES = ["lab-a", "lab,b", "lab-c"]


def test_joined_text_array_refuses_values_that_would_not_split_back() -> None:
    assert joined_text_array(["indicator--1", "malware--2"]) == "indicator--1,malware--2"
    assert joined_text_array(["a,b"]) is None
    assert joined_text_array([""]) is None
    assert joined_text_array([1, 2]) is None


@pytest.mark.parametrize(
    ("wanted", "expected"),
    [
        (["lab-a", "lab-c", "lab-z"], {"lab-a", "lab-c"}),  # the joined path
        (["lab,b", "lab-a"], {"lab,b", "lab-a"}),  # a comma: the array path
        (["", "lab-c"], {"lab-c"}),  # an empty string: the array path
    ],
)
def test_any_of_matches_exactly_the_listed_values(
    store: Store, wanted: list[str], expected: set[str]
) -> None:
    for number, name in enumerate(NAMES):
        store.add_partner(f"partner-{number}", name, f"identity--{uuid.UUID(int=number)}")
    with store._engine.connect() as connection:
        rows = connection.execute(select(partners.c.name).where(AnyOf(partners.c.name, wanted)))
        assert {row.name for row in rows} == expected

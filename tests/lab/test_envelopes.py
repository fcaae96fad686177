"""Envelope packing: every POST body fits the limit, nothing is lost or reordered."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exchange.publish import pack_envelopes, serialise
from exchange.publish.envelopes import ENVELOPE_OVERHEAD, Envelope


def _objects(sizes: list[int]) -> list[dict]:
    return [
        {
            "type": "x-test",
            "id": f"x-test--{index:08d}-0000-4000-8000-000000000000",
            "pad": "é" * size,
        }
        for index, size in enumerate(sizes)
    ]


@settings(max_examples=200, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 400), max_size=60),
    limit=st.integers(ENVELOPE_OVERHEAD + 60, 3000),
    max_objects=st.integers(1, 25),
)
def test_envelopes_fit_and_keep_every_object_in_order(
    sizes: list[int], limit: int, max_objects: int
) -> None:
    items = [serialise(obj) for obj in _objects(sizes)]
    envelopes, oversized = pack_envelopes(items, limit, max_objects)
    for envelope in envelopes:
        body = envelope.body()
        assert len(body) == envelope.size <= limit
        assert 1 <= len(envelope.objects) <= max_objects
        assert [o["id"] for o in orjson.loads(body)["objects"]] == [i.id for i in envelope.objects]
    packed = [item for envelope in envelopes for item in envelope.objects]
    too_big = [entry.item for entry in oversized]
    assert sorted(packed + too_big, key=items.index) == items
    assert [i for i in items if i not in too_big] == packed
    assert all(
        entry.size > limit and entry.size == ENVELOPE_OVERHEAD + len(entry.item.body)
        for entry in oversized
    )


def test_a_full_envelope_is_closed_before_the_object_that_would_overflow_it() -> None:
    items = [serialise(obj) for obj in _objects([100] * 5)]
    one = ENVELOPE_OVERHEAD + len(items[0].body)
    two = one + 1 + len(items[1].body)
    envelopes, _ = pack_envelopes(items, two, 100)
    assert [len(e.objects) for e in envelopes] == [2, 2, 1]
    envelopes, _ = pack_envelopes(items, two - 1, 100)
    assert [len(e.objects) for e in envelopes] == [1] * 5


def test_halves_split_an_envelope_for_a_413_retry() -> None:
    items = tuple(serialise(obj) for obj in _objects([10] * 5))
    first, second = Envelope(items).halves()
    assert first.objects + second.objects == items and len(first.objects) == 2


def test_versions_are_modified_then_created_then_none() -> None:
    assert serialise({"id": "a--1", "created": "c", "modified": "m"}).version == "m"
    assert serialise({"id": "a--1", "created": "c"}).version == "c"
    assert serialise({"id": "a--1"}).version == ""


def test_limits_that_cannot_hold_anything_are_refused() -> None:
    with pytest.raises(ValueError, match="cannot hold any object"):
        pack_envelopes([], ENVELOPE_OVERHEAD)
    with pytest.raises(ValueError, match="max_objects"):
        pack_envelopes([], 1000, 0)

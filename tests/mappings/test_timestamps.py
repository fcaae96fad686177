"""The one STIX timestamp parser (mappings.timestamps) and the forms built on it.

The server orders versions by ``stix_timestamp_key`` and ``date_added`` by
``stix_timestamp_us``; the lab side compares datetimes from
``parse_stix_timestamp``. All three must agree on every spelling of every
instant, or a version would be "newer" on one side and "older" on the other.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from mappings.timestamps import (
    MAX_FRACTION_DIGITS,
    parse_stix_timestamp,
    parse_time,
    stix_timestamp,
    stix_timestamp_key,
    stix_timestamp_us,
)

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _spellings(moment: datetime, rng: random.Random) -> list[str]:
    """Several STIX spellings of ``moment`` (whole microseconds): 0, 6 and 7 to 12 digits."""
    whole = moment.strftime("%Y-%m-%dT%H:%M:%S")
    micro = f"{moment.microsecond:06d}"
    spellings = [f"{whole}.{micro}Z", f"{whole}.{micro}{'0' * rng.randint(1, 6)}Z"]
    if moment.microsecond == 0:
        spellings += [f"{whole}Z", f"{whole}.0Z"]
    return spellings


def test_every_form_agrees_on_every_spelling_and_on_order() -> None:
    rng = random.Random(1234)
    start = datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC)
    moments = sorted(
        start + timedelta(microseconds=rng.randrange(0, 40 * 365 * 86_400 * 10**6))
        for _ in range(500)
    )
    moments += [moment.replace(microsecond=0) for moment in moments[:50]]
    keys, micros = [], []
    for moment in sorted(moments):
        expected_us = (moment - _EPOCH) // timedelta(microseconds=1)
        forms = {
            (parse_stix_timestamp(text), stix_timestamp_us(text), stix_timestamp_key(text))
            for text in _spellings(moment, rng)
        }
        assert len(forms) == 1, moment  # every spelling: one instant, in every form
        parsed, micro, key = forms.pop()
        assert parsed == moment and micro == expected_us
        assert parse_stix_timestamp(stix_timestamp(moment)) == moment  # writing round-trips
        keys.append(key)
        micros.append(micro)
    assert keys == sorted(keys) and micros == sorted(micros)  # text order is time order


def test_digits_past_the_microsecond_order_keys_but_not_datetimes() -> None:
    early, late = "2026-05-01T00:00:00.1234561Z", "2026-05-01T00:00:00.1234562Z"
    assert stix_timestamp_key(early) < stix_timestamp_key(late)
    assert parse_stix_timestamp(early) == parse_stix_timestamp(late)
    assert stix_timestamp_us(early) == stix_timestamp_us(late)


@pytest.mark.parametrize(
    "text",
    [
        "2026-05-01T00:00:00",  # no zone
        "2026-05-01T00:00:00+00:00",  # STIX wants Z
        "2026-05-01 00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-05-01T24:00:00Z",
        "2026-05-01T00:60:00Z",
        "2026-05-01T00:00:00.Z",
        "2026-05-01T00:00:00." + "1" * (MAX_FRACTION_DIGITS + 1) + "Z",
        "yesterday",
    ],
)
def test_anything_else_is_refused_by_every_form(text: str) -> None:
    for form in (parse_stix_timestamp, stix_timestamp_us, stix_timestamp_key):
        with pytest.raises(ValueError):
            form(text)


def test_parse_time_takes_iso_8601_with_a_zone_for_people() -> None:
    moment = datetime(2026, 5, 1, 12, tzinfo=UTC)
    for text in ("2026-05-01T12:00:00Z", "2026-05-01T14:00:00+02:00", "2026-05-01T12:00Z"):
        assert parse_time(text) == moment
        assert parse_time(text).tzinfo is UTC
    for bad in ("2026-05-01T12:00:00", "2026-05-01", "noon", 12):
        with pytest.raises(ValueError):
            parse_time(bad)


def test_the_server_store_uses_the_same_parser() -> None:
    from server.store import timestamps as store

    assert store.version_key is stix_timestamp_key
    assert store.stix_timestamp_us is stix_timestamp_us
    assert not hasattr(store, "parse_stix_timestamp")

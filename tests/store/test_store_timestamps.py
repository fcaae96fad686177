"""STIX timestamp parsing, version keys and date_added formatting."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.store.timestamps import (
    datetime_from_us,
    format_timestamp_us,
    stix_timestamp_us,
    version_key,
    version_key_from_us,
)

EPOCH_2016 = 1_451_606_400_000_000  # 2016-01-01T00:00:00Z in microseconds


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2016-01-01T00:00:00Z", EPOCH_2016),
        ("2016-01-01T00:00:00.1Z", EPOCH_2016 + 100_000),
        ("2016-01-01T00:00:00.12Z", EPOCH_2016 + 120_000),
        ("2016-01-01T00:00:00.123Z", EPOCH_2016 + 123_000),
        ("2016-01-01T00:00:00.123456Z", EPOCH_2016 + 123_456),
        ("2016-01-01T00:00:00.1234567Z", EPOCH_2016 + 123_456),
        ("2016-01-01T00:00:00.123456789Z", EPOCH_2016 + 123_456),
        ("2016-01-01T00:00:00.1234567890Z", EPOCH_2016 + 123_456),  # STIX sets no limit
        ("2016-01-01T00:00:00.999999999999Z", EPOCH_2016 + 999_999),  # truncated, not rounded
        ("2016-01-01T00:00:00." + "7" * 40 + "Z", EPOCH_2016 + 777_777),
        ("1970-01-01T00:00:00Z", 0),
        ("1969-12-31T23:59:59.999999Z", -1),
        ("2016-02-29T23:59:59Z", EPOCH_2016 + (59 * 86_400 + 86_399) * 1_000_000),
    ],
)
def test_every_stix_form_parses_to_microseconds(text: str, expected: int) -> None:
    assert stix_timestamp_us(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "2016-01-01T00:00:00",  # no Z
        "2016-01-01T00:00:00+00:00",  # offset instead of Z
        "2016-01-01 00:00:00Z",  # space
        "2016-01-01t00:00:00z",  # lower case
        "2016-01-01T00:00:00.Z",  # empty fraction
        "2016-01-01T00:00:00." + "1" * 41 + "Z",  # past MAX_FRACTION_DIGITS (the column)
        "2016-1-01T00:00:00Z",
        "2016-13-01T00:00:00Z",
        "2015-02-29T00:00:00Z",
        "2016-01-01T24:00:00Z",
        "2016-01-01T00:60:00Z",
        "2016-01-01T00:00:60Z",
        "0000-01-01T00:00:00Z",
        "",
        " 2016-01-01T00:00:00Z",
        "2016-01-01T00:00:00Z\n",
        "\uff12016-01-01T00:00:00Z",  # a non-ASCII (full-width) digit
    ],
)
def test_anything_else_is_rejected_with_the_value_named(text: str) -> None:
    with pytest.raises(ValueError, match="not a STIX timestamp") as raised:
        stix_timestamp_us(text)
    assert repr(text) in str(raised.value)
    with pytest.raises(ValueError):
        version_key(text)


def test_non_strings_are_rejected() -> None:
    with pytest.raises(ValueError):
        stix_timestamp_us(1451606400)  # type: ignore[arg-type]


def test_version_key_is_fixed_width_and_identifies_the_instant() -> None:
    spellings = ["2016-01-01T00:00:00Z", "2016-01-01T00:00:00.0Z", "2016-01-01T00:00:00.000000000Z"]
    keys = {version_key(text) for text in spellings}
    assert keys == {"2016-01-01T00:00:00.000000000Z"}
    assert version_key("2016-01-01T00:00:00.123456789Z") == "2016-01-01T00:00:00.123456789Z"
    assert version_key("2016-01-01T00:00:00.5Z") == "2016-01-01T00:00:00.500000000Z"


def test_digits_past_the_ninth_are_kept_out_of_the_version_key() -> None:
    """Ten or more digits are accepted; the key keeps nine, so ordering is to the nanosecond."""
    assert version_key("2016-01-01T00:00:00.1234567890Z") == "2016-01-01T00:00:00.123456789Z"
    assert version_key("2016-01-01T00:00:00.1234567899999Z") == "2016-01-01T00:00:00.123456789Z"
    assert version_key("2016-01-01T00:00:00.0000000001Z") == "2016-01-01T00:00:00.000000000Z"
    assert version_key("2016-01-01T00:00:00.5" + "0" * 39 + "Z") == version_key(
        "2016-01-01T00:00:00.5Z"
    )


def test_version_keys_sort_like_the_instants_they_name() -> None:
    texts = [
        "2016-01-01T00:00:00.5Z",
        "2016-01-01T00:00:00Z",
        "2016-01-01T00:00:00.05Z",
        "2016-01-01T00:00:00.000000001Z",
        "2015-12-31T23:59:59.999999999Z",
        "2016-01-01T00:00:01Z",
    ]
    # Plain string order is wrong for these spellings; key order must be right.
    assert sorted(texts) != sorted(texts, key=version_key)
    by_key = sorted(texts, key=version_key)
    assert by_key == [
        "2015-12-31T23:59:59.999999999Z",
        "2016-01-01T00:00:00Z",
        "2016-01-01T00:00:00.000000001Z",
        "2016-01-01T00:00:00.05Z",
        "2016-01-01T00:00:00.5Z",
        "2016-01-01T00:00:01Z",
    ]


def test_format_timestamp_us_prints_six_digits() -> None:
    assert format_timestamp_us(EPOCH_2016) == "2016-01-01T00:00:00.000000Z"
    assert format_timestamp_us(EPOCH_2016 + 7) == "2016-01-01T00:00:00.000007Z"
    assert format_timestamp_us(-1) == "1969-12-31T23:59:59.999999Z"
    assert version_key_from_us(EPOCH_2016 + 7) == "2016-01-01T00:00:00.000007000Z"
    assert datetime_from_us(EPOCH_2016) == datetime(2016, 1, 1, tzinfo=UTC)


MIN_US = stix_timestamp_us("0001-01-01T00:00:00Z")
MAX_US = stix_timestamp_us("9999-12-31T23:59:59.999999Z")


@given(st.integers(min_value=MIN_US, max_value=MAX_US))
def test_format_and_parse_round_trip(microseconds: int) -> None:
    text = format_timestamp_us(microseconds)
    assert stix_timestamp_us(text) == microseconds
    as_datetime = datetime_from_us(microseconds).isoformat(timespec="microseconds")
    assert as_datetime.replace("+00:00", "Z") == text


@given(
    st.integers(min_value=MIN_US, max_value=MAX_US),
    st.integers(min_value=MIN_US, max_value=MAX_US),
)
def test_key_order_agrees_with_time_order(first: int, second: int) -> None:
    first_key = version_key(format_timestamp_us(first))
    second_key = version_key(format_timestamp_us(second))
    assert (first_key < second_key) == (first < second)

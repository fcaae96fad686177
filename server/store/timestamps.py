"""STIX timestamps as the store keeps them: integers and fixed-width strings.

Parsing is ``mappings.timestamps`` (the project's one STIX timestamp parser);
this module holds only the store's encodings of its results. Because one
instant has many spellings, the store keeps two normalised forms:
microseconds since the epoch for ``date_added`` (an integer column both
databases index and compare exactly) and a fixed-width nanosecond-precision
string for object versions (so versions that differ below a microsecond stay
distinct and order correctly). The HTTP layer uses the same helpers to parse
filter values and to print ``date_added``.

Digits past the ninth are accepted but take no part in ordering; the object's
own text keeps them. The fraction is bounded (``MAX_FRACTION_DIGITS``) so that
every accepted timestamp fits the store's 64-character version column.
"""

from __future__ import annotations

import time
from datetime import UTC, date, datetime, timedelta

from mappings.timestamps import MAX_FRACTION_DIGITS, stix_timestamp_key, stix_timestamp_us

__all__ = [
    "MAX_FRACTION_DIGITS",
    "datetime_from_us",
    "format_timestamp_us",
    "now_us",
    "stix_timestamp_us",
    "version_key",
    "version_key_from_us",
]

_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_US_PER_DAY = 86_400_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

version_key = stix_timestamp_key
"""The fixed-width key ``YYYY-MM-DDTHH:MM:SS.fffffffffZ`` of an object version.

Every spelling of one instant maps to the same key, and keys compare (as plain
byte strings) in time order, which is what the unique constraint and the
first/last version filters rely on."""


def version_key_from_us(microseconds: int) -> str:
    """The version key of an instant given in microseconds (for objects without a version)."""
    return format_timestamp_us(microseconds)[:-1] + "000Z"


def format_timestamp_us(microseconds: int) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` for microseconds since the epoch (TAXII ``date_added``)."""
    days, rest = divmod(microseconds, _US_PER_DAY)
    day = date.fromordinal(_EPOCH_ORDINAL + days)
    seconds, micros = divmod(rest, 1_000_000)
    hours, seconds = divmod(seconds, 3_600)
    minutes, seconds = divmod(seconds, 60)
    return f"{day.isoformat()}T{hours:02d}:{minutes:02d}:{seconds:02d}.{micros:06d}Z"


def datetime_from_us(microseconds: int) -> datetime:
    """An aware UTC datetime for microseconds since the epoch."""
    return _EPOCH + timedelta(microseconds=microseconds)


def now_us() -> int:
    """The current time in microseconds since the epoch."""
    return time.time_ns() // 1_000

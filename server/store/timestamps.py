"""STIX timestamps as integers and fixed-width strings.

STIX allows a timestamp with no fraction or with any number of fractional digits,
so the same instant has many spellings and plain string comparison orders them
wrongly ("...00Z" sorts after "...00.5Z"). The store therefore keeps two
normalised forms: microseconds since the epoch for ``date_added`` (an integer
column both databases index and compare exactly) and a fixed-width
nanosecond-precision string for object versions (so versions that differ below
a microsecond stay distinct and order correctly). The HTTP layer uses the same
helpers to parse filter values and to print ``date_added``.

Digits past the ninth are accepted but take no part in ordering; the object's
own text keeps them. The fraction is bounded (MAX_FRACTION_DIGITS) so that every
accepted timestamp fits the store's 64-character version column and the parse
cache stays small.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

_STIX_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?Z",
    re.ASCII,
)
MAX_FRACTION_DIGITS = 40  # far past any clock: "YYYY-MM-DDTHH:MM:SS." + 40 + "Z" is 61 chars
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_US_PER_DAY = 86_400_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A POST of 10,000 objects parses 20,000 to 30,000 timestamps, most of them
# repeated (created == modified, whole batches made in the same second);
# remembering recent ones halves the time of a POST's checks. Errors are not
# cached. Small on purpose: at 65,536 entries the two caches held about 50 MB
# per worker at a million objects; repeats are close together anyway.
_CACHE_SIZE = 1 << 12


@lru_cache(maxsize=_CACHE_SIZE)
def _split(value: str) -> tuple[int, str]:
    """Return (epoch seconds, 9-digit fraction) of a STIX timestamp.

    Raises ValueError naming the value when it is not a STIX timestamp or names
    an impossible date or time (month 13, 25 o'clock, 30 February, ...).
    """
    if not isinstance(value, str):
        raise ValueError(f"not a STIX timestamp (expected a string): {value!r}")
    match = _STIX_TIMESTAMP.fullmatch(value)
    if match is None:
        raise ValueError(
            f"not a STIX timestamp (expected YYYY-MM-DDTHH:MM:SS[.s{{1,40}}]Z): {value!r}"
        )
    digits = match.group(7) or ""
    if len(digits) > MAX_FRACTION_DIGITS:
        raise ValueError(
            f"not a STIX timestamp (over {MAX_FRACTION_DIGITS} fractional digits): {value!r}"
        )
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    try:
        ordinal = date(year, month, day).toordinal()
    except ValueError:
        raise ValueError(f"not a STIX timestamp (no such date): {value!r}") from None
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"not a STIX timestamp (no such time of day): {value!r}")
    seconds = (ordinal - _EPOCH_ORDINAL) * 86_400 + hour * 3_600 + minute * 60 + second
    fraction = digits[:9].ljust(9, "0")
    return seconds, fraction


def parse_stix_timestamp(value: str) -> int:
    """Microseconds since the epoch of a STIX timestamp; digits past the sixth are dropped.

    Accepts exactly the STIX forms: ``2016-01-01T00:00:00Z`` and the same with
    one to MAX_FRACTION_DIGITS fractional digits. Anything else raises ValueError.
    """
    seconds, fraction = _split(value)
    return seconds * 1_000_000 + int(fraction[:6])


@lru_cache(maxsize=_CACHE_SIZE)
def version_key(value: str) -> str:
    """The fixed-width form ``YYYY-MM-DDTHH:MM:SS.fffffffffZ`` of a STIX timestamp.

    Every spelling of one instant maps to the same key, and keys compare (as
    plain byte strings) in time order, which is what the unique constraint and
    the first/last version filters rely on. Digits past the ninth are dropped, so
    versions that differ only there are one version to the store.
    """
    _split(value)
    head, _, rest = value[:-1].partition(".")
    return f"{head}.{rest[:9].ljust(9, '0')}Z"


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

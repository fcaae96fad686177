"""STIX timestamps: the one place they are parsed and formatted.

STIX writes instants as ``YYYY-MM-DDTHH:MM:SS[.fraction]Z`` with any number of
fractional digits, so one instant has many spellings and plain text compares
them wrongly (``...:00Z`` sorts after ``...:00.5Z``). Every package reads them
here (``mappings`` imports nothing of the project, so ``server`` and
``exchange`` may both use it) and picks the form its job needs:

- ``parse_stix_timestamp``: an aware UTC datetime (microseconds; digits past
  the sixth are dropped), for comparisons and expiry decisions;
- ``stix_timestamp_us``: microseconds since the epoch, for integer columns;
- ``stix_timestamp_key``: a fixed-width nine-digit form whose plain string
  order is time order, for version keys (versions differing below a
  microsecond stay distinct);
- ``parse_time``: what a person types on a command line or a pipeline writes
  in a ``seen_at`` column: a STIX timestamp or any ISO 8601 time with a zone.

Only the STIX forms are accepted by the first three, with at most
``MAX_FRACTION_DIGITS`` fractional digits (so every accepted value fits a
64-character column) and only real dates and times of day.

Writing: records carry microseconds; ``stix_timestamp`` writes three digits
when they are a whole number of milliseconds and six otherwise, which keeps
output short for the common case and loses nothing in the rare one.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache

MAX_FRACTION_DIGITS = 40
"""Far past any clock: ``YYYY-MM-DDTHH:MM:SS.`` + 40 digits + ``Z`` is 61 characters."""

_STIX_TIMESTAMP = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?Z",
    re.ASCII,
)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# A POST of 10,000 objects parses 20,000 to 30,000 timestamps, most of them
# repeated (created == modified, whole batches made in the same second);
# remembering recent ones halves the time of the server's checks. Errors are
# not cached. Small on purpose: repeats are close together.
_CACHE_SIZE = 1 << 12


@lru_cache(maxsize=_CACHE_SIZE)
def split_stix_timestamp(value: str) -> tuple[int, str]:
    """``(seconds since the epoch, nine-digit fraction)`` of a STIX timestamp.

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
    try:
        midnight = _midnight(value[:10])
    except ValueError:
        raise ValueError(f"not a STIX timestamp (no such date): {value!r}") from None
    # The pattern fixed every field's place: YYYY-MM-DDTHH:MM:SS.
    hour, minute, second = int(value[11:13]), int(value[14:16]), int(value[17:19])
    if hour > 23 or minute > 59 or second > 59:
        raise ValueError(f"not a STIX timestamp (no such time of day): {value!r}")
    return midnight + hour * 3_600 + minute * 60 + second, digits[:9].ljust(9, "0")


@lru_cache(maxsize=1024)
def _midnight(day: str) -> int:
    """Seconds since the epoch at the start of ``YYYY-MM-DD`` (ValueError: no such date).

    Cached apart from the whole timestamp: a batch's timestamps are mostly
    distinct, but fall on a few days.
    """
    return (date(int(day[:4]), int(day[5:7]), int(day[8:10])).toordinal() - _EPOCH_ORDINAL) * 86_400


def stix_timestamp_us(value: str) -> int:
    """Microseconds since the epoch of a STIX timestamp; digits past the sixth are dropped."""
    seconds, fraction = split_stix_timestamp(value)
    return seconds * 1_000_000 + int(fraction[:6])


def parse_stix_timestamp(value: str) -> datetime:
    """An aware UTC datetime of a STIX timestamp (microsecond precision)."""
    return _EPOCH + timedelta(microseconds=stix_timestamp_us(value))


@lru_cache(maxsize=_CACHE_SIZE)
def stix_timestamp_key(value: str) -> str:
    """``YYYY-MM-DDTHH:MM:SS.fffffffffZ``: every spelling of an instant maps to one string.

    Keys of different instants compare, as plain strings, in time order. Digits
    past the ninth are dropped, so instants that differ only there are one.
    """
    split_stix_timestamp(value)
    head, _, rest = value[:-1].partition(".")
    return f"{head}.{rest[:9].ljust(9, '0')}Z"


def parse_time(text: object) -> datetime:
    """A STIX timestamp or an ISO 8601 time with a zone, as an aware UTC datetime.

    For times people type (command-line options) and pipelines write
    (``seen_at``): ``2026-05-01T12:00:00Z``, ``2026-05-01T14:00:00+02:00``.
    A time without a zone is refused: guessing the zone would shift it silently.
    """
    if not isinstance(text, str):
        raise ValueError("must be a timestamp string such as 2026-05-01T12:00:00Z")
    try:
        return parse_stix_timestamp(text)
    except ValueError:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(f"{text!r} is not a timestamp such as 2026-05-01T12:00:00Z") from None
    if parsed.tzinfo is None:
        raise ValueError(f"{text!r} needs a time zone, e.g. 2026-05-01T12:00:00Z")
    return parsed.astimezone(UTC)


@lru_cache(maxsize=8192)
def stix_timestamp(value: datetime) -> str:
    """Format an aware datetime as a STIX timestamp (UTC, ``Z``, ms or us precision).

    Cached: a batch formats the same few times (first_seen, updated, last_seen of
    records from one pipeline run) once per object, hundreds of thousands of
    times. Equal datetimes in different zones are equal keys, and give the same
    text: it is UTC.
    """
    if value.tzinfo is not UTC:
        if value.tzinfo is None:
            raise ValueError("a STIX timestamp needs an aware datetime")
        value = value.astimezone(UTC)
    # isoformat is C code and much faster than strftime; drop its "+00:00" for "Z".
    precision = "milliseconds" if value.microsecond % 1000 == 0 else "microseconds"
    return value.isoformat(timespec=precision)[:-6] + "Z"


def object_version(obj: dict) -> str | None:
    """The TAXII version of an object: ``modified``, else ``created``, else None."""
    for name in ("modified", "created"):
        value = obj.get(name)
        if isinstance(value, str):
            return value
    return None

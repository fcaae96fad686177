"""STIX timestamps that round-trip a record's times exactly.

STIX requires UTC with a ``Z`` and at least millisecond precision on
``created``/``modified``; records carry microseconds. Writing three digits
when the microseconds are a whole number of milliseconds and six otherwise
keeps output short for the common case and loses nothing in the rare one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import lru_cache

_EPOCH_FORMAT = "%Y-%m-%dT%H:%M:%S"


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


def parse_stix_timestamp(text: str) -> datetime:
    """Parse a STIX timestamp (any sub-second precision up to microseconds) to aware UTC."""
    if not isinstance(text, str) or not text.endswith("Z"):
        raise ValueError(f"{text!r} is not a STIX timestamp (UTC with a trailing Z)")
    body = text[:-1]
    if "." in body:
        whole, fraction = body.split(".", 1)
        if not fraction.isdigit() or len(fraction) > 6:
            raise ValueError(f"{text!r}: sub-second part must be 1 to 6 digits")
        micro = int(fraction.ljust(6, "0"))
    else:
        whole, micro = body, 0
    parsed = datetime.strptime(whole, _EPOCH_FORMAT).replace(tzinfo=UTC)
    return parsed.replace(microsecond=micro)

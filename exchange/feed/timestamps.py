"""STIX timestamps compared correctly whatever their spelling.

STIX allows any number of fractional digits, so ``...:00Z`` and ``...:00.000Z``
are the same instant but compare wrongly as text. The feed store orders
versions and cursors by a fixed-width key instead, and the artifact builder
needs real datetimes to decide whether an indicator has expired. Keys keep
nine digits, as the server's store does, so a version the server accepts with
more digits is stored and ordered here the same way.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

_STIX_TIMESTAMP = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d+))?Z", re.ASCII)


def timestamp_key(value: str) -> str:
    """``YYYY-MM-DDTHH:MM:SS.fffffffffZ``: every spelling of an instant maps to one string.

    Keys of different instants compare, as plain strings, in time order.
    Raises ValueError for anything that is not a STIX timestamp.
    """
    match = _STIX_TIMESTAMP.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"not a STIX timestamp: {value!r}")
    return f"{match.group(1)}.{(match.group(2) or '')[:9].ljust(9, '0')}Z"


def parse_timestamp(value: str) -> datetime:
    """A timezone-aware datetime (microsecond precision) of a STIX timestamp."""
    key = timestamp_key(value)
    return datetime.strptime(key[:26], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)


def format_timestamp(moment: datetime) -> str:
    """A STIX timestamp with millisecond precision, the form most tools emit."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def object_version(obj: dict) -> str | None:
    """The TAXII version of an object: ``modified``, else ``created``, else None."""
    for name in ("modified", "created"):
        value = obj.get(name)
        if isinstance(value, str):
            return value
    return None

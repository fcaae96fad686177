"""A record as parsed from a file, before validation, with where it came from.

Every reader produces the same thing, a plain dict plus its file and line, so
validation and error reporting are written once for all formats.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class RawRecord:
    """``data`` is the record's fields as nested JSON-like values.

    ``line`` is the 1-based line where the record starts in ``file``. Readers
    pass on whatever value they found (validation says "expected a record
    object, got a number"), so every record-level error is reported in one
    place and in input order.
    """

    file: str
    line: int
    data: Any

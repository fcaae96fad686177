"""Which reader handles an input file: by ``--format`` or by the file's extension.

The extension is a convention, not a guarantee, so ``--format`` always wins;
an unknown extension is an error rather than a guess, because parsing a CSV
as JSON would only produce a confusing message about line 1.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import PurePath


class InputFormat(StrEnum):
    JSON = "json"
    JSONL = "jsonl"
    CSV = "csv"


_BY_SUFFIX: dict[str, InputFormat] = {
    ".json": InputFormat.JSON,
    ".jsonl": InputFormat.JSONL,
    ".ndjson": InputFormat.JSONL,
    ".csv": InputFormat.CSV,
}

FORMAT_NAMES: tuple[str, ...] = tuple(f.value for f in InputFormat)


def format_for(path: str | PurePath, explicit: InputFormat | str | None = None) -> InputFormat:
    """The format to read ``path`` with; ValueError (one line) when it cannot be told."""
    if explicit is not None:
        return InputFormat(explicit)
    suffix = PurePath(path).suffix.lower()
    try:
        return _BY_SUFFIX[suffix]
    except KeyError:
        known = ", ".join(sorted(_BY_SUFFIX))
        raise ValueError(
            f"cannot tell the format from the extension {suffix or '(none)'!r} "
            f"(known: {known}); pass --format {'|'.join(FORMAT_NAMES)}"
        ) from None

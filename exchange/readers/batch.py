"""Reading a whole batch of input files into validated records, all or nothing.

A batch is everything one command run publishes. Every record of every file
is read and validated before the caller gets anything, and any error means
the caller gets nothing but the errors: a batch is never published half-way.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from exchange.errors import DEFAULT_MAX_ERRORS, ErrorCollector, InputError
from exchange.readers.csv_source import parse_csv
from exchange.readers.formats import InputFormat, format_for
from exchange.readers.json_source import parse_json
from exchange.readers.jsonl_source import parse_jsonl
from exchange.readers.raw import RawRecord
from exchange.readers.text import UnreadableInput, display_name, read_text
from exchange.readers.validation import Record, validate_raw
from mappings.convert import collector_paused
from mappings.record_kinds import kind_of, record_key


@dataclass(frozen=True, slots=True)
class LocatedRecord:
    """A validated record and where it was read, for later checks that report lines."""

    record: Record
    file: str
    line: int


Progress = Callable[[int], None]
"""Called with the number of records just validated (e.g. ``tqdm.update``)."""


def _parse(
    text: str, name: str, fmt: InputFormat, errors: ErrorCollector, kind: str | None
) -> list[RawRecord]:
    if fmt is InputFormat.JSON:
        return parse_json(text, name, errors)
    if fmt is InputFormat.JSONL:
        return parse_jsonl(text, name, errors)
    return parse_csv(text, name, errors, kind)


def read_file_raw(
    path: str | Path,
    errors: ErrorCollector,
    *,
    input_format: InputFormat | str | None = None,
    kind: str | None = None,
) -> list[RawRecord]:
    """The unvalidated records of one file; its problems go to ``errors``."""
    name = display_name(path)
    try:
        fmt = format_for(path, input_format)
    except ValueError as exc:
        errors.add(InputError(name, None, None, str(exc)))
        return []
    try:
        text = read_text(path)
    except UnreadableInput as exc:
        errors.add(exc.error)
        return []
    return _parse(text, name, fmt, errors, kind)


def read_detections(
    paths: Sequence[str | Path],
    *,
    input_format: InputFormat | str | None = None,
    kind: str | None = None,
    max_errors: int = DEFAULT_MAX_ERRORS,
    progress: Progress | None = None,
) -> list[LocatedRecord]:
    """Every record of every file, validated, in input order.

    Raises ``InputErrors`` (up to ``max_errors`` one-line errors, sorted by
    file then line) when any file or record is bad, including the same record
    (kind and key) given twice in the batch: one run publishes one version of
    each record.
    """
    # Reading builds millions of small containers that all stay alive and hold no
    # cycles; with the collector running it re-scanned them (half the reading time).
    with collector_paused():
        return list(
            iter_detections(
                paths,
                input_format=input_format,
                kind=kind,
                max_errors=max_errors,
                progress=progress,
            )
        )


def iter_detections(
    paths: Sequence[str | Path],
    *,
    input_format: InputFormat | str | None = None,
    kind: str | None = None,
    max_errors: int = DEFAULT_MAX_ERRORS,
    progress: Progress | None = None,
) -> Iterator[LocatedRecord]:
    """``read_detections`` one record at a time, so a caller can convert each record
    while it is fresh rather than hold the whole batch's records.

    All or nothing still holds, but it is the caller's part: when any file or
    record is bad the iterator raises ``InputErrors`` at its end (after every
    error was collected), and everything it yielded must be thrown away. Once
    an error is found no more records are yielded (they would only be thrown
    away), but the rest is still read so that every error is reported.

    Pause the garbage collector around the loop (``collector_paused``) for speed: it
    is not paused here, because a caller that stopped iterating would leave it
    paused for as long as it kept the iterator.
    """
    errors = ErrorCollector(max_errors)
    first_at: dict[tuple[str, str], tuple[str, int]] = {}
    for path in paths:
        if errors.full:
            errors.truncated = True
            break
        file_errors = ErrorCollector(max_errors)
        raws = read_file_raw(path, file_errors, input_format=input_format, kind=kind)
        count = len(raws)
        raws.reverse()  # popped from the end, so each raw record is freed once validated
        while raws:
            raw = raws.pop()
            result = validate_raw(raw, kind)
            if isinstance(result, list):
                file_errors.extend(result)
            else:
                item = LocatedRecord(result, raw.file, raw.line)
                if _first_of_its_key(item, first_at, file_errors) and not (
                    errors.errors or file_errors.errors
                ):
                    yield item
            if file_errors.full:
                file_errors.truncated = True
                break
        errors.extend(sorted(file_errors.errors, key=lambda e: e.line or 0))
        errors.truncated = errors.truncated or file_errors.truncated
        if progress is not None:
            progress(count)
    errors.raise_if_any()


def _first_of_its_key(
    item: LocatedRecord,
    first_at: dict[tuple[str, str], tuple[str, int]],
    errors: ErrorCollector,
) -> bool:
    """Whether ``item`` is the first record of its kind and key; if not, says so in ``errors``."""
    record = item.record
    identity = (record.kind, record_key(record))
    where = (item.file, item.line)
    earlier = first_at.setdefault(identity, where)
    if earlier is where:
        return True
    errors.add(
        InputError(
            item.file,
            item.line,
            kind_of(record).key_field,
            f"{record.kind} {identity[1]!r} appears twice in this batch "
            f"(first at {earlier[0]}:{earlier[1]})",
        )
    )
    return False


def read_records(
    paths: Sequence[str | Path],
    *,
    input_format: InputFormat | str | None = None,
    kind: str | None = None,
    max_errors: int = DEFAULT_MAX_ERRORS,
) -> list[Record]:
    """Like ``read_detections``, without the locations."""
    return [
        item.record
        for item in read_detections(
            paths, input_format=input_format, kind=kind, max_errors=max_errors
        )
    ]

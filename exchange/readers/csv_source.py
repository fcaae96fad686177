"""CSV input: one record kind per file, one record per row (see ``csv_layout``).

Line numbers are physical lines, so a row whose quoted cell spans several
lines is reported at the line where the row starts: the place a user's
editor should jump to.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from exchange.errors import ErrorCollector, InputError
from exchange.readers.csv_layout import KIND_COLUMN, LAYOUTS, CellError, CsvLayout
from exchange.readers.raw import RawRecord

KIND_NAMES = ", ".join(LAYOUTS)


class MalformedCsv(Exception):
    """Bad CSV quoting; ``line`` is where the broken row starts."""

    def __init__(self, line: int, message: str) -> None:
        self.line = line
        super().__init__(message)


def csv_rows(text: str) -> Iterator[tuple[int, list[str]]]:
    """(start line, cells) of each non-blank row; bad quoting raises MalformedCsv."""
    return csv_rows_from(io.StringIO(text, newline=""))


def csv_rows_from(lines: Iterable[str]) -> Iterator[tuple[int, list[str]]]:
    """``csv_rows`` of a stream of lines, each with its line end (read as it goes)."""
    reader = csv.reader(lines, strict=True)
    next_start = 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise MalformedCsv(next_start, str(exc)) from None
        start, next_start = next_start, reader.line_num + 1
        if any(cell.strip() for cell in cells):
            yield start, cells


def parse_csv(
    text: str, name: str, errors: ErrorCollector, kind: str | None = None
) -> list[RawRecord]:
    """The raw records of a CSV document; problems go to ``errors``.

    ``kind`` (from ``--kind``) applies to every row; without it the file needs
    a ``kind`` column, and every row must name the same kind.
    """
    rows = csv_rows(text)
    try:
        header_line, header = next(rows)
    except StopIteration:
        errors.add(InputError(name, 1, None, "empty file: expected a header row"))
        return []
    except MalformedCsv as exc:
        errors.add(InputError(name, exc.line, None, f"malformed CSV: {exc}"))
        return []
    header = [cell.strip() for cell in header]
    if not _header_is_sane(name, header_line, header, errors):
        return []
    if kind is None and KIND_COLUMN not in header:
        errors.add(
            InputError(name, header_line, KIND_COLUMN, "no kind column: add one or pass --kind")
        )
        return []
    layout: CsvLayout | None = None
    if kind is not None:
        layout = LAYOUTS[kind]
        if not _header_fits(name, header_line, header, layout, errors):
            return []

    records: list[RawRecord] = []
    try:
        for line, cells in rows:
            if errors.full:
                errors.truncated = True
                break
            if len(cells) != len(header):
                errors.add(
                    InputError(
                        name,
                        line,
                        None,
                        f"row has {len(cells)} cells but the header has {len(header)} columns",
                    )
                )
                continue
            by_column = dict(zip(header, cells, strict=True))
            row_kind = _row_kind(name, line, by_column.pop(KIND_COLUMN, None), kind, errors)
            if row_kind is None:
                continue
            if layout is None:
                layout = LAYOUTS[row_kind]
                if not _header_fits(name, header_line, header, layout, errors):
                    return []
            elif row_kind != layout.kind:
                errors.add(
                    InputError(
                        name,
                        line,
                        KIND_COLUMN,
                        f"{row_kind!r} in a file of {layout.kind!r} records "
                        "(a CSV file holds one kind of record)",
                    )
                )
                continue
            try:
                data = layout.decode_row(by_column)
            except CellError as exc:
                errors.add(InputError(name, line, exc.field, str(exc)))
                continue
            data[KIND_COLUMN] = layout.kind
            records.append(RawRecord(name, line, data))
    except MalformedCsv as exc:
        errors.add(InputError(name, exc.line, None, f"malformed CSV: {exc}"))
    return records


def _header_is_sane(name: str, line: int, header: list[str], errors: ErrorCollector) -> bool:
    seen: set[str] = set()
    sane = True
    for position, column in enumerate(header, start=1):
        if not column:
            errors.add(InputError(name, line, None, f"column {position} has no name"))
            sane = False
        elif column in seen:
            errors.add(InputError(name, line, column, "column appears twice in the header"))
            sane = False
        seen.add(column)
    return sane


def _header_fits(
    name: str, line: int, header: list[str], layout: CsvLayout, errors: ErrorCollector
) -> bool:
    known = layout.by_name
    fits = True
    for column in header:
        if column != KIND_COLUMN and column not in known:
            errors.add(InputError(name, line, column, f"unknown column for {layout.kind} records"))
            fits = False
    present = set(header)
    for column in layout.required_names:
        if column not in present:
            errors.add(InputError(name, line, column, "required column missing from the header"))
            fits = False
    return fits


def _row_kind(
    name: str, line: int, cell: str | None, option: str | None, errors: ErrorCollector
) -> str | None:
    value = (cell or "").strip()
    if not value:
        if option is not None:
            return option
        errors.add(InputError(name, line, KIND_COLUMN, "empty: say which record this is"))
        return None
    if value not in LAYOUTS:
        errors.add(InputError(name, line, KIND_COLUMN, f"{value!r} is not one of {KIND_NAMES}"))
        return None
    if option is not None and value != option:
        errors.add(InputError(name, line, KIND_COLUMN, f"{value!r} but --kind says {option!r}"))
        return None
    return value

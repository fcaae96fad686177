"""Reading the lab's own traffic for matching: prompts, account identifiers, addresses.

Each reader returns (line, value) pairs so matches can name the input line
instead of repeating its content. Raw values live only in memory while the
run lasts: prompts are fingerprinted and account identifiers pseudonymised
with the consortium key as soon as they are read, and only keyed values are
compared with the feed.

Files are read as streams, line by line (``iter_prompts``,
``iter_accounts``, ``iter_addresses``), so ``dx match`` holds a batch of
lines at a time whatever the size of the input; ``advance`` is told how
many bytes each line took (the progress bar). Problems are collected as
one-line ``file:line: field: message`` errors (``exchange.errors``), up to
a cap, and raised by the caller once the inputs are read; the caller
discards whatever it matched before, so a malformed log never yields a
half-done report. A line is what ends with a newline (``\n``, ``\r\n``); a
file that is not UTF-8 is refused at its first bad line.

Formats:

* prompts: a text file, one prompt per line (blank lines skipped), or JSON
  Lines (``.jsonl``/``.ndjson``) with ``{"prompt": "...", "seen_at":
  "2026-05-01T12:00:00Z"}`` per line (``seen_at`` optional);
* accounts: CSV with a header; ``--column NAME:KIND`` names each column of
  identifiers and its kind (``email``, ``phone``, ...); empty cells skipped;
* addresses: one IPv4 or IPv6 address per line; blank lines and ``#``
  comments skipped.
"""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import orjson

from exchange.errors import ErrorCollector, InputError
from exchange.privacy import ConsortiumKey, IdentifierKind, pseudonymise
from exchange.readers.csv_source import MalformedCsv, csv_rows_from
from exchange.readers.text import STDIN_NAME, display_name
from mappings.timestamps import parse_time

_JSONL_SUFFIXES = (".jsonl", ".ndjson")
_PROMPT_FIELDS = frozenset({"prompt", "seen_at"})


@dataclass(frozen=True)
class PromptLine:
    line: int
    text: str
    seen_at: datetime | None = None


@dataclass(frozen=True)
class AccountLine:
    """One identifier cell, already pseudonymised: the raw value is not kept."""

    line: int
    column: str
    kind: str
    hash: str


@dataclass(frozen=True)
class AddressLine:
    line: int
    address: ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class ColumnSpec:
    """``--column NAME:KIND``: the identifiers in column NAME are of KIND."""

    column: str
    kind: str

    @classmethod
    def parse(cls, text: str) -> ColumnSpec:
        column, found, kind = text.rpartition(":")
        if not found or not column.strip():
            raise ValueError(f"{text!r}: expected COLUMN:KIND, e.g. email:email")
        kinds = [k.value for k in IdentifierKind]
        if kind not in kinds:
            raise ValueError(f"{text!r}: KIND must be one of {', '.join(kinds)}")
        return cls(column.strip(), kind)


def parse_seen_at(value: object) -> datetime:
    """An ISO 8601 / STIX timestamp with a zone, in UTC; ValueError otherwise."""
    return parse_time(value)


class _FieldError(Exception):
    def __init__(self, field: str | None, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _prompt_record(line: str, number: int) -> PromptLine:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise _FieldError(None, f"not valid JSON: {exc}") from None
    if not isinstance(record, dict):
        raise _FieldError(None, 'expected a JSON object such as {"prompt": "..."}')
    unknown = sorted(set(record) - _PROMPT_FIELDS)
    if unknown:
        raise _FieldError(unknown[0], "unknown field (expected prompt and optional seen_at)")
    prompt = record.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise _FieldError("prompt", "required non-empty string")
    seen_at = None
    if "seen_at" in record:
        try:
            seen_at = parse_seen_at(record["seen_at"])
        except ValueError as exc:
            raise _FieldError("seen_at", str(exc)) from None
    return PromptLine(number, prompt, seen_at)


Advance = Callable[[int], None]


def _no_progress(_: int) -> None:
    return None


def iter_lines(
    path: Path, errors: ErrorCollector, advance: Advance = _no_progress
) -> Iterator[tuple[int, str]]:
    """(line number, text without its line end) of every line, read as a stream.

    An unreadable file, or a line that is not UTF-8, is one error in ``errors`` and ends
    the file (as ``read_text`` refuses the whole file); a byte-order mark is dropped.
    """
    name = display_name(path)
    stdin = str(path) == STDIN_NAME
    try:
        handle = sys.stdin.buffer if stdin else open(path, "rb")  # noqa: SIM115
    except FileNotFoundError:
        errors.add(InputError(name, None, None, "file not found"))
        return
    except IsADirectoryError:
        errors.add(InputError(name, None, None, "is a directory, not a file"))
        return
    except OSError as exc:
        errors.add(InputError(name, None, None, f"cannot read: {exc.strerror or exc}"))
        return
    offset = 0
    try:
        for number, raw in enumerate(handle, start=1):
            advance(len(raw))
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                errors.add(
                    InputError(
                        name,
                        number,
                        None,
                        f"not UTF-8 text (bad byte at offset {offset + exc.start})",
                    )
                )
                return
            offset += len(raw)
            if number == 1 and text.startswith("\ufeff"):
                text = text[1:]
            yield number, text.rstrip("\r\n")
    except OSError as exc:
        errors.add(InputError(name, None, None, f"cannot read: {exc.strerror or exc}"))
    finally:
        if not stdin:
            handle.close()


def _stop(errors: ErrorCollector) -> bool:
    if errors.full:
        errors.truncated = True
        return True
    return False


def iter_prompts(
    path: Path, errors: ErrorCollector, advance: Advance = _no_progress
) -> Iterator[PromptLine]:
    """The prompts of a text file (one per line, blank lines skipped) or a JSON Lines file,
    each with its line number, as a stream."""
    name = display_name(path)
    jsonl = path.suffix.lower() in _JSONL_SUFFIXES
    for number, line in iter_lines(path, errors, advance):
        if not line.strip():
            continue
        if not jsonl:
            yield PromptLine(number, line)
            continue
        try:
            yield _prompt_record(line, number)
        except _FieldError as problem:
            errors.add(InputError(name, number, problem.field, problem.message))
        if _stop(errors):
            return


def iter_addresses(
    path: Path, errors: ErrorCollector, advance: Advance = _no_progress
) -> Iterator[AddressLine]:
    """One address per line (``#`` starts a comment), as a stream."""
    name = display_name(path)
    for number, line in iter_lines(path, errors, advance):
        value = line.split("#", 1)[0].strip()
        if not value:
            continue
        try:
            yield AddressLine(number, ipaddress.ip_address(value))
        except ValueError:
            errors.add(InputError(name, number, None, f"{value!r} is not an IPv4 or IPv6 address"))
        if _stop(errors):
            return


def iter_accounts(
    path: Path,
    columns: Sequence[ColumnSpec],
    key: ConsortiumKey,
    errors: ErrorCollector,
    advance: Advance = _no_progress,
) -> Iterator[list[AccountLine]]:
    """Every non-empty identifier cell of the named columns, pseudonymised with ``key``,
    row by row, as a stream; a row without identifiers gives an empty list."""
    name = display_name(path)
    before = len(errors.errors)
    lines = (text + "\n" for _, text in iter_lines(path, errors, advance))
    rows = csv_rows_from(lines)
    try:
        _, header = next(rows)
    except StopIteration:
        if len(errors.errors) == before:  # read, and empty (not unreadable)
            errors.add(InputError(name, 1, None, "empty file: expected a header row"))
        return
    except MalformedCsv as exc:
        errors.add(InputError(name, exc.line, None, f"malformed CSV: {exc}"))
        return
    header = [cell.strip() for cell in header]
    positions = {}
    for spec in columns:
        if spec.column not in header:
            errors.add(InputError(name, 1, spec.column, "no such column in the header"))
        else:
            positions[spec] = header.index(spec.column)
    if len(positions) != len(columns):
        return
    try:
        for number, cells in rows:
            found = []
            for spec, index in positions.items():
                raw = cells[index].strip() if index < len(cells) else ""
                if not raw:
                    continue
                try:
                    hashed = pseudonymise(spec.kind, raw, key)
                except ValueError as exc:
                    errors.add(InputError(name, number, spec.column, str(exc)))
                    continue
                found.append(AccountLine(number, spec.column, spec.kind, hashed))
            yield found
            if _stop(errors):
                return
    except MalformedCsv as exc:
        errors.add(InputError(name, exc.line, None, f"malformed CSV: {exc}"))

"""Reading the lab's own traffic for matching: prompts, account identifiers, addresses.

Each reader returns (line, value) pairs so matches can name the input line
instead of repeating its content. Raw values live only in memory while the
run lasts: prompts are fingerprinted and account identifiers pseudonymised
with the consortium key as soon as they are read, and only keyed values are
compared with the feed.

Problems are collected as one-line ``file:line: field: message`` errors
(``exchange.errors``), up to a cap, and raised together before any matching,
so a malformed log never yields a half-done report.

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
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import orjson

from exchange.errors import ErrorCollector, InputError
from exchange.privacy import ConsortiumKey, IdentifierKind, pseudonymise
from exchange.readers.csv_source import MalformedCsv, csv_rows
from exchange.readers.text import UnreadableInput, display_name, read_text
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


def _text(path: Path, errors: ErrorCollector) -> str | None:
    try:
        return read_text(path)
    except UnreadableInput as exc:
        errors.add(exc.error)
        return None


def parse_seen_at(value: object) -> datetime:
    """An ISO 8601 / STIX timestamp with a zone, in UTC; ValueError otherwise."""
    return parse_time(value)


def read_prompts(path: Path, errors: ErrorCollector) -> list[PromptLine]:
    """The prompts of a text or JSON Lines file, each with its line number."""
    text = _text(path, errors)
    if text is None:
        return []
    name = display_name(path)
    jsonl = path.suffix.lower() in _JSONL_SUFFIXES
    prompts = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        if not jsonl:
            prompts.append(PromptLine(number, line))
            continue
        try:
            prompts.append(_prompt_record(line, number))
        except _FieldError as problem:
            errors.add(InputError(name, number, problem.field, problem.message))
        if errors.full:
            errors.truncated = True
            break
    return prompts


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


def read_accounts(
    path: Path, columns: Sequence[ColumnSpec], key: ConsortiumKey, errors: ErrorCollector
) -> list[AccountLine]:
    """Every non-empty identifier cell of the named columns, pseudonymised with ``key``."""
    text = _text(path, errors)
    if text is None:
        return []
    name = display_name(path)
    rows = csv_rows(text)
    try:
        _, header = next(rows)
    except StopIteration:
        errors.add(InputError(name, 1, None, "empty file: expected a header row"))
        return []
    except MalformedCsv as exc:
        errors.add(InputError(name, exc.line, None, f"malformed CSV: {exc}"))
        return []
    header = [cell.strip() for cell in header]
    positions = {}
    for spec in columns:
        if spec.column not in header:
            errors.add(InputError(name, 1, spec.column, "no such column in the header"))
        else:
            positions[spec] = header.index(spec.column)
    if len(positions) != len(columns):
        return []
    accounts = []
    try:
        for number, cells in rows:
            for spec, index in positions.items():
                raw = cells[index].strip() if index < len(cells) else ""
                if not raw:
                    continue
                try:
                    hashed = pseudonymise(spec.kind, raw, key)
                except ValueError as exc:
                    errors.add(InputError(name, number, spec.column, str(exc)))
                    continue
                accounts.append(AccountLine(number, spec.column, spec.kind, hashed))
            if errors.full:
                errors.truncated = True
                break
    except MalformedCsv as exc:
        errors.add(InputError(name, exc.line, None, f"malformed CSV: {exc}"))
    return accounts


def read_addresses(path: Path, errors: ErrorCollector) -> list[AddressLine]:
    """One address per line; ``#`` starts a comment."""
    text = _text(path, errors)
    if text is None:
        return []
    name = display_name(path)
    addresses = []
    for number, line in enumerate(text.splitlines(), start=1):
        value = line.split("#", 1)[0].strip()
        if not value:
            continue
        try:
            addresses.append(AddressLine(number, ipaddress.ip_address(value)))
        except ValueError:
            errors.add(InputError(name, number, None, f"{value!r} is not an IPv4 or IPv6 address"))
        if errors.full:
            errors.truncated = True
            break
    return addresses

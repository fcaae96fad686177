"""JSON input: one record object, or an array of record objects.

Errors must name the line where the offending record starts, which a plain
``json.loads`` cannot tell. So the top-level array is walked here element by
element with ``raw_decode`` (each element is still decoded by the C scanner,
so this costs little), keeping a running line count as it goes.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from exchange.errors import ErrorCollector, InputError
from exchange.readers.json_values import (
    DuplicateField,
    NonStandardNumber,
    TooDeep,
    raw_decode_strict,
)
from exchange.readers.raw import RawRecord

_WHITESPACE = " \t\n\r"


class _LineCounter:
    """Line number of a position, counted incrementally (positions only grow)."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._pos = 0
        self._line = 1

    def line_at(self, pos: int) -> int:
        self._line += self._text.count("\n", self._pos, pos)
        self._pos = pos
        return self._line


def _skip_whitespace(text: str, pos: int) -> int:
    end = len(text)
    while pos < end and text[pos] in _WHITESPACE:
        pos += 1
    return pos


def _position(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    return line, column


def _syntax_error(name: str, text: str, pos: int, message: str) -> InputError:
    line, column = _position(text, pos)
    return InputError(name, line, None, f"malformed JSON: {message} (column {column})")


class _Stop(Exception):
    """The file cannot be parsed further; its error has been recorded."""


def _decode_value(name: str, text: str, pos: int, errors: ErrorCollector) -> tuple[Any, int]:
    try:
        return raw_decode_strict(text, pos)
    except TooDeep as exc:
        errors.add(InputError(name, _position(text, pos)[0], None, str(exc)))
    except json.JSONDecodeError as exc:
        errors.add(
            InputError(name, exc.lineno, None, f"malformed JSON: {exc.msg} (column {exc.colno})")
        )
    except DuplicateField as exc:
        errors.add(InputError(name, _position(text, pos)[0], exc.name, str(exc)))
    except NonStandardNumber as exc:
        errors.add(InputError(name, _position(text, pos)[0], None, f"malformed JSON: {exc}"))
    raise _Stop


def parse_json(text: str, name: str, errors: ErrorCollector) -> list[RawRecord]:
    """The raw records of a JSON document; problems go to ``errors``."""
    records: list[RawRecord] = []
    with contextlib.suppress(_Stop):
        _parse_into(text, name, errors, records)
    return records


def _parse_into(text: str, name: str, errors: ErrorCollector, records: list[RawRecord]) -> None:
    pos = _skip_whitespace(text, 0)
    if pos == len(text):
        errors.add(InputError(name, 1, None, "empty file: expected a record object or an array"))
        return
    if text[pos] != "[":
        value, end = _decode_value(name, text, pos, errors)
        _expect_end(name, text, end, errors)
        records.append(RawRecord(name, _position(text, pos)[0], value))
        return

    lines = _LineCounter(text)
    pos = _skip_whitespace(text, pos + 1)
    if pos < len(text) and text[pos] == "]":
        _expect_end(name, text, pos + 1, errors)
        return
    while True:
        if pos >= len(text):
            errors.add(_syntax_error(name, text, pos, "unterminated array"))
            raise _Stop
        line = lines.line_at(pos)
        value, pos = _decode_value(name, text, pos, errors)
        records.append(RawRecord(name, line, value))
        pos = _skip_whitespace(text, pos)
        if pos < len(text) and text[pos] == ",":
            pos = _skip_whitespace(text, pos + 1)
            continue
        if pos < len(text) and text[pos] == "]":
            _expect_end(name, text, pos + 1, errors)
            return
        found = "end of file" if pos >= len(text) else repr(text[pos])
        errors.add(
            _syntax_error(name, text, pos, f"expected ',' or ']' after an element, found {found}")
        )
        raise _Stop


def _expect_end(name: str, text: str, pos: int, errors: ErrorCollector) -> None:
    pos = _skip_whitespace(text, pos)
    if pos < len(text):
        errors.add(_syntax_error(name, text, pos, "extra data after the JSON value"))
        raise _Stop

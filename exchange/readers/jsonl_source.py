"""JSON Lines input: one record object per line; blank lines are ignored.

Each line is independent, so a malformed line does not stop the others from
being checked: the user sees every bad line of the file in one run.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

from exchange.errors import ErrorCollector, InputError
from exchange.readers.json_values import (
    DuplicateField,
    NonStandardNumber,
    TooDeep,
    compact_json,
    decode_strict,
    same_key_marks,
)
from exchange.readers.raw import RawRecord


def parse_jsonl(text: str, name: str, errors: ErrorCollector) -> list[RawRecord]:
    """The raw records of a JSON Lines document; problems go to ``errors``."""
    clean = _parse_clean(text, name)
    if clean is not None:
        return clean
    records: list[RawRecord] = []
    for number, line in enumerate(text.split("\n"), start=1):
        if errors.full:
            errors.truncated = True
            break
        if not line.strip():
            continue
        try:
            value = decode_strict(line)
        except json.JSONDecodeError as exc:
            errors.add(
                InputError(name, number, None, f"malformed JSON: {exc.msg} (column {exc.colno})")
            )
            continue
        except DuplicateField as exc:
            errors.add(InputError(name, number, exc.name, str(exc)))
            continue
        except NonStandardNumber as exc:
            errors.add(InputError(name, number, None, f"malformed JSON: {exc}"))
            continue
        except TooDeep as exc:
            errors.add(InputError(name, number, None, str(exc)))
            continue
        records.append(RawRecord(name, number, value))
    return records


def _parse_clean(text: str, name: str) -> list[RawRecord] | None:
    """Every record of a file with no problem at all, checked in bulk; else None.

    The careful path (``decode_strict`` per line) re-serialises and scans each
    line to find fields given twice; on a 100,000-line file that was a third
    of the reading time. Here orjson parses each line, then the whole file's
    key marks are compared with those of one re-serialisation of every value
    (the argument of ``decode_strict``, summed over lines: a duplicate only
    ever removes marks, so equal totals mean no line lost one). Any doubt,
    a ``\\u`` escape or a line orjson refuses sends the file down the careful
    path, which finds and words the problems.
    """
    if "\\u" in text:
        return None
    records: list[RawRecord] = []
    values: list[Any] = []
    loads = orjson.loads
    for number, line in enumerate(text.split("\n"), start=1):
        if not line or line.isspace():
            continue
        try:
            value = loads(line)
        except orjson.JSONDecodeError:
            return None
        values.append(value)
        records.append(RawRecord(name, number, value))
    try:
        compact = compact_json(values)
    except TooDeep:
        return None  # the careful path names the line
    return records if same_key_marks(text, compact) else None

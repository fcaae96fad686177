"""JSON Lines input: one record object per line; blank lines are ignored.

Each line is independent, so a malformed line does not stop the others from
being checked: the user sees every bad line of the file in one run.
"""

from __future__ import annotations

import json

from exchange.errors import ErrorCollector, InputError
from exchange.readers.json_values import (
    DuplicateField,
    NonStandardNumber,
    decode_strict,
)
from exchange.readers.raw import RawRecord


def parse_jsonl(text: str, name: str, errors: ErrorCollector) -> list[RawRecord]:
    """The raw records of a JSON Lines document; problems go to ``errors``."""
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
        records.append(RawRecord(name, number, value))
    return records

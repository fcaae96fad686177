"""JSON decoding shared by the JSON and JSON Lines readers.

Two things the standard decoder allows are refused here because they lose
data silently or cannot be shared: a field given twice in one object (the
first value would vanish) and the non-standard ``NaN``/``Infinity`` tokens
(other JSON tools reject them, so a bundle carrying them could not be read).

Nesting is bounded too: the standard decoder recurses once per level and
raises ``RecursionError`` (a traceback, not an input error) somewhere near a
thousand levels, and orjson stops at 1024. No record is nested more than a
few levels deep, so ``TooDeep`` turns both into one input error.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson


class DuplicateField(ValueError):
    """An object names the same field twice."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"field {name!r} given twice in one object")


class TooDeep(ValueError):
    """Arrays and objects nested deeper than a JSON reader here will follow."""

    def __init__(self) -> None:
        super().__init__(
            "malformed JSON: arrays or objects nested too deeply (no record nests more than "
            "a few levels)"
        )


class NonStandardNumber(ValueError):
    """``NaN``, ``Infinity`` or ``-Infinity``: valid Python, not valid JSON."""

    def __init__(self, token: str) -> None:
        super().__init__(f"{token} is not valid JSON")


def _object_without_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for name, _ in pairs:
            if name in seen:
                raise DuplicateField(name)
            seen.add(name)
    return result


def _refuse_constant(token: str) -> Any:
    raise NonStandardNumber(token)


DECODER = json.JSONDecoder(
    object_pairs_hook=_object_without_duplicates, parse_constant=_refuse_constant
)
"""Strict decoder; use ``DECODER.raw_decode(text, index)`` or ``DECODER.decode(text)``
through ``raw_decode_strict`` and ``decode_strict``, which bound the nesting."""


def raw_decode_strict(text: str, pos: int) -> tuple[Any, int]:
    """``DECODER.raw_decode(text, pos)``; deep nesting raises ``TooDeep``."""
    try:
        return DECODER.raw_decode(text, pos)
    except RecursionError:
        raise TooDeep from None


def _decode_careful(text: str) -> Any:
    try:
        return DECODER.decode(text)
    except RecursionError:
        raise TooDeep from None


_KEY_MARK = re.compile(r'"\s*:')
_QUOTE_THEN_SPACE = ('" ', '"\t', '"\r', '"\n')


def _space_after_a_quote(text: str) -> bool:
    """Whether a key could be followed by whitespace before its colon (``"a" : 1``)."""
    return any(pair in text for pair in _QUOTE_THEN_SPACE)


def decode_strict(text: str) -> Any:
    r"""``DECODER.decode(text)``, several times faster on the common, clean case.

    orjson parses first (it refuses NaN/Infinity like we do), but it keeps
    the last of duplicate fields silently. So the text's ``"...":`` marks
    are counted and compared with those of orjson's compact re-serialisation
    of what it parsed: every key is followed by one mark in both, and a quote
    inside a string appears as ``\"`` in both (so it counts the same), unless
    the text wrote it as a ``\u`` escape. Equal counts in a text without
    ``\u`` escapes therefore mean no field was given twice. Otherwise, and
    on any orjson error, the strict decoder decides and words the error.
    """
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return _decode_careful(text)
    if "\\u" in text:
        return _decode_careful(text)
    same = same_key_marks(text, compact_json(value))
    return value if same else _decode_careful(text)


def compact_json(value: Any) -> str:
    """orjson's compact text of a value orjson parsed; ``TooDeep`` past its 255 levels.

    orjson reads up to 1024 levels but writes at most 255 (a ``TypeError``),
    so a value it just parsed can only fail here by its depth.
    """
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        raise TooDeep from None


def same_key_marks(text: str, compact: str) -> bool:
    """Whether ``text`` (JSON without ``\\u`` escapes) has as many ``"...":`` key marks
    as ``compact``, orjson's re-serialisation of what it parsed from it: true exactly
    when no object in ``text`` gave a field twice (see ``decode_strict``)."""
    if _space_after_a_quote(text):
        return len(_KEY_MARK.findall(text)) == len(_KEY_MARK.findall(compact))
    # every key mark is a plain '":', which str.count finds much faster
    return text.count('":') == compact.count('":')


def describe_type(value: Any) -> str:
    """A JSON-ish name for a value's type, for "expected an object, got ..." messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    return "an object"

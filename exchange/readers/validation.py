"""Raw records become validated detection records, or one-line errors.

The record kind picks the model directly (rather than pydantic's
discriminated union) so that error locations are plain field paths, with no
union tag in them. Pydantic's messages are kept but translated: a location
tuple becomes ``members[2].hash``, "Value error, " and documentation URLs are
dropped, and the two messages users hit most get plainer words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ValidationError

from exchange.errors import InputError
from exchange.readers.csv_layout import KIND_COLUMN, MODEL_BY_KIND
from exchange.readers.json_values import describe_type
from exchange.readers.raw import RawRecord
from mappings.records import AccountCluster, IpRange, PromptFingerprint

Record = AccountCluster | PromptFingerprint | IpRange

KIND_NAMES = ", ".join(MODEL_BY_KIND)

_PLAIN_MESSAGES = {
    "extra_forbidden": "unknown field",
    "missing": "required field missing",
}
_PREFIXES = ("Value error, ", "Assertion failed, ")
_WORD = re.compile(r"[a-z][a-z0-9_]*")


def _all_field_names(models: list[type[BaseModel]]) -> frozenset[str]:
    """Every field name of the record models and the models nested in them."""
    names: set[str] = set()
    pending, seen = list(models), set()
    while pending:
        model = pending.pop()
        if model in seen:
            continue
        seen.add(model)
        for name, info in model.model_fields.items():
            names.add(name)
            pending.extend(_models_in(info.annotation))
    return frozenset(names)


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    found: list[type[BaseModel]] = []
    for arg in getattr(annotation, "__args__", ()):
        found.extend(_models_in(arg))
    return found


_FIELD_NAMES = _all_field_names(list(MODEL_BY_KIND.values()))


def field_path(loc: tuple[int | str, ...]) -> str:
    """``("members", 2, "hash")`` -> ``members[2].hash``."""
    path = ""
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path


def _message(error: Mapping[str, Any]) -> str:
    plain = _PLAIN_MESSAGES.get(error["type"])
    if plain is not None:
        return plain
    message = str(error["msg"])
    for prefix in _PREFIXES:
        if message.startswith(prefix):
            message = message[len(prefix) :]
    return message


def _location(error: Mapping[str, Any]) -> tuple[int | str, ...]:
    """The error's field location, made to point at a field when pydantic stops short.

    A model-level check ("last_seen is before first_seen") is reported by
    pydantic at the model itself, i.e. at no field. Users need a field, so
    the first field name the message mentions is appended. Location parts
    that are not field names or list indexes (pydantic's names for union
    members, such as ``int`` in ``int | str``) are dropped.
    """
    loc = tuple(part for part in error["loc"] if not _is_schema_tag(part))
    if error["type"] in ("value_error", "assertion_error") and (
        not loc or isinstance(loc[-1], str)
    ):
        for word in _WORD.findall(str(error["msg"])):
            if word in _FIELD_NAMES and (not loc or word != loc[-1]):
                return (*loc, word)
    return loc


_SCHEMA_TAGS = frozenset({"int", "float", "str", "bool", "list", "dict", "none"})
_SCHEMA_TAG_PREFIX = re.compile(
    r"^(constrained|function|lax|json|tagged|nullable|default|union|model)-"
)


def _is_schema_tag(part: int | str) -> bool:
    """Pydantic's name for a union member (``int``, ``function-after[...]``), not a field.

    Keys of free-form objects (fingerprint ``parameters``) are kept: they are
    what the user wrote.
    """
    if isinstance(part, int) or part in _FIELD_NAMES:
        return False
    return part in _SCHEMA_TAGS or "[" in part or bool(_SCHEMA_TAG_PREFIX.match(part))


def translate(error: Mapping[str, Any], raw: RawRecord) -> InputError:
    """One pydantic error dict as an InputError at the record's line."""
    return InputError(raw.file, raw.line, field_path(_location(error)) or None, _message(error))


def validate_raw(raw: RawRecord, default_kind: str | None = None) -> Record | list[InputError]:
    """The validated record, or every error it has (in pydantic's order)."""
    if not isinstance(raw.data, dict):
        return [
            InputError(
                raw.file, raw.line, None, f"expected a record object, got {describe_type(raw.data)}"
            )
        ]
    kind = raw.data.get(KIND_COLUMN, default_kind)
    if kind is None:
        return [
            InputError(
                raw.file,
                raw.line,
                KIND_COLUMN,
                f"required field missing: one of {KIND_NAMES} (or pass --kind)",
            )
        ]
    model = MODEL_BY_KIND.get(kind) if isinstance(kind, str) else None
    if model is None:
        return [InputError(raw.file, raw.line, KIND_COLUMN, f"must be one of {KIND_NAMES}")]
    if default_kind is not None and kind != default_kind:
        return [
            InputError(
                raw.file, raw.line, KIND_COLUMN, f"{kind!r} but --kind says {default_kind!r}"
            )
        ]
    try:
        record = model.model_validate(raw.data)
    except ValidationError as exc:
        return _merge_alternatives([translate(e, raw) for e in exc.errors(include_url=False)])
    return record  # type: ignore[return-value]


_SHOULD_BE = "Input should be "


def _merge_alternatives(errors: list[InputError]) -> list[InputError]:
    """One error per field: a value matching no member of ``int | str`` gets one line.

    Pydantic reports each union member's failure separately; for a user they
    are one problem ("should be a valid integer or a valid string").
    """
    by_field: dict[str | None, list[InputError]] = {}
    for error in errors:
        by_field.setdefault(error.field, []).append(error)
    merged = []
    for group in by_field.values():
        first = group[0]
        if len(group) == 1:
            merged.append(first)
            continue
        messages = list(dict.fromkeys(error.message for error in group))
        if all(message.startswith(_SHOULD_BE) for message in messages):
            options = [message[len(_SHOULD_BE) :] for message in messages]
            text = _SHOULD_BE + ", ".join(options[:-1]) + " or " + options[-1]
        else:
            text = "; ".join(messages)
        merged.append(InputError(first.file, first.line, first.field, text))
    return merged

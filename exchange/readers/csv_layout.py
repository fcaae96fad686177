"""The CSV convention for detection records: how nested fields become columns.

CSV is flat and records are not, so the convention below maps one record to
one row. It is derived from the record models themselves, so a field added to
a model gets a column without touching this file (a new list-of-objects field
must pick a cell encoding here, and the module refuses to import until it
does: silently dropping a field is worse than failing loudly).

* one kind of record per file: ``--kind`` or a ``kind`` column;
* nested objects use dotted columns: ``volume.requests``, ``hashing.key_id``;
* lists of plain values are ``;``-separated: ``reasoning_traces;tool_use``;
* ``members`` are ``kind:hash;kind:hash``;
* ``linking_signals`` are ``signal=count;signal=count``;
* ``fingerprints`` hold the JSON array of fingerprint objects (the same text
  as in the JSON format): a MinHash signature with its parameters and match
  rule does not fit a column convention, and a spreadsheet keeps the cell
  intact when it is quoted;
* an empty cell means "not given": the field's default applies, or, when the
  field is required, the row is refused naming that field.

``docs/formats.md`` documents the same rules with examples.
"""

from __future__ import annotations

import json
import types
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel

from mappings.record_kinds import RECORD_KINDS
from mappings.records import FingerprintValue, LinkingSignal, MemberHash

LIST_SEPARATOR = ";"

MODEL_BY_KIND: dict[str, type[BaseModel]] = {
    name: kind.model for name, kind in RECORD_KINDS.items()
}
"""The model of each record kind (from ``mappings.record_kinds``)."""

KIND_COLUMN = "kind"

KEY_FIELD_BY_KIND: dict[str, str] = {name: kind.key_field for name, kind in RECORD_KINDS.items()}
"""The producer-scoped stable key of each kind: the first column after ``kind``."""


class CellError(ValueError):
    """A cell cannot be decoded; ``field`` is the path inside the record."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        super().__init__(message)


# --- cell codecs for lists of objects ------------------------------------------------------


def _split(cell: str) -> list[str]:
    return [part.strip() for part in cell.split(LIST_SEPARATOR) if part.strip()]


def _decode_pairs(
    column: str, cell: str, separator: str, first: str, second: str
) -> list[dict[str, str]]:
    items = []
    for index, part in enumerate(_split(cell)):
        left, found, right = part.partition(separator)
        if not found or not left.strip() or not right.strip():
            raise CellError(
                f"{column}[{index}]", f"expected {first}{separator}{second}, got {part!r}"
            )
        items.append({first: left.strip(), second: right.strip()})
    return items


def _decode_members(column: str, cell: str) -> list[dict[str, str]]:
    return _decode_pairs(column, cell, ":", "kind", "hash")


def _decode_signals(column: str, cell: str) -> list[dict[str, str]]:
    return _decode_pairs(column, cell, "=", "signal", "count")


def _decode_json_array(column: str, cell: str) -> list[Any]:
    try:
        value = json.loads(cell)
    except RecursionError:
        raise CellError(
            column, "expected a JSON array of fingerprint objects: nested too deeply"
        ) from None
    except json.JSONDecodeError as exc:
        raise CellError(
            column,
            f"expected a JSON array of fingerprint objects: {exc.msg} (character {exc.pos + 1})",
        ) from None
    if not isinstance(value, list):
        raise CellError(column, "expected a JSON array of fingerprint objects")
    return value


def _encode_members(items: list[dict[str, Any]]) -> str:
    return LIST_SEPARATOR.join(f"{item['kind']}:{item['hash']}" for item in items)


def _encode_signals(items: list[dict[str, Any]]) -> str:
    return LIST_SEPARATOR.join(f"{item['signal']}={item['count']}" for item in items)


def _encode_json_array(items: list[dict[str, Any]]) -> str:
    return json.dumps(items, sort_keys=True, separators=(",", ":"))


@dataclass(frozen=True)
class _ObjectListCodec:
    decode: Callable[[str, str], list[Any]]
    encode: Callable[[list[dict[str, Any]]], str]
    description: str


_OBJECT_LIST_CODECS: dict[type[BaseModel], _ObjectListCodec] = {
    MemberHash: _ObjectListCodec(_decode_members, _encode_members, "kind:hash;kind:hash"),
    LinkingSignal: _ObjectListCodec(_decode_signals, _encode_signals, "signal=count;..."),
    FingerprintValue: _ObjectListCodec(
        _decode_json_array, _encode_json_array, "JSON array of fingerprint objects"
    ),
}


# --- the layout of one kind ---------------------------------------------------------------


@dataclass(frozen=True)
class Column:
    """One CSV column: its name, where it goes in the record and how its cell decodes."""

    name: str
    parent: str | None  # the nested-object field for dotted columns
    field: str
    shape: str  # "scalar", "list" or "objects"
    required: bool
    codec: _ObjectListCodec | None = None


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _list_item(annotation: Any) -> Any | None:
    """The item type when ``annotation`` is a list type, else None."""
    if typing.get_origin(annotation) is list:
        return typing.get_args(annotation)[0]
    return None


def _unwrap_optional(annotation: Any) -> Any:
    origin = typing.get_origin(annotation)
    if origin is typing.Union or origin is types.UnionType:
        args = [arg for arg in typing.get_args(annotation) if arg is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _field_column(name: str, parent: str | None, annotation: Any, required: bool) -> Column:
    column_name = name if parent is None else f"{parent}.{name}"
    annotation = _unwrap_optional(annotation)
    item = _list_item(annotation)
    if item is None:
        return Column(column_name, parent, name, "scalar", required)
    if _is_model(item):
        codec = _OBJECT_LIST_CODECS.get(item)
        if codec is None:
            raise TypeError(
                f"no CSV cell encoding for list field {column_name!r} of {item.__name__}"
            )
        return Column(column_name, parent, name, "objects", required, codec)
    return Column(column_name, parent, name, "list", required)


@dataclass(frozen=True)
class CsvLayout:
    """Every column a record kind may have, in a stable order (model field order)."""

    kind: str
    columns: tuple[Column, ...]

    @property
    def by_name(self) -> dict[str, Column]:
        return {column.name: column for column in self.columns}

    @property
    def required_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns if column.required)

    def header(self) -> list[str]:
        """The header a writer uses: ``kind`` first, then every column."""
        return [KIND_COLUMN, *(column.name for column in self.columns)]

    def decode_row(self, cells: dict[str, str]) -> dict[str, Any]:
        """Nested record data from ``column -> cell``; empty cells are left out.

        Raises CellError for a cell that does not follow the convention.
        """
        by_name = self.by_name
        data: dict[str, Any] = {}
        for name, raw_cell in cells.items():
            cell = raw_cell.strip()
            if not cell:
                continue
            column = by_name[name]
            if column.shape == "list":
                value: Any = _split(cell)
            elif column.shape == "objects":
                assert column.codec is not None
                value = column.codec.decode(column.name, cell)
            else:
                value = cell
            if column.parent is None:
                data[column.field] = value
            else:
                data.setdefault(column.parent, {})[column.field] = value
        return data

    def encode_record(self, record: BaseModel) -> list[str]:
        """The row for a record (the inverse of ``decode_row``), ``kind`` first."""
        dumped = record.model_dump(mode="json")
        row = [self.kind]
        for column in self.columns:
            value = (
                dumped.get(column.field)
                if column.parent is None
                else ((dumped.get(column.parent) or {}).get(column.field))
            )
            row.append(_encode_value(column, value))
        return row


def _encode_value(column: Column, value: Any) -> str:
    if value is None:
        return ""
    if column.shape == "list":
        return LIST_SEPARATOR.join(str(item) for item in value)
    if column.shape == "objects":
        assert column.codec is not None
        return column.codec.encode(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _layout_for(kind: str, model: type[BaseModel]) -> CsvLayout:
    columns: list[Column] = []
    for name, info in model.model_fields.items():
        if name == KIND_COLUMN:
            continue
        annotation = _unwrap_optional(info.annotation)
        if _is_model(annotation):
            for sub_name, sub_info in annotation.model_fields.items():
                columns.append(
                    _field_column(
                        sub_name,
                        name,
                        sub_info.annotation,
                        info.is_required() and sub_info.is_required(),
                    )
                )
        else:
            columns.append(_field_column(name, None, info.annotation, info.is_required()))
    key = KEY_FIELD_BY_KIND[kind]
    columns.sort(key=lambda column: column.name != key)  # stable: only the key moves
    return CsvLayout(kind, tuple(columns))


LAYOUTS: dict[str, CsvLayout] = {
    kind: _layout_for(kind, model) for kind, model in MODEL_BY_KIND.items()
}
"""The CSV layout of each record kind, built once from the models at import."""

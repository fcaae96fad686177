"""What to publish: detection files converted on the spot, or ready STIX bundles.

``dx publish`` takes both in one run. A ``.json`` file whose top level is a
STIX bundle (``"type": "bundle"``) or a TAXII envelope (an ``objects`` list)
is taken as objects; every other file is detection records (JSON, JSON Lines,
CSV) read by ``exchange.readers`` and converted with the lab's producer, all
files together, exactly as ``dx convert`` would. Everything is read and
checked before anything is sent, so bad input never leaves half a batch on
the server: records are validated by the readers, and every bundle (made
here or given) is checked with stix2-validator unless the caller opts out.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from exchange.errors import DEFAULT_MAX_ERRORS, DxError, InputErrors
from exchange.publish.envelopes import object_version
from exchange.readers import read_detections
from mappings.convert import MappingError, records_to_bundle
from mappings.producer import Producer

_BUNDLE_SUFFIXES = (".json",)


class PublishInputError(DxError, ValueError):
    """Input that cannot be published: one ``FILE...: MESSAGE`` line per problem."""

    located = True

    def __init__(self, lines: Sequence[str]) -> None:
        self.problems = list(lines)
        super().__init__("\n".join(self.problems))

    def lines(self) -> Iterator[str]:
        yield from self.problems


@dataclass(frozen=True)
class Batch:
    """The objects to publish, in posting order, and where they came from."""

    objects: list[dict[str, Any]]
    records: int
    bundles: int


def _stix_objects(path: Path) -> list[dict[str, Any]] | None:
    """The objects of a bundle or envelope file, or None when the file is something else."""
    if path.suffix.lower() not in _BUNDLE_SUFFIXES:
        return None
    try:
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None  # the detection reader reports unreadable or malformed files precisely
    if not isinstance(data, dict) or "kind" in data:
        return None
    if data.get("type") != "bundle" and "objects" not in data:
        return None
    objects = data.get("objects")
    if not isinstance(objects, list) or not all(isinstance(o, dict) for o in objects):
        raise PublishInputError([f"{path}: objects: must be a list of JSON objects"])
    return objects


def _validated(objects: list[dict[str, Any]], where: str, max_errors: int) -> None:
    # Imported here: loading the validator takes about a second at start-up.
    from mappings.validation import validate_bundle

    report = validate_bundle({"type": "bundle", "id": _ANY_BUNDLE_ID, "objects": objects})
    if not report.ok:
        raise PublishInputError(
            [f"{where}: STIX validation: {error}" for error in report.errors[:max_errors]]
        )


_ANY_BUNDLE_ID = "bundle--6c3d8f2e-4a86-4d4f-9a3e-2f6b1f0c9d11"
"""Bundles given to the validator only wrap objects; their id is never published."""


def _merge(batches: Sequence[tuple[str, list[dict[str, Any]]]]) -> list[dict[str, Any]]:
    """One list, each (id, version) once; the same version twice must be the same object."""
    merged: dict[tuple[str, str], dict[str, Any]] = {}
    origin: dict[tuple[str, str], str] = {}
    problems: list[str] = []
    for where, objects in batches:
        for position, obj in enumerate(objects):
            object_id = obj.get("id")
            if not isinstance(object_id, str):
                problems.append(f"{where}: objects[{position}]: id: missing or not a string")
                continue
            key = (object_id, object_version(obj))
            if key in merged:
                if merged[key] != obj:
                    problems.append(
                        f"{where}: objects[{position}]: {object_id} version {key[1] or '(none)'} "
                        f"differs from the same version in {origin[key]}"
                    )
                continue
            merged[key] = obj
            origin[key] = where
    if problems:
        raise PublishInputError(problems[:DEFAULT_MAX_ERRORS])
    return _posting_order(list(merged.values()))


def _posting_order(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Identities, extension and marking definitions first, then the rest as given.

    A partner polling while a long publish runs then already holds the
    objects the others refer to; the order changes nothing else.
    """
    first = ("identity", "extension-definition", "marking-definition")
    rank = {name: index for index, name in enumerate(first)}
    return sorted(objects, key=lambda obj: rank.get(str(obj.get("type")), len(first)))


def load_batch(
    paths: Sequence[Path],
    producer: Producer | None,
    *,
    validate: bool = True,
    max_errors: int = DEFAULT_MAX_ERRORS,
) -> Batch:
    """Read every input, convert detection records, validate; raise PublishInputError."""
    bundles: list[tuple[str, list[dict[str, Any]]]] = []
    detection_files: list[Path] = []
    for path in paths:
        objects = _stix_objects(path)
        if objects is None:
            detection_files.append(path)
        else:
            if validate:
                _validated(objects, str(path), max_errors)
            bundles.append((str(path), objects))
    records = 0
    if detection_files:
        if producer is None:
            raise PublishInputError(
                [
                    f"{detection_files[0]}: detection records need a producer: add a [producer] "
                    "table (key, name) to the lab config"
                ]
            )
        try:
            located = read_detections(detection_files, max_errors=max_errors)
        except InputErrors as exc:
            raise PublishInputError(list(exc.lines())) from None
        records = len(located)
        try:
            bundle = records_to_bundle([item.record for item in located], producer)
        except MappingError as exc:
            raise PublishInputError([f"convert: {exc}"]) from None
        if validate:
            _validated(bundle["objects"], "converted records", max_errors)
        bundles.append(("converted records", bundle["objects"]))
    return Batch(objects=_merge(bundles), records=records, bundles=len(bundles))

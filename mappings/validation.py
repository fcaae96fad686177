"""Check a STIX bundle with stix2-validator 3.2.0 the way the exchange requires.

Strict mode (every best-practice warning is an error), STIX 2.1, the
project's JSON Schemas for its extensions (``mappings.schemas_dir()``), and
only the checks in ``DISABLED_CHECKS`` turned off, each for a documented
reason. Anything the exchange emits must come back with ``ok`` true.

Why this module does not just call ``stix2validator.validate_instance``: for
every object it walks the schema directories, re-reads and re-parses the
schema files, builds a new ``referencing`` registry and re-reads every
``$ref``'d file while validating (measured: about 200 objects/s). Here the
same validator classes, schema files, patches and checks are used, but each
schema is loaded and compiled once per process and the registry is built
once with every built-in schema in it (about 3 times faster). The messages
are the library's own, in its order; a test compares them with
``validate_instance`` on good and broken bundles.

What remains (the pure-Python JSON Schema walk and the ANTLR pattern parser,
roughly 1.5 ms per object) is still too slow for a 100,000-record bundle of
~870,000 objects, so ``scope`` chooses how much is checked: ``full`` (every
object, on a process pool when the bundle is large), ``sample`` (the bundle
and the first ``SAMPLE_PER_SHAPE`` objects of each shape, see
``object_shape``), or ``auto`` (full up to ``FULL_VALIDATION_LIMIT`` objects,
a sample above). docs/stix-mapping.md explains the decision.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from stix2validator import ValidationOptions, validate_instance
from stix2validator import validator as library
from stix2validator.errors import (
    NoJSONFileFoundError,
    SchemaInvalidError,
    ValidationError,
    pretty_error,
)

from mappings import schemas_dir
from mappings.validation_scope import (
    FULL_VALIDATION_LIMIT,
    SAMPLE_PER_SHAPE,
    ShapeSampler,
    ValidationScope,
    is_plain_object,
    object_shape,
    sample_objects,
)
from mappings.validation_settings import DISABLED_CHECKS, RESTORED_CHECKS, STIX_VERSION

__all__ = [
    "DISABLED_CHECKS",
    "FULL_VALIDATION_LIMIT",
    "SAMPLE_PER_SHAPE",
    "ShapeSampler",
    "ValidationReport",
    "ValidationScope",
    "object_shape",
    "validate_bundle",
    "validate_sample",
    "validator_options",
]

POOL_THRESHOLD: Final = 2_000
"""Full validation of more objects than this is spread over the machine's cores."""

_CHUNK: Final = 1_000
_BUILTIN_DIR: Final = os.path.abspath(
    os.path.join(os.path.dirname(library.__file__), f"schemas-{STIX_VERSION}", "schemas")
)


@dataclass(frozen=True)
class ValidationReport:
    """What the validator said: ``ok`` means no errors (in strict mode warnings are errors).

    ``checked`` is how many of the bundle's ``total`` objects were validated
    (all of them unless the scope was ``sample``).
    """

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    checked: int = 0
    total: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


def validator_options() -> ValidationOptions:
    """The validator settings every bundle the exchange emits must pass."""
    return ValidationOptions(
        version=STIX_VERSION,
        strict=True,
        schema_dir=str(schemas_dir()),
        disabled=list(DISABLED_CHECKS),
        enabled=list(RESTORED_CHECKS),
    )


def validate_bundle(
    bundle: dict[str, Any] | bytes | str | Path,
    *,
    scope: ValidationScope = "full",
    workers: int | None = None,
) -> ValidationReport:
    """Validate a bundle given as a dict, JSON bytes, JSON text (``str``) or a file ``Path``.

    ``scope``: ``full`` checks every object, ``sample`` the bundle and a sample
    per shape, ``auto`` full up to ``FULL_VALIDATION_LIMIT`` objects. ``workers``:
    processes for the objects (default: the machine's cores, above
    ``POOL_THRESHOLD`` objects; 1 for none).

    Input that is not a JSON object, and validator failures, come back as
    errors in the report rather than exceptions: the caller reports them.
    """
    try:
        instance = _load(bundle)
    except (OSError, ValueError) as exc:
        return ValidationReport(errors=[str(exc)])
    objects = instance.get("objects") if instance.get("type") == "bundle" else None
    try:
        if not _fast_path_applies(objects):
            return _library_report(instance)
        assert isinstance(objects, list)
        if scope == "sample" or (scope == "auto" and len(objects) > FULL_VALIDATION_LIMIT):
            chosen = sample_objects(objects)
        else:
            chosen = objects
        errors = _validate_bundle_objects(instance, chosen, workers)
    except (ValidationError, SchemaInvalidError, NoJSONFileFoundError) as exc:
        return ValidationReport(errors=[f"stix2-validator: {exc}"])
    return ValidationReport(errors=errors, checked=len(chosen), total=len(objects))


def validate_sample(bundle_id: str, sampler: ShapeSampler, total: int) -> ValidationReport:
    """Validate a bundle of ``total`` objects from its id and the sample a
    ``ShapeSampler`` took while it was built: the envelope and every sampled
    object, as ``sample`` scope would.

    Only for bundles of plain objects (``sampler.plain``): for anything else
    ``validate_bundle`` must see the whole bundle (the library checks it all).
    """
    if not sampler.plain:
        raise ValueError("a sample cannot stand for a bundle with objects that are not plain")
    objects = sampler.objects()
    instance = {"type": "bundle", "id": bundle_id, "objects": objects}
    try:
        errors = _validate_bundle_objects(instance, objects, None)
    except (ValidationError, SchemaInvalidError, NoJSONFileFoundError) as exc:
        return ValidationReport(errors=[f"stix2-validator: {exc}"])
    return ValidationReport(errors=errors, checked=len(objects), total=total)


# -- the library's pipeline, with its schemas compiled once ------------------------------


def _fast_path_applies(objects: Any) -> bool:
    """Bundles of plain STIX 2.1 objects; anything else goes to the library unchanged."""
    return isinstance(objects, list) and all(map(is_plain_object, objects))


def _library_report(instance: dict[str, Any]) -> ValidationReport:
    result = validate_instance(instance, validator_options())
    total = len(instance.get("objects") or ()) if instance.get("type") == "bundle" else 1
    return ValidationReport(
        errors=[_message(error) for error in result.errors],
        warnings=[_message(warning) for warning in result.warnings or ()],
        checked=total,
        total=total,
    )


def _validate_bundle_objects(
    instance: dict[str, Any], objects: list[dict[str, Any]], workers: int | None
) -> list[str]:
    """``validate_instance(instance)`` restricted to ``objects``: the same messages in
    the same order (schema errors of the bundle then of each object, then every
    MUST check, then every SHOULD check, bundle first)."""
    options = _options()
    envelope = {key: value for key, value in instance.items() if key != "objects"}
    schema = _schema_errors(instance, options)
    musts = _custom_errors(envelope, library._get_musts(options), options)
    shoulds = _custom_errors(envelope, library._get_shoulds(options), options)
    for part in _object_errors(objects, workers):
        schema += part[0]
        musts += part[1]
        shoulds += part[2]
    return schema + musts + shoulds


def _object_errors(
    objects: list[dict[str, Any]], workers: int | None
) -> Iterator[tuple[list[str], ...]]:
    """Per-chunk messages, in object order; chunks go to a process pool when it pays."""
    if workers is None:
        workers = (os.cpu_count() or 1) if len(objects) > POOL_THRESHOLD else 1
    if workers <= 1 or len(objects) < 2:
        yield _check_chunk(objects)
        return
    size = max(1, min(_CHUNK, -(-len(objects) // (workers * 4))))
    chunks = [objects[i : i + size] for i in range(0, len(objects), size)]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        yield from pool.map(_check_chunk, chunks)


def _check_chunk(objects: list[dict[str, Any]]) -> tuple[list[str], list[str], list[str]]:
    """(schema, MUST, SHOULD) messages of some of a bundle's objects; runs in workers too."""
    options = _options()
    musts, shoulds = library._get_musts(options), library._get_shoulds(options)
    schema: list[str] = []
    must_errors: list[str] = []
    should_errors: list[str] = []
    for obj in objects:
        schema += _schema_errors(obj, options)
        must_errors += _custom_errors(obj, musts, options)
        should_errors += _custom_errors(obj, shoulds, options)
    return schema, must_errors, should_errors


@functools.cache
def _options() -> ValidationOptions:
    options = validator_options()
    options.set_check_codes(STIX_VERSION)
    return options


def _custom_errors(obj: dict[str, Any], checks: list[Any], options: ValidationOptions) -> list[str]:
    return [
        pretty_error(error, options.verbose)
        for error in library._iter_errors_custom(obj, checks, options)
    ]


def _schema_errors(obj: dict[str, Any], options: ValidationOptions) -> list[str]:
    """The library's ``_schema_validate`` for one STIX 2.1 object (no observed-data)."""
    prefix = obj["id"] + ": "
    core = "core"
    if "created" not in obj and "modified" not in obj and obj["type"] != "marking-definition":
        core = "cyber-observable-core"
    bundle = obj["type"] == "bundle"
    names = [(_BUILTIN_DIR, obj["type"], True)]
    if options.schema_dir:
        names.append((options.schema_dir, obj["type"], False))
        names += [(options.schema_dir, ext, False) for ext in obj.get("extensions", {})]
    messages = []
    for directory, name, builtin in names:
        validator = _compiled(directory, name, core, bundle, builtin)
        if validator is not None:
            messages += [
                prefix + pretty_error(e, options.verbose) for e in validator.iter_errors(obj)
            ]
    return messages


@functools.cache
def _compiled(directory: str, name: str, default: str, bundle: bool, builtin: bool) -> Any:
    """The library's ``_get_error_generator`` validator for ``name``, built once."""
    path = _find(directory, name) or _find(directory, default)
    if path is None:
        if builtin:
            raise SchemaInvalidError(
                "Cannot locate a schema for the object's type, nor the base schema "
                f"({default}.json)."
            )
        return None
    schema = library.load_schema(path)
    if bundle:  # objects are validated one by one, as the library does
        schema["properties"]["objects"] = {"objects": {"type": "array", "minItems": 1}}
    schema = library.patch_schema(schema, path)
    retrieve = functools.partial(_retrieve, schema_dir=directory)
    registry = (
        Registry(retrieve=retrieve)  # type: ignore[call-arg]
        .with_resources(_builtin_resources())
        .with_resource(path, DRAFT202012.create_resource(schema))
        .crawl()
    )
    return library.STIXValidator(
        schema, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
    )


@functools.cache
def _find(directory: str, name: str) -> str | None:
    return library.find_schema(directory, name)


@functools.cache
def _retrieve(uri: str, schema_dir: str) -> Resource:
    """The library's file retrieval, once per schema file (it re-read them on every $ref)."""
    return library.retrieve_from_filesystem(uri, schema_dir)


@functools.cache
def _builtin_resources() -> tuple[tuple[str, Resource], ...]:
    """Every built-in schema under the URI the library's ``$ref``s resolve to."""
    found = []
    for root, _dirs, files in os.walk(_BUILTIN_DIR):
        for name in sorted(files):
            if name.endswith(".json"):
                path = os.path.join(root, name)
                schema = library.patch_schema(library.load_schema(path), path)
                found.append((Path(path).as_uri(), Resource.from_contents(schema)))
    return tuple(found)


# -- input -----------------------------------------------------------------------------


def _load(bundle: dict[str, Any] | bytes | str | Path) -> dict[str, Any]:
    if isinstance(bundle, Path):
        try:
            text = bundle.read_bytes()
        except OSError as exc:
            raise OSError(f"{bundle}: cannot read: {exc.strerror or exc}") from None
        return _parse(text, str(bundle))
    if isinstance(bundle, bytes | str):
        return _parse(bundle, "bundle")
    if isinstance(bundle, dict):
        return _checked(bundle, "bundle")
    kind = type(bundle).__name__
    raise ValueError(f"bundle: expected a dict, JSON bytes/str or a Path, got {kind}")


def _parse(text: bytes | str, where: str) -> dict[str, Any]:
    try:
        parsed = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{where}: not valid JSON: {exc}") from None
    return _checked(parsed, where)


def _checked(parsed: Any, where: str) -> dict[str, Any]:
    if not isinstance(parsed, dict) or "type" not in parsed or "id" not in parsed:
        raise ValueError(f"{where}: not a STIX object (a JSON object with 'type' and 'id')")
    return parsed


def _message(item: Any) -> str:
    return str(getattr(item, "message", item))

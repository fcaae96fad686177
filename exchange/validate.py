"""Check a STIX bundle with stix2-validator 3.2.0 the way the exchange requires.

Strict mode (every best-practice warning is an error), STIX 2.1, the
project's JSON Schemas for its extensions (``mappings.schemas_dir()``), and
only the checks in ``DISABLED_CHECKS`` turned off, each for a documented
reason. Anything the exchange emits must come back with ``ok`` true.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stix2validator import ValidationOptions, validate_instance
from stix2validator.errors import NoJSONFileFoundError, SchemaInvalidError, ValidationError

from mappings import schemas_dir
from mappings.validation_settings import DISABLED_CHECKS, RESTORED_CHECKS, STIX_VERSION

__all__ = ["DISABLED_CHECKS", "ValidationReport", "validate_bundle", "validator_options"]


@dataclass(frozen=True)
class ValidationReport:
    """What the validator said: ``ok`` means no errors (in strict mode warnings are errors)."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

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


def validate_bundle(bundle: dict[str, Any] | bytes | str | Path) -> ValidationReport:
    """Validate a bundle given as a dict, JSON bytes, JSON text (``str``) or a file ``Path``.

    Input that is not a JSON object, and validator failures, come back as
    errors in the report rather than exceptions: the caller reports them.
    """
    try:
        instance = _load(bundle)
    except (OSError, ValueError) as exc:
        return ValidationReport(errors=[str(exc)])
    try:
        result = validate_instance(instance, validator_options())
    except (ValidationError, SchemaInvalidError, NoJSONFileFoundError) as exc:
        return ValidationReport(errors=[f"stix2-validator: {exc}"])
    return ValidationReport(
        errors=[_message(error) for error in result.errors],
        warnings=[_message(warning) for warning in result.warnings or ()],
    )


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

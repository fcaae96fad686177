"""docs/openapi.yaml as data: the operations the fuzzer drives and the schemas it checks.

The fuzzer takes its list of endpoints, methods, parameters and response
schemas from the published description rather than from a second hand-written
table, so the description and the fuzz cannot silently disagree: a route the
description forgets is caught by ``test_openapi`` (it compares the description
with Flask's URL map), and a response the description gets wrong is caught by
the fuzz (every 2xx body is validated against the operation's schema).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from jsonschema import Draft202012Validator

REPO = Path(__file__).resolve().parents[2]
OPENAPI_PATH = REPO / "docs" / "openapi.yaml"
HTTP_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
TAXII = "application/taxii+json;version=2.1"


@cache
def load_description() -> dict[str, Any]:
    with OPENAPI_PATH.open(encoding="utf-8") as handle:
        return yaml.safe_load(handle)


def resolve(node: Any, root: dict[str, Any] | None = None) -> Any:
    """``node`` with every local ``$ref`` replaced by its target (the document has no cycles)."""
    root = root if root is not None else load_description()
    if isinstance(node, dict):
        if "$ref" in node:
            target: Any = root
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            return resolve(target, root)
        return {key: resolve(value, root) for key, value in node.items()}
    if isinstance(node, list):
        return [resolve(item, root) for item in node]
    return node


@dataclass(frozen=True, eq=False)  # hashed by identity: strategies are cached per parameter
class Parameter:
    name: str
    location: str  # "path", "query" or "header"
    required: bool
    schema: dict[str, Any]

    @property
    def examples(self) -> list[str]:
        return [str(example) for example in self.schema.get("examples", [])]

    @property
    def pattern(self) -> str | None:
        return self.schema.get("pattern")


@dataclass(frozen=True, eq=False, repr=False)  # hashed by identity, like Parameter
class Operation:
    path: str  # the template, e.g. "/{api_root}/collections/"
    method: str  # upper case
    operation_id: str
    parameters: tuple[Parameter, ...]
    has_body: bool
    responses: dict[str, dict[str, Any]]  # status code -> resolved response object

    def __repr__(self) -> str:  # hypothesis prints failing requests; keep them readable
        return f"<{self.method} {self.path} ({self.operation_id})>"

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # hypothesis's printer
        printer.text(repr(self))

    def params(self, location: str) -> tuple[Parameter, ...]:
        return tuple(p for p in self.parameters if p.location == location)

    @property
    def path_names(self) -> tuple[str, ...]:
        return tuple(re.findall(r"{([^}]+)}", self.path))

    def body_schema(self, status: int) -> dict[str, Any] | None:
        response = self.responses.get(str(status))
        if response is None:
            return None
        return response.get("content", {}).get(TAXII, {}).get("schema")


def _parameters(raw: list[dict[str, Any]]) -> tuple[Parameter, ...]:
    resolved = [resolve(p) for p in raw]
    return tuple(
        Parameter(p["name"], p["in"], bool(p.get("required")), p.get("schema", {}))
        for p in resolved
    )


@cache
def operations() -> tuple[Operation, ...]:
    """Every (path, method) the description defines, with path-level parameters merged in."""
    found = []
    for path, item in load_description()["paths"].items():
        shared = _parameters(item.get("parameters", []))
        for method in HTTP_METHODS:
            if method not in item:
                continue
            op = item[method]
            own = _parameters(op.get("parameters", []))
            names = {(p.name, p.location) for p in own}
            merged = own + tuple(p for p in shared if (p.name, p.location) not in names)
            found.append(
                Operation(
                    path=path,
                    method=method.upper(),
                    operation_id=op["operationId"],
                    parameters=merged,
                    has_body="requestBody" in op,
                    responses={code: resolve(r) for code, r in op["responses"].items()},
                )
            )
    return tuple(found)


@cache
def validator(schema_key: str) -> Draft202012Validator:
    """A JSON Schema validator for one schema of the description (OpenAPI 3.1 = 2020-12)."""
    for op in operations():
        for status in op.responses:
            schema = op.body_schema(int(status))
            if schema is not None and f"{op.operation_id}:{status}" == schema_key:
                return Draft202012Validator(schema)
    raise KeyError(schema_key)


def response_errors(op: Operation, status: int, body: Any) -> list[str]:
    """Where ``body`` disagrees with the description's schema for this response (none: [])."""
    if op.body_schema(status) is None:
        return [f"{op.operation_id} does not document status {status}"]
    checker = validator(f"{op.operation_id}:{status}")
    return [f"{'/'.join(map(str, e.path))}: {e.message}" for e in checker.iter_errors(body)]

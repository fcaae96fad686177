"""docs/openapi.yaml is a valid OpenAPI 3.1 document and describes exactly the routes served.

The route comparison builds the real app (over a throwaway SQLite file) and
reads Flask's URL map, so adding, removing or renaming an endpoint without
updating the published description fails here. The fuzz test
(``test_fuzz``) separately checks that the bodies the server sends match the
description's schemas.
"""

from __future__ import annotations

import re

import pytest
from openapi_spec_validator import validate

from server.app import create_app
from server.config import ServerConfig
from server.store import Store
from tests.reliability.fuzz_openapi import load_description, operations

# Flask adds HEAD wherever GET is; the description says so once, in its introduction.
IMPLICIT_METHODS = {"HEAD"}


def _flask_path(rule: str) -> str:
    """'/<api_root>/x/' -> '/{api_root}/x/' (no converters are used by the server)."""
    return re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule)


@pytest.fixture(scope="module")
def served_routes(tmp_path_factory) -> set[tuple[str, str]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('openapi') / 'routes.sqlite3'}"
    store = Store(url)
    try:
        store.migrate()
        app = create_app(
            ServerConfig(database_url=url, cursor_secret="routes-only-" + "x" * 16), store
        )
        return {
            (_flask_path(rule.rule), method)
            for rule in app.url_map.iter_rules()
            for method in rule.methods or ()
            # The analyst console (/console/) is HTML for people, not API: docs/console.md;
            # /-/ are the operator URLs (metrics, probes): docs/server.md.
            if method not in IMPLICIT_METHODS and not rule.rule.startswith(("/console", "/-/"))
        }
    finally:
        store.close()


def test_description_is_valid_openapi_3_1():
    document = load_description()
    assert document["openapi"].startswith("3.1")
    validate(document)  # raises with the first violation


def test_every_served_route_is_described_and_nothing_else(served_routes):
    described = {(op.path, op.method) for op in operations()}
    assert served_routes - described == set(), "served but not described"
    assert described - served_routes == set(), "described but not served"


def test_path_parameters_match_the_route_variables():
    for op in operations():
        declared = {p.name for p in op.params("path")}
        assert declared == set(op.path_names), op.operation_id
        assert all(p.required for p in op.params("path")), op.operation_id


def test_every_operation_documents_auth_errors_limits_and_its_success():
    for op in operations():
        codes = set(op.responses)
        assert {"401", "406", "429"} <= codes, op.operation_id
        assert codes & {"200", "202"}, op.operation_id
        for code in op.responses:
            if code.startswith(("4", "5")):
                schema = op.body_schema(int(code))
                assert schema is not None and "http_status" in schema["properties"], (
                    op.operation_id,
                    code,
                )


def test_filtering_endpoints_list_the_filters_the_server_accepts():
    """The query parameters per endpoint are those ``server.taxii.filters`` allows."""
    from server.taxii import filters

    allowed = {
        "getObjects": filters.COLLECTION_LISTING,
        "getManifest": filters.COLLECTION_LISTING,
        "getObject": filters.SINGLE_OBJECT,
        "getObjectVersions": filters.VERSIONS_LISTING,
        "deleteObject": filters.DELETION,
    }
    by_id = {op.operation_id: op for op in operations()}
    for operation_id, names in allowed.items():
        assert {p.name for p in by_id[operation_id].params("query")} == set(names), operation_id
    others = set(by_id) - set(allowed)
    assert all(not by_id[name].params("query") for name in others)

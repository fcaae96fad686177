"""Fixtures for the store tests: a real SQLite file and a real PostgreSQL database.

Every test that takes ``store_url`` (or ``store``) runs twice, once per
backend. PostgreSQL tests get a database created for this test session
(``dx_test_<pid>_<random>``, dropped at the end) and a fresh schema per test.
When PostgreSQL cannot be reached the tests fail, unless DX_SKIP_PG=1 says to
skip them.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

from server.store import Store
from server.store.types import ApiRootInfo, CollectionInfo
from tests.store.store_helpers import API_ROOT, COLLECTION_ID, OTHER_COLLECTION_ID

DEFAULT_PG_URL = "postgresql+psycopg://root@127.0.0.1:5432/test"


def _libpq_url(sqlalchemy_url: str) -> str:
    return (
        make_url(sqlalchemy_url).set(drivername="postgresql").render_as_string(hide_password=False)
    )


PG_FIXTURES = frozenset({"pg_session_database", "pg_url"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that asks for a PostgreSQL fixture directly as ``postgres``.

    Without this, ``-m "not postgres"`` would still run such a test and then fail
    (or skip) on a machine without PostgreSQL; the ``store_url`` parameter carries
    its own mark.
    """
    for item in items:
        if PG_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture(scope="session")
def pg_session_database() -> Iterator[str]:
    """SQLAlchemy URL of a PostgreSQL database that exists for this test session only."""
    admin_url = os.environ.get("DX_TEST_PG_URL", DEFAULT_PG_URL)
    try:
        admin = psycopg.connect(_libpq_url(admin_url), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as error:
        if os.environ.get("DX_SKIP_PG") == "1":
            pytest.skip(f"PostgreSQL unreachable and DX_SKIP_PG=1: {error}")
        pytest.fail(
            f"PostgreSQL is unreachable at {admin_url} ({error}); start it, set "
            "DX_TEST_PG_URL, or set DX_SKIP_PG=1 to skip the PostgreSQL tests"
        )
    name = f"dx_test_{os.getpid()}_{secrets.token_hex(4)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_libpq_url(admin_url), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def pg_url(pg_session_database: str) -> Iterator[str]:
    """A URL whose connections work in a schema of their own, created empty for one test."""
    schema = f"t_{secrets.token_hex(6)}"
    with psycopg.connect(_libpq_url(pg_session_database), autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    url = make_url(pg_session_database).update_query_dict({"options": f"-csearch_path={schema}"})
    try:
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_libpq_url(pg_session_database), autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
    ]
)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database, once as a SQLite file and once as a PostgreSQL schema."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'store.db'}"
    return request.getfixturevalue("pg_url")


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    """A migrated store with one API root and two collections."""
    opened = Store(store_url)
    opened.migrate()
    opened.add_api_root(ApiRootInfo(name=API_ROOT, title="Exchange"))
    opened.add_collection(CollectionInfo(id=COLLECTION_ID, api_root=API_ROOT, title="Main"))
    opened.add_collection(CollectionInfo(id=OTHER_COLLECTION_ID, api_root=API_ROOT, title="Other"))
    try:
        yield opened
    finally:
        opened.close()

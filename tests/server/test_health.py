"""Liveness and readiness probes of a real node, with the database taken away and given back.

``/-/healthz`` answers while the process serves, whatever the database does;
``/-/readyz`` answers 200 only while the database answers and its schema is
at this code's migration, and says which check failed otherwise, within
seconds (connect and statement timeouts), never hanging. The shared system
PostgreSQL cluster is never stopped here: on PostgreSQL the node's database
is dropped and recreated instead.
"""

from __future__ import annotations

import sqlite3
import time
import uuid
from collections.abc import Callable

import psycopg
import pytest
import requests

from server.config import ServerConfig, is_valid_api_root_name
from server.observability.readiness import TIMEOUT_SECONDS, ReadinessCheck
from server.store import Store
from server.store.migrate import head_revision
from server.store.types import CollectionInfo
from tests.support.ports import free_port
from tests.support.server import PartnerSpec, _admin_conninfo, served

FEED = str(uuid.uuid4())
LAB_B = "identity--bbbbbbbb-2222-4222-8222-bbbbbbbbbbbb"
HANG_GUARD_S = 60.0


def _serve(tmp_path, backend):
    return served(
        tmp_path,
        backend,
        [CollectionInfo(FEED, "exchange", "Feed")],
        [PartnerSpec("lab-b", LAB_B, {FEED: (True, False)})],
        workers=1,
    )


def readyz(base_url: str) -> tuple[int, dict]:
    started = time.monotonic()
    response = requests.get(f"{base_url}/-/readyz", timeout=30)
    # Never near a hang: the probe's own timeouts are a few seconds.
    assert time.monotonic() - started < 4 * TIMEOUT_SECONDS + 5
    assert response.headers["Content-Type"] == "application/json"
    return response.status_code, response.json()


def wait_for_readiness(
    base_url: str, status: int, check: Callable[[dict], bool] = lambda _: True
) -> dict:
    """Poll until readyz answers ``status`` with a body ``check`` accepts (results cache 1 s)."""
    deadline = time.monotonic() + HANG_GUARD_S
    while True:
        code, body = readyz(base_url)
        if code == status and check(body):
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"readyz never answered {status} as expected; last: {code} {body}")
        time.sleep(0.1)


def assert_alive(base_url: str) -> None:
    """Liveness holds, and the metrics are still served (without what needs the database)."""
    response = requests.get(f"{base_url}/-/healthz", timeout=30)
    assert response.status_code == 200 and response.json() == {"status": "ok"}
    scrape = requests.get(f"{base_url}/-/metrics", timeout=30)
    assert scrape.status_code == 200 and "dx_http_requests_total{" in scrape.text


def test_readiness_follows_the_sqlite_database(tmp_path):
    with _serve(tmp_path, "sqlite") as node:
        path = node.database_url.removeprefix("sqlite:///")
        # The probes need no credentials; TAXII still does.
        assert_alive(node.base_url)
        code, body = readyz(node.base_url)
        assert code == 200, body
        assert body == {"status": "ready", "checks": {"database": "ok", "migrations": "ok"}}
        assert requests.get(f"{node.base_url}/taxii2/", timeout=30).status_code == 401
        unknown = requests.get(f"{node.base_url}/-/nothing-here", timeout=30)
        assert unknown.status_code == 404 and unknown.json()["http_status"] == "404"
        # A schema behind this code (an older backup restored, init not run).
        with sqlite3.connect(path) as db:
            db.execute("UPDATE alembic_version SET version_num = 'older'")
        body = wait_for_readiness(node.base_url, 503)
        assert body["checks"]["database"] == "ok"
        assert (
            "older" in body["checks"]["migrations"]
            and head_revision() in body["checks"]["migrations"]
        )
        assert_alive(node.base_url)
        with sqlite3.connect(path) as db:
            db.execute("UPDATE alembic_version SET version_num = ?", (head_revision(),))
        wait_for_readiness(node.base_url, 200)
        # The database file gone (a lost volume): unreachable, and not recreated empty.
        moved = tmp_path / "moved.sqlite3"
        (tmp_path / "exchange.sqlite3").rename(moved)
        body = wait_for_readiness(node.base_url, 503)
        assert body["checks"]["database"].startswith("unreachable")
        assert not (tmp_path / "exchange.sqlite3").exists()
        assert_alive(node.base_url)
        moved.rename(tmp_path / "exchange.sqlite3")
        wait_for_readiness(node.base_url, 200)


@pytest.mark.postgres
def test_readiness_follows_the_postgresql_database(tmp_path):
    with _serve(tmp_path, "postgres") as node:
        wait_for_readiness(node.base_url, 200)
        name = node.database_url.rsplit("/", 1)[1]
        conninfo, _ = _admin_conninfo()
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as admin:
            admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            body = wait_for_readiness(node.base_url, 503, lambda b: b["checks"]["database"] != "ok")
            assert body["checks"]["database"].startswith("unreachable")
            assert_alive(node.base_url)
            # Back, but empty: reachable, migrations pending.
            admin.execute(f'CREATE DATABASE "{name}"')
            body = wait_for_readiness(node.base_url, 503, lambda b: b["checks"]["database"] == "ok")
            assert body["checks"]["migrations"].startswith("at none")
            with Store(node.database_url) as store:
                store.migrate()
            wait_for_readiness(node.base_url, 200)


def test_readiness_answers_fast_when_nothing_listens():
    url = f"postgresql+psycopg://root@127.0.0.1:{free_port()}/absent"
    with Store("sqlite://") as store:
        check = ReadinessCheck(url, store)
        started = time.monotonic()
        outcome = check.check()
    assert time.monotonic() - started < TIMEOUT_SECONDS + 5
    assert not outcome.ready and outcome.checks["database"].startswith("unreachable")
    assert "127.0.0.1" not in str(outcome.document())  # no connection details to strangers


def test_no_api_root_name_can_shadow_the_operator_urls():
    assert not is_valid_api_root_name("-")
    assert is_valid_api_root_name("exchange")
    with pytest.raises(ValueError):
        ServerConfig(default_api_root="-")

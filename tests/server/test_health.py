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
from server.observability.replica import lag_verdict, replay_lag
from server.store import Store
from server.store.migrate import head_revision
from server.store.types import CollectionInfo
from tests.support.ports import free_port
from tests.support.server import PartnerSpec, _admin_conninfo, postgres_database, served

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


def test_replay_lag_rule():
    # Not a standby (a primary, a plain second database): it is the data.
    assert replay_lag(False, None, None) == 0
    assert replay_lag(False, None, 500.0) == 0
    # Everything received replayed: caught up, however old the last commit (an idle primary).
    assert replay_lag(True, True, 500.0) == 0
    assert replay_lag(True, True, None) == 0
    # WAL waiting to be replayed, or none streamed: the age of the last replayed commit.
    assert replay_lag(True, False, 45.2) == 45.2
    assert replay_lag(True, None, 3.0) == 3.0
    assert replay_lag(True, False, -0.4) == 0  # the standby's clock behind the primary's
    assert replay_lag(True, False, None) is None  # no commit replayed since it started
    assert lag_verdict(0.0, 30) == "ok"
    assert lag_verdict(30.0, 30) == "ok"
    assert lag_verdict(45.2, 30) == "replay lag 45 s over 30 s"
    assert lag_verdict(1.46, 1) == "replay lag 1.5 s over 1 s"
    assert lag_verdict(2.0, 0.5) == "replay lag 2.0 s over 0.5 s"
    assert lag_verdict(None, 30).startswith("replay lag unknown")


@pytest.mark.postgres
def test_a_replica_that_is_not_a_standby_has_no_lag():
    # The lag statement runs on a real PostgreSQL; not in recovery, its lag is 0.
    with postgres_database() as url:
        with Store(url) as store:
            store.migrate()
        with Store(url, replica_url=url) as store:
            check = ReadinessCheck(url, store, replica_url=url, replica_max_lag_seconds=0.001)
            outcome = check.check()
    assert outcome.ready, outcome.checks
    assert outcome.checks == {"database": "ok", "migrations": "ok", "replica": "ok"}
    assert outcome.replica_lag_seconds == 0


def test_an_unreachable_replica_makes_the_node_not_ready(tmp_path):
    url = f"sqlite:///{tmp_path / 'primary.sqlite3'}"
    replica = f"postgresql+psycopg://root@127.0.0.1:{free_port()}/absent"
    with Store(url) as store:
        store.migrate()
        check = ReadinessCheck(url, store, replica_url=replica)
        started = time.monotonic()
        outcome = check.check()
    assert time.monotonic() - started < TIMEOUT_SECONDS + 5
    assert outcome.checks == {
        "database": "ok",
        "migrations": "ok",
        "replica": "unreachable (OperationalError)",
    }
    assert not outcome.ready and outcome.replica_lag_seconds is None
    assert "127.0.0.1" not in str(outcome.document())


def test_no_api_root_name_can_shadow_the_operator_urls():
    assert not is_valid_api_root_name("-")
    assert is_valid_api_root_name("exchange")
    with pytest.raises(ValueError):
        ServerConfig(default_api_root="-")

"""A node's readiness follows its PostgreSQL primary: false while it is stopped, true after.

The topology's primary is the test's own cluster, so it can be stopped
(``pg_ctl stop -m fast``) and started again without touching anything else.
Meanwhile the node stays alive (``/-/healthz`` answers 200 throughout: a
load balancer must not restart a node because its database is away), its
``/-/readyz`` turns 503, and after the restart it is ready again and serves
partners through nginx without being restarted itself.

A replica node (``replica_database_url``) is ready only while its replica
answers and is at most ``replica_max_lag_seconds`` behind: with replay paused
on the replica while the primary commits, its ``/-/readyz`` turns 503 naming
the lag; after replay resumes it is 200 again; with the replica cluster
stopped it is 503 ("unreachable"), and 200 once the replica is back.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

import pytest
import requests

from server.store.types import CollectionInfo
from tests.scale.clients import wait_for
from tests.support.server import TAXII, PartnerSpec, basic
from tests.support.topology import API_ROOT, topology

pytestmark = pytest.mark.slow

COLLECTION = str(uuid.uuid4())


def _status(url: str) -> int:
    try:
        return requests.get(url, timeout=10).status_code
    except requests.RequestException:
        return 0


def test_readiness_follows_the_primary(tmp_path: Path) -> None:
    partner = PartnerSpec("lab-a", f"identity--{uuid.uuid4()}", {COLLECTION: (True, True)})
    collections = [CollectionInfo(id=COLLECTION, api_root=API_ROOT, title="Indicators")]
    with topology(tmp_path, nodes=1, partners=[partner], collections=collections) as t:
        node = t.nodes[0].url
        readyz, healthz = f"{node}/-/readyz", f"{node}/-/healthz"
        assert _status(readyz) == 200
        assert requests.get(readyz, timeout=10).json()["status"] == "ready"

        t.primary.stop("fast")
        # Each worker keeps its verdict for a second: wait for one that has looked since.
        answers: list[requests.Response] = []

        def not_ready() -> bool:
            answers.append(requests.get(readyz, timeout=10))
            return answers[-1].status_code == 503

        wait_for("readiness false with the primary stopped", not_ready)
        document = answers[-1].json()
        assert document["status"] == "not ready"
        assert document["checks"]["database"].startswith("unreachable")
        assert _status(healthz) == 200

        t.primary.start()
        wait_for("readiness true with the primary back", lambda: _status(readyz) == 200)
        assert _status(healthz) == 200

        def collection_served() -> bool:
            answer = requests.get(
                t.collection_url(COLLECTION),
                headers={"Authorization": basic("lab-a", t.keys["lab-a"]), "Accept": TAXII},
                verify=t.ca_file,
                timeout=30,
            )
            return answer.status_code == 200

        wait_for("a partner served through nginx after the restart", collection_served)


def _readyz_until(url: str, status: int, what: str) -> dict:
    """Poll ``url`` until it answers ``status`` (each worker keeps its verdict 1 s); its body."""
    answers: list[requests.Response] = []

    def answered() -> bool:
        try:
            answers.append(requests.get(url, timeout=10))
        except requests.RequestException:
            return False
        return answers[-1].status_code == status

    wait_for(what, answered)
    return answers[-1].json()


def _replica_lag_metric(node: str) -> float | None:
    scrape = requests.get(f"{node}/-/metrics", timeout=10)
    assert scrape.status_code == 200
    found = re.search(r"^dx_replica_replay_lag_seconds ([0-9.e+-]+)$", scrape.text, re.M)
    return float(found.group(1)) if found else None


def test_readiness_follows_the_replica(tmp_path: Path) -> None:
    with topology(
        tmp_path,
        nodes=1,
        read_from_replica=True,
        workers=1,
        node_settings={"replica_max_lag_seconds": 1},
    ) as t:
        replica = t.replica
        assert replica is not None
        node = t.nodes[0].url
        readyz, healthz = f"{node}/-/readyz", f"{node}/-/healthz"
        # A commit replayed: the replica then knows the time of the last commit it applied.
        t.primary.sql("CREATE TABLE readiness_probe (n integer)")
        t.wait_replica_caught_up()
        body = _readyz_until(readyz, 200, "a caught-up replica ready")
        assert body["checks"] == {"database": "ok", "migrations": "ok", "replica": "ok"}
        # Still ready once that commit is older than the threshold (and the 1 s verdict
        # cache): caught up means nothing waits to be replayed, however idle the primary.
        wait_for(
            "the last replayed commit older than 2.5 s",
            lambda: replica.sql(
                "SELECT now() - pg_last_xact_replay_timestamp() > interval '2.5 s'",
                database="postgres",
            )[0][0],
        )
        body = requests.get(readyz, timeout=10).json()
        assert body["checks"]["replica"] == "ok", body
        assert _replica_lag_metric(node) == 0

        # Replay paused while the primary commits: WAL received, not replayed.
        replica.sql("SELECT pg_wal_replay_pause()", database="postgres")
        wait_for(
            "replica replay paused",
            lambda: (
                replica.sql("SELECT pg_get_wal_replay_pause_state()", database="postgres")[0][0]
                == "paused"
            ),
        )
        t.primary.sql("INSERT INTO readiness_probe VALUES (1)")
        body = _readyz_until(readyz, 503, "readiness false with replay paused behind writes")
        assert body["status"] == "not ready"
        assert body["checks"]["database"] == "ok"
        assert re.fullmatch(r"replay lag [0-9.]+ s over 1 s", body["checks"]["replica"]), body
        assert _status(healthz) == 200
        lag = _replica_lag_metric(node)
        assert lag is not None and lag > 1

        replica.sql("SELECT pg_wal_replay_resume()", database="postgres")
        body = _readyz_until(readyz, 200, "readiness true after replay resumed")
        assert body["checks"]["replica"] == "ok"
        t.wait_replica_caught_up()

        # The replica cluster stopped: unreachable, the node alive, the primary fine.
        replica.stop("fast")
        body = _readyz_until(readyz, 503, "readiness false with the replica stopped")
        assert body["checks"]["database"] == "ok"
        assert body["checks"]["replica"].startswith("unreachable"), body
        assert "127.0.0.1" not in str(body)
        assert _status(healthz) == 200
        assert _replica_lag_metric(node) is None

        # Restarted, it resumes streaming from a segment start before its replay position.
        replica.start()
        body = _readyz_until(readyz, 200, "readiness true with the replica back")
        assert body["checks"]["replica"] == "ok"

"""A node's readiness follows its PostgreSQL primary: false while it is stopped, true after.

The topology's primary is the test's own cluster, so it can be stopped
(``pg_ctl stop -m fast``) and started again without touching anything else.
Meanwhile the node stays alive (``/-/healthz`` answers 200 throughout: a
load balancer must not restart a node because its database is away), its
``/-/readyz`` turns 503, and after the restart it is ready again and serves
partners through nginx without being restarted itself.
"""

from __future__ import annotations

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

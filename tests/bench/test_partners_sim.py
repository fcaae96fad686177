"""The partner simulation, small: a hundred partners, each with its own key and cursors.

``python3 -m bench.partners_sim`` runs a thousand partners for minutes and
prints latencies for people (docs/scaling.md). What CI proves, at a scale
that takes seconds, is what must hold at any scale: no 5xx, every object a
publisher saw acknowledged reaches every partner allowed to read it (once),
and the server's own request counter moved by exactly the requests the
clients made, endpoint by endpoint and status by status.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.partners_sim.plan import SimPlan
from bench.partners_sim.run import run_against
from bench.partners_sim.target import behind_nginx
from bench.partners_sim.traffic import (
    ADD_OBJECTS,
    COLLECTIONS,
    GET_OBJECTS,
    MANIFEST,
    STATUS,
)

# 100 partners polling every 5 simulated minutes, 60x compressed: a poll each
# 5 s, so every partner polls about three times in the 15 s of load, and ten
# publishers POST about twice each.
PLAN = SimPlan(
    partners=100,
    duration_s=15,
    poll_minutes=5,
    time_scale=60,
    objects_per_day=20_000,
    batch=10,
    manifest_share=0.1,
    threads=16,
)


@pytest.mark.postgres
def test_hundred_partners_through_nginx_lose_nothing_and_metrics_agree(tmp_path: Path) -> None:
    # Three nodes behind nginx with TLS: the metrics are summed over the nodes.
    with behind_nginx(tmp_path, PLAN, nodes=3, workers=2, threads=2) as target:
        figures = run_against(target, PLAN, require_metrics=True)
    requested = {row["endpoint"] for row in figures["requests"]}
    assert requested == {COLLECTIONS, GET_OBJECTS, MANIFEST, ADD_OBJECTS, STATUS}, requested
    assert figures["server_errors"] == 0, figures["errors_sample"]
    assert figures["transport_errors"] == 0, figures["errors_sample"]
    assert figures["acknowledged_objects"] >= PLAN.batch, figures
    assert figures["lost_objects"] == 0 and figures["lost_pairs"] == 0, figures
    assert figures["duplicates"] == 0, figures
    # Each node's dx_http_requests_total moved by exactly the requests the clients made.
    assert figures["metrics_match"] is True, figures["metrics_differences"]
    assert figures["healthy"], figures["problems"]

"""Where the simulated partners send their requests, and how the exchange behind it is set up.

The simulation only needs a ``Target``: a base URL (plain HTTP to one node, or
HTTPS through a load balancer, with the CA file to trust), the API root, the
collections, every partner's credentials, and the loopback metrics URL of each
node (``/-/metrics`` is served to loopback only, so it is scraped from each
node directly, never through the load balancer). Starting the exchange is a
separate concern: ``single_node`` starts one real server (gunicorn) on a fresh
PostgreSQL database with the test harness; a multi-node topology yields the
same ``Target``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from bench.partners_sim.plan import SimPlan
from server.store.types import CollectionInfo
from tests.support.server import PartnerSpec, served

API_ROOT = "exchange"


@dataclass
class Target:
    """An exchange ready for the simulation, however it was started."""

    base_url: str  # no trailing slash, e.g. https://127.0.0.1:8443
    api_root: str
    collection_ids: list[str]  # index i is the plan's collection i
    keys: dict[str, str]  # partner id -> API key
    metrics_urls: list[str] = field(default_factory=list)  # one per node, loopback
    verify: bool | str = True  # CA file for HTTPS
    description: str = ""
    database_urls: list[str] = field(default_factory=list)  # to meter their backends' CPU
    server_pids: list[int] = field(default_factory=list)  # each node's gunicorn master
    postmaster_pids: list[int] = field(default_factory=list)  # clusters owned by this run
    # Called between the load and the final sync: with reads from a replica, waits
    # until it has replayed every acknowledged write, so the final view is complete.
    settle: Callable[[], None] | None = None

    def api_root_url(self) -> str:
        return f"{self.base_url}/{self.api_root}/"


def collections_for(plan: SimPlan) -> list[CollectionInfo]:
    return [
        CollectionInfo(str(uuid.uuid4()), API_ROOT, plan.collection_title(index))
        for index in range(plan.collections)
    ]


def partner_specs(plan: SimPlan, collections: list[CollectionInfo]) -> list[PartnerSpec]:
    """Every partner with its own identity and the grants the plan gives it."""
    specs = []
    for number in range(plan.partners):
        grants: dict[str, tuple[bool, bool]] = {}
        writes = plan.writes_to(number)
        for index in plan.readable(number):
            grants[collections[index].id] = (True, index == writes)
        specs.append(PartnerSpec(plan.partner_id(number), plan.identity_ref(number), grants))
    return specs


@contextmanager
def single_node(
    directory: Path, plan: SimPlan, *, backend: str = "postgres", workers: int = 2, threads: int = 4
) -> Iterator[Target]:
    """One ``python -m server.wsgi`` on a fresh database, every partner seeded."""
    collections = collections_for(plan)
    with served(
        directory,
        backend,
        list(collections),
        partner_specs(plan, collections),
        api_root=API_ROOT,
        workers=workers,
        threads=threads,
    ) as running:
        assert running.server._process is not None
        yield Target(
            base_url=running.base_url,
            api_root=API_ROOT,
            collection_ids=[c.id for c in collections],
            keys=running.keys,
            metrics_urls=[f"{running.base_url}/-/metrics"],
            description=(
                f"1 node ({workers} workers x {threads} threads, plain HTTP) on {backend}"
            ),
            database_urls=[running.database_url],
            server_pids=[running.server._process.pid],
        )


@contextmanager
def behind_nginx(
    directory: Path,
    plan: SimPlan,
    *,
    nodes: int = 3,
    workers: int = 2,
    threads: int = 4,
    read_from_replica: bool = False,
) -> Iterator[Target]:
    """N nodes behind nginx with TLS on a test-owned PostgreSQL (``tests/support/topology.py``).

    Partners talk HTTPS to nginx; the metrics are scraped from each node
    directly, on loopback, as an operator's Prometheus would.
    """
    from tests.support.topology import topology

    collections = collections_for(plan)
    with topology(
        directory,
        nodes=nodes,
        partners=partner_specs(plan, collections),
        collections=list(collections),
        read_from_replica=read_from_replica,
        workers=workers,
        threads=threads,
    ) as running:
        pids = []
        for node in running.nodes:
            assert node.process._process is not None
            pids.append(node.process._process.pid)
        databases, clusters = [running.database_url], [running.primary]
        if running.replica is not None and read_from_replica:
            databases.append(running.replica.database_url())
            clusters.append(running.replica)
        yield Target(
            base_url=running.base_url.rstrip("/"),
            api_root=API_ROOT,
            collection_ids=[c.id for c in collections],
            keys=running.keys,
            metrics_urls=[f"{node.url}/-/metrics" for node in running.nodes],
            verify=str(running.ca_file),
            description=(
                f"nginx (TLS) -> {nodes} nodes ({workers} workers x {threads} threads) on "
                "PostgreSQL" + (" with reads from a streaming replica" if read_from_replica else "")
            ),
            database_urls=databases,
            server_pids=pids,
            postmaster_pids=[_postmaster_pid(cluster.data_dir) for cluster in clusters],
            settle=running.wait_replica_caught_up if read_from_replica else None,
        )


def _postmaster_pid(data_dir: Path) -> int:
    """The cluster's postmaster: the first line of ``postmaster.pid`` in its data directory."""
    return int((data_dir / "postmaster.pid").read_text().split()[0])

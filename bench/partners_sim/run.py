"""Simulate P partner labs polling and publishing against a real exchange; print latencies.

    python3 -m bench.partners_sim                       # 1,000 partners, 120 s
    python3 -m bench.partners_sim --partners 100 --duration 20 --json sim.json

Starts the exchange (three nodes behind nginx with TLS on a PostgreSQL
cluster of its own when nginx and PostgreSQL's server binaries are installed,
otherwise, or with ``--single-node``, one node on a fresh database of the
PostgreSQL server the tests use), registers every partner with its own key
and grants, runs the load phase for ``--duration`` seconds, then a final sync
of every partner, and prints p50, p95 and p99 latency per endpoint, the
requests by status, 5xx, lost objects, and whether the server's
``dx_http_requests_total`` deltas equal the client's counts. Exits 1 if
anything that must hold did not.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from bench.partners_sim import report
from bench.partners_sim.metrics import Key, MetricsUnavailable, compare, scrape
from bench.partners_sim.plan import SimPlan
from bench.partners_sim.simulate import simulate
from bench.partners_sim.target import Target, behind_nginx, single_node


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    defaults = SimPlan()
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--partners", type=int, default=defaults.partners)
    add("--duration", type=float, default=defaults.duration_s, help="seconds of load")
    add("--poll-minutes", type=float, default=defaults.poll_minutes)
    add("--time-scale", type=float, default=defaults.time_scale, help="simulated s per real s")
    add("--objects-per-day", type=float, default=defaults.objects_per_day)
    add("--publisher-share", type=float, default=defaults.publisher_share)
    add("--batch", type=int, default=defaults.batch, help="objects per POST")
    add("--collections", type=int, default=defaults.collections)
    add("--limit", type=int, default=defaults.page_limit, help="page size asked for")
    add("--manifest-share", type=float, default=defaults.manifest_share)
    add("--threads", type=int, default=defaults.threads, help="client threads")
    add("--seed", type=int, default=defaults.seed)
    where = parser.add_mutually_exclusive_group()
    where.add_argument(
        "--nginx",
        action="store_true",
        help="--nodes nodes behind nginx with TLS (the default when nginx and the "
        "PostgreSQL server binaries are installed)",
    )
    where.add_argument("--single-node", action="store_true", help="one node, plain HTTP, no nginx")
    add("--nodes", type=int, default=3, help="nodes behind nginx")
    add("--read-replica", action="store_true", help="behind nginx: nodes read from a replica")
    add("--backend", choices=("postgres", "sqlite"), default="postgres", help="one node's")
    add("--workers", type=int, default=2, help="gunicorn workers per node")
    add("--server-threads", type=int, default=4, help="threads per gunicorn worker")
    add("--require-metrics", action="store_true", help="fail if a node has no /-/metrics")
    add("--json", type=Path, help="also write the figures here")
    return parser.parse_args(argv)


def plan_from(args: argparse.Namespace) -> SimPlan:
    return SimPlan(
        partners=args.partners,
        duration_s=args.duration,
        poll_minutes=args.poll_minutes,
        time_scale=args.time_scale,
        objects_per_day=args.objects_per_day,
        publisher_share=args.publisher_share,
        batch=args.batch,
        collections=args.collections,
        page_limit=args.limit,
        manifest_share=args.manifest_share,
        threads=args.threads,
        seed=args.seed,
    )


def topology_available() -> bool:
    """Whether nginx and the PostgreSQL server binaries are here (tests/support/topology.py)."""
    from tests.support.topology import NGINX, postgres_bin_dir

    return os.access(NGINX, os.X_OK) and postgres_bin_dir() is not None


@contextmanager
def started_target(args: argparse.Namespace, plan: SimPlan) -> Iterator[Target]:
    with tempfile.TemporaryDirectory(prefix="dx-partners-sim-") as directory:
        if args.nginx or (not args.single_node and topology_available()):
            started = behind_nginx(
                Path(directory),
                plan,
                nodes=args.nodes,
                workers=args.workers,
                threads=args.server_threads,
                read_from_replica=args.read_replica,
            )
        else:
            started = single_node(
                Path(directory),
                plan,
                backend=args.backend,
                workers=args.workers,
                threads=args.server_threads,
            )
        with started as target:
            yield target


def run_against(target: Target, plan: SimPlan, *, require_metrics: bool = False) -> dict[str, Any]:
    """Scrape, simulate, scrape again; print the report and return its figures (as --json)."""
    before: Counter[Key] | None
    try:
        before = scrape(target.metrics_urls, target.verify)
    except MetricsUnavailable as error:
        if require_metrics:
            raise
        before, note = None, f"no metrics endpoint: {error}"
    run = simulate(plan, target)
    comparison = None
    if before is not None:
        after = scrape(target.metrics_urls, target.verify)
        comparison = compare(before, after, report.client_counts(run))
        note = f"{len(target.metrics_urls)} node(s) scraped"
    verdict = report.judge(run, comparison, note)
    print(report.render(run, verdict, target.description), flush=True)
    figures = report.as_dict(run, verdict, target.description)
    figures["load_average"] = os.getloadavg()
    figures["healthy"] = verdict.healthy()
    return figures


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    plan = plan_from(args)
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}", flush=True)
    with started_target(args, plan) as target:
        figures = run_against(target, plan, require_metrics=args.require_metrics)
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    if args.json is not None:
        args.json.write_bytes(orjson.dumps(figures, option=orjson.OPT_INDENT_2))
    return 0 if figures["healthy"] else 1

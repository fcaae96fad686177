"""Print the sustained mixed-load table for a longer run than CI makes.

Starts a real server (gunicorn, --workers x --threads) on a fresh SQLite file
or PostgreSQL database and runs publisher, poller and exporter processes
against it for --seconds (the same clients as tests/reliability/test_load.py),
then prints requests/s, latency p50/p95/p99/max per kind, statuses, and the
consistency checks (lost objects, pollers identical to the server, 5xx).

    python3 bench/load.py sqlite --seconds 180
    python3 bench/load.py postgres --seconds 180 --publishers 3 --pollers 3
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.reliability.load_run import LoadPlan, run_load
from tests.reliability.test_load import load_server


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("backend", nargs="?", default="sqlite", choices=("sqlite", "postgres"))
    parser.add_argument("--seconds", type=float, default=180)
    parser.add_argument("--publishers", type=int, default=2)
    parser.add_argument("--pollers", type=int, default=2)
    parser.add_argument("--exporters", type=int, default=1)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--max-envelope", type=int, default=50)
    args = parser.parse_args()
    plan = LoadPlan(
        seconds=args.seconds,
        publishers=args.publishers,
        pollers=args.pollers,
        exporters=args.exporters,
        max_envelope=args.max_envelope,
    )
    with (
        tempfile.TemporaryDirectory() as directory,
        load_server(Path(directory), args.backend, plan, args.workers, args.threads) as (
            collection_url,
            keys,
            identities,
            _url,
        ),
    ):
        report = run_load(plan, collection_url, keys, identities)
    print(
        report.table(
            f"{args.backend}: {args.seconds:.0f} s, {args.workers} workers x {args.threads} "
            f"threads, {plan.publishers} publishers, {plan.pollers} pollers, "
            f"{plan.exporters} exporters"
        )
    )
    healthy = not (report.server_errors() or report.lost() or report.pollers_differing())
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())

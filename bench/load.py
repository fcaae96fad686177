"""Print the sustained mixed-load table for a longer run than CI makes.

Starts a real server (gunicorn, --workers x --threads) on a fresh SQLite file
or PostgreSQL database and runs publisher, poller and exporter processes
against it for --seconds (the same clients as tests/reliability/test_load.py),
then prints requests/s, latency p50/p95/p99/max per kind, statuses, and the
consistency checks (lost objects, pollers identical to the server, 5xx).

    python3 bench/load.py sqlite --seconds 180
    python3 bench/load.py postgres --seconds 180 --publishers 3 --pollers 3

``--login-cost`` instead prints the median cost of one login in the store:
the plain key check against the check that also reads the failed-login blocks
(it must stay one indexed query).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.store import Store
from server.store.rate_limits import LoginLimits
from tests.reliability.load_run import LoadPlan, run_load
from tests.reliability.test_load import load_server
from tests.support.server import database

IDENTITY = "identity--28d44c39-6065-5dc2-a4a8-28d2ba077bde"


def _median_us(call: Callable[[], object], rounds: int = 3000) -> float:
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1e6


def login_cost(backend: str) -> None:
    limits = LoginLimits(per_partner=20, per_address=50, window_us=300_000_000)
    with tempfile.TemporaryDirectory() as directory, database(backend, Path(directory)) as url:
        store = Store(url)
        store.migrate()
        key = store.add_partner("lab", "Lab", IDENTITY)
        for n in range(1000):  # a table with counters in it, as after an attack
            store.record_login_failure(f"guess-{n}", f"10.0.{n % 250}.{n // 250}", limits)
        plain = _median_us(lambda: store.authenticate("lab", key))
        checked = _median_us(lambda: store.check_login("lab", key, "192.0.2.1", limits))
        failure = _median_us(lambda: store.record_login_failure("x", "192.0.2.9", limits), 500)
        store.close()
    print(
        f"{backend}: login, key only {plain:.0f} us; with failed-login blocks {checked:.0f} us; "
        f"recording a failure {failure:.0f} us (medians)"
    )


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
    parser.add_argument("--login-cost", action="store_true")
    args = parser.parse_args()
    if args.login_cost:
        login_cost(args.backend)
        return 0
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

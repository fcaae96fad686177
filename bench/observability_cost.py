"""Print what observability costs: per request, and per scrape with many partners and workers.

Per request: the accounting every answered request pays in a gunicorn worker
(counter, histogram, a partner gauge, in multiprocess mode, plus the JSON log
line written to /dev/null), timed in a loop. Per scrape: ``/-/metrics``
rendering for W worker processes that each served P partners (every
partner's publish and poll gauges, requests on 8 endpoints), as one worker
renders it from the shared directory.

    python3 bench/observability_cost.py [--partners 1000] [--workers 8] [--runs 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

ENDPOINTS = [f"taxii_objects.endpoint{n}" for n in range(8)]


def per_request_us(metrics, loops: int) -> float:
    from server.observability import request_log

    request_log.configure(os.devnull)
    started = time.perf_counter()
    for n in range(loops):
        endpoint = ENDPOINTS[n % 8]
        metrics.requests.labels(endpoint, "GET", "200").inc()
        metrics.duration.labels(endpoint, "GET").observe(0.004)
        metrics.last_poll.labels(f"lab-{n % 1000}").set(time.time())
        request_log.emit(
            {
                "time": "2026-12-07T05:07:25.316073Z",
                "request_id": "0123456789abcdef0123456789abcdef",
                "method": "GET",
                "path": "/exchange/collections/2f0d/objects/",
                "endpoint": endpoint,
                "status": 200,
                "duration_ms": 4.81,
                "partner": "lab-b",
                "bytes": 51234,
                "remote_addr": "203.0.113.9",
                "user_agent": "python-requests/2.32.3",
                "pid": 4711,
            }
        )
    return (time.perf_counter() - started) / loops * 1e6


def fill_as_worker(partners: int) -> None:
    from server.observability.metrics import new_metrics

    metrics = new_metrics()
    for n in range(partners):
        metrics.last_publish.labels(f"lab-{n}").set(time.time())
        metrics.last_poll.labels(f"lab-{n}").set(time.time())
    for endpoint in ENDPOINTS:
        for status in ("200", "401", "404"):
            metrics.requests.labels(endpoint, "GET", status).inc()
        metrics.duration.labels(endpoint, "GET").observe(0.004)
    metrics.pool_size.set(5)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--partners", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        from server.observability.metrics import Exposition, new_metrics

        for _ in range(args.workers):
            pid = os.fork()
            if pid == 0:
                fill_as_worker(args.partners)
                os._exit(0)
            os.waitpid(pid, 0)
        metrics = new_metrics()
        exposition = Exposition(metrics, [])
        request_costs = [per_request_us(metrics, 20_000) for _ in range(args.runs)]
        scrape_ms, size = [], 0
        for _ in range(args.runs):
            started = time.perf_counter()
            size = len(exposition.render())
            scrape_ms.append((time.perf_counter() - started) * 1000)
    print(
        f"python3 bench/observability_cost.py --partners {args.partners} "
        f"--workers {args.workers} --runs {args.runs}"
    )
    print(
        f"per request (metrics + JSON log line): median {statistics.median(request_costs):.1f} us"
    )
    print(
        f"scrape of {args.workers} workers x {args.partners} partners: "
        f"median {statistics.median(scrape_ms):.0f} ms, {size / 1024:.0f} KiB"
    )


if __name__ == "__main__":
    main()

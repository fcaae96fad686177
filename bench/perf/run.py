"""Performance benchmark of the exchange at large N, and against medallion.

    python3 bench/perf/run.py --quick     # N = 10,000 on SQLite and PostgreSQL; < 2 min
    python3 bench/perf/run.py --full      # N = 10k, 100k, 1M; medallion 500..4,000
    python3 bench/perf/run.py --sizes 1000 --backends sqlite --medallion-sizes 500

For each backend and N: a fresh server (2 workers x 4 threads) and database,
the synthetic feed POSTed through the TAXII API, then the read workload (see
workload.py) and the peak RSS of every worker. Then medallion's memory backend
and this server (SQLite) at the same small sizes, with the same client code,
and the ratios. Prints the tables; ``--json`` keeps the figures and ``--plot``
draws page latency against N (``--full`` writes both where the docs use them).
PostgreSQL comes from $DX_TEST_PG_URL (default root@127.0.0.1:5432/test); each
run creates its own database and drops it afterwards.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.perf import report
from bench.perf.feed import SyntheticFeed
from bench.perf.servers import exchange_server, medallion_server
from bench.perf.workload import publish, reads

REPO = Path(__file__).resolve().parents[2]
FULL_JSON = REPO / "bench" / "perf" / "results-full.json"
FULL_PLOT = REPO / "docs" / "performance-page-latency.png"
BACKENDS = ("sqlite", "postgres")


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def measure_exchange(
    backend: str, n: int, repeats: int, workers: int, threads: int, objects: list[dict] | None
) -> dict:
    """Publish N versions to a fresh server on ``backend`` and run the read workload."""
    feed = SyntheticFeed(n)
    with (
        tempfile.TemporaryDirectory(prefix="dx-perf-") as directory,
        exchange_server(backend, Path(directory), workers, threads) as running,
    ):
        _log(f"{running.name} N={n:,}: publishing")
        cpu_before = running.cpu_seconds()
        published = publish(running.client, objects if objects is not None else feed.objects())
        published["server_cpu_s"] = running.cpu_seconds() - cpu_before
        versioned = feed.versioned_ids if objects is None else _versioned_ids(objects)
        _log(f"{running.name} N={n:,}: {published['objects_per_s']:,.0f} objects/s; settling")
        running.settle()
        _log(f"{running.name} N={n:,}: reading")
        cpu_before = running.cpu_seconds()
        figures = reads(running.client, versioned, repeats, small_page_sync=True)
        figures["server_cpu_s"] = running.cpu_seconds() - cpu_before
        memory = running.peak_rss_mb()
    return {
        "server": running.name,
        "n": n,
        "publish": published,
        "reads": figures,
        "memory_mb": memory,
    }


def _versioned_ids(objects: list[dict]) -> list[str]:
    seen: set[str] = set()
    repeated: list[str] = []
    for obj in objects:
        if obj["id"] in seen and obj["id"] not in repeated:
            repeated.append(obj["id"])
        seen.add(obj["id"])
    return repeated


def measure_medallion(
    n: int, medallion_repeats: int, repeats: int, workers: int, threads: int
) -> dict:
    """medallion's memory backend and this server (SQLite) with the same N objects."""
    objects = list(SyntheticFeed(n).objects())
    with (
        tempfile.TemporaryDirectory(prefix="dx-perf-medallion-") as directory,
        medallion_server(objects, Path(directory), max_page_size=1000) as running,
    ):
        _log(f"medallion N={n:,}: reading")
        figures = reads(running.client, _versioned_ids(objects), medallion_repeats)
        theirs = {"server": "medallion", "n": n, "reads": figures}
        theirs["memory_mb"] = running.peak_rss_mb()
    ours = measure_exchange("sqlite", n, repeats, workers, threads, objects)
    return {"n": n, "medallion": theirs, "dx": ours}


def machine() -> dict:
    load = os.getloadavg()
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_at_start": load,
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--quick", action="store_true", help="N = 10,000; medallion at 500")
    mode.add_argument("--full", action="store_true", help="N = 10k, 100k, 1M; medallion 500..4k")
    parser.add_argument("--sizes", type=int, nargs="*", help="N values for this server")
    parser.add_argument("--backends", nargs="*", choices=BACKENDS, help="default: both")
    parser.add_argument("--medallion-sizes", type=int, nargs="*", help="N values for medallion")
    parser.add_argument("--repeats", type=int, help="samples per latency figure")
    parser.add_argument("--medallion-repeats", type=int, help="default: 3 up to N = 1,000, then 1")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--json", type=Path, help="write every figure to this JSON file")
    parser.add_argument("--plot", type=Path, help="draw page latency against N to this PNG")
    parser.add_argument(
        "--render",
        type=Path,
        nargs="+",
        metavar="JSON",
        help="measure nothing: merge these result files, print the tables, write --json/--plot",
    )
    args = parser.parse_args(argv)
    if args.render:
        return render_files(args.render, args.json, args.plot)

    if args.full:
        sizes, medallion_sizes, repeats = [10_000, 100_000, 1_000_000], [500, 1000, 2000, 4000], 50
        args.json = args.json or FULL_JSON
        args.plot = args.plot or FULL_PLOT
    else:
        sizes, medallion_sizes, repeats = [10_000], [500], 10
    sizes = args.sizes if args.sizes is not None else sizes
    if args.medallion_sizes is not None:
        medallion_sizes = args.medallion_sizes
    repeats = args.repeats or repeats
    backends = args.backends or list(BACKENDS)

    results: dict = {"machine": machine(), "runs": [], "medallion": []}
    started = time.perf_counter()
    for backend in backends:
        for n in sizes:
            run = measure_exchange(backend, n, repeats, args.workers, args.threads, None)
            results["runs"].append(run)
            _save(args.json, results)
    for n in medallion_sizes:
        # A medallion page of a few thousand objects takes tens of seconds to a minute.
        medallion_repeats = args.medallion_repeats or (3 if n <= 1000 else 1)
        results["medallion"].append(
            measure_medallion(n, medallion_repeats, repeats, args.workers, args.threads)
        )
        _save(args.json, results)
    results["machine"]["load_average_at_end"] = os.getloadavg()
    results["machine"]["seconds"] = time.perf_counter() - started
    _save(args.json, results)

    print(render(results))
    if args.plot:
        report.plot(results["runs"], results["medallion"], args.plot)
        print(f"\nplot: {args.plot}")
    return 0


def render_files(paths: list[Path], json_path: Path | None, plot_path: Path | None) -> int:
    """Merge the runs and comparisons of several result files (e.g. runs made in parallel).

    A later file's run of the same server and N replaces an earlier one (a re-run).
    """
    runs: dict[tuple[str, int], dict] = {}
    comparisons: dict[int, dict] = {}
    merged: dict = {"machine": None, "sources": []}
    for path in paths:
        part = orjson.loads(path.read_bytes())
        merged["machine"] = merged["machine"] or part["machine"]
        runs.update({(run["server"], run["n"]): run for run in part["runs"]})
        comparisons.update({entry["n"]: entry for entry in part["medallion"]})
        merged["sources"].append({"file": path.name, "machine": part["machine"]})
    merged["runs"] = [runs[key] for key in sorted(runs)]
    merged["medallion"] = [comparisons[n] for n in sorted(comparisons)]
    _save(json_path, merged)
    print(render(merged))
    if plot_path:
        report.plot(merged["runs"], merged["medallion"], plot_path)
        print(f"\nplot: {plot_path}")
    return 0


def render(results: dict) -> str:
    info = results["machine"]
    parts = [
        f"{info['cpus']} CPUs, Python {info['python']}, load average at start "
        f"{info['load_average_at_start'][0]:.1f}, {info.get('seconds', 0):.0f} s in all",
        "",
        "Latencies are median / p95 in ms, measured by the client over HTTP.",
        report.scale_table(results["runs"]),
    ]
    if results["medallion"]:
        parts += ["", "medallion (memory backend) against dx (SQLite), same client, same objects:"]
        parts.append(report.comparison_table(results["medallion"]))
    return "\n".join(parts)


def _save(path: Path | None, results: dict) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(orjson.dumps(results, option=orjson.OPT_INDENT_2))


if __name__ == "__main__":
    raise SystemExit(main())

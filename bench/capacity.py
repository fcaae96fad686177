"""The capacity model: nodes, PostgreSQL size and replicas for P partners, from measured costs.

    python3 bench/capacity.py --partners 1000 --poll-minutes 5 --objects-per-day 20000
    python3 bench/capacity.py --measure --costs bench/capacity-costs.json
    python3 bench/capacity.py --update-doc docs/scaling.md   # after --measure

Partners poll every M minutes: each poll lists the collections, then reads
each of its C collections from its ``added_after`` cursor (one request per
page of ``--limit`` objects, and at least one), and now and then the manifest.
R objects a day are published in POSTs of ``--batch`` objects, each followed
by one status read; every partner that can read a collection reads every object
in it once. Each request's CPU cost, on the server nodes and on PostgreSQL,
is a fixed part plus a part per object; ``--measure`` measures them on this
machine (``bench/partners_sim/costs.py``) and writes the costs file. The model
multiplies rates by costs, keeps ``--utilisation`` of each core busy at most
(the rest is headroom for bursts and a lost node), and prints the table that
docs/scaling.md quotes verbatim (a test checks that the two agree).
"""

from __future__ import annotations

import argparse
import math
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DEFAULT_COSTS = Path(__file__).resolve().parent / "capacity-costs.json"
SECONDS_PER_DAY = 86_400


@dataclass(frozen=True)
class Workload:
    partners: int
    poll_minutes: float
    objects_per_day: float
    collections: int = 3  # collections each partner reads
    read_share: float = 1.0  # share of the objects published that a partner can read
    limit: int = 1000
    batch: int = 100
    manifest_share: float = 0.05  # of collection polls that also read the manifest
    retention_days: int = 365


@dataclass(frozen=True)
class Sizing:
    cores_per_node: int = 4
    threads_per_worker: int = 4
    database_cores: int = 8
    utilisation: float = 0.5  # the busy share each core is sized for


@dataclass(frozen=True)
class Rates:
    """Requests and objects per second, by endpoint (the names the metrics use)."""

    polls: float
    collections: float
    get_objects: float
    manifest: float
    add_objects: float
    status: float
    objects_read: float
    objects_written: float
    pages_per_collection_poll: int

    def requests(self) -> float:
        return self.collections + self.get_objects + self.manifest + self.add_objects + self.status


def rates(work: Workload) -> Rates:
    polls = work.partners / (60.0 * work.poll_minutes)
    per_poll = work.objects_per_day * work.read_share * 60.0 * work.poll_minutes / SECONDS_PER_DAY
    per_collection = per_poll / work.collections
    # A page that comes back full says `more`: the poller asks again, so n objects
    # take floor(n / limit) + 1 requests.
    pages = math.floor(per_collection / work.limit) + 1
    posts = work.objects_per_day / (work.batch * SECONDS_PER_DAY)
    return Rates(
        polls=polls,
        collections=polls,
        get_objects=polls * work.collections * pages,
        manifest=polls * work.collections * work.manifest_share,
        add_objects=posts,
        status=posts,
        objects_read=work.partners * work.objects_per_day * work.read_share / SECONDS_PER_DAY,
        objects_written=work.objects_per_day / SECONDS_PER_DAY,
        pages_per_collection_poll=pages,
    )


# The cost of each endpoint's request (the server's endpoint names, as in the metrics).
_REQUEST_COSTS = {
    "taxii_collections.collections": "collections",
    "taxii_objects.get_objects": "objects_request",
    "taxii_objects.manifest": "manifest_request",
    "taxii_server_info.status": "status",
    "taxii_objects.add_objects": "add_objects_request",
}
_WRITES = {"taxii_objects.add_objects"}


def cpu_ms(
    requests: dict[str, float], objects_read: float, objects_written: float, cost: dict[str, float]
) -> tuple[float, float]:
    """(read, write) CPU milliseconds of these requests and objects on one side.

    ``requests`` counts (or rates) by endpoint; the result is in ms (or ms per second).
    """
    read = objects_read * cost["objects_per_object"]
    write = objects_written * cost["add_objects_per_object"]
    for endpoint, count in requests.items():
        if endpoint in _WRITES:
            write += count * cost[_REQUEST_COSTS[endpoint]]
        else:
            read += count * cost[_REQUEST_COSTS[endpoint]]
    return read, write


def cpu_cores(rate: Rates, cost: dict[str, float]) -> tuple[float, float]:
    """(read, write) CPU cores busy on one side (server nodes or database)."""
    requests = {
        "taxii_collections.collections": rate.collections,
        "taxii_objects.get_objects": rate.get_objects,
        "taxii_objects.manifest": rate.manifest,
        "taxii_server_info.status": rate.status,
        "taxii_objects.add_objects": rate.add_objects,
    }
    read_ms, write_ms = cpu_ms(requests, rate.objects_read, rate.objects_written, cost)
    return read_ms / 1000.0, write_ms / 1000.0


def model(work: Workload, size: Sizing, costs: dict[str, Any]) -> list[tuple[str, str]]:
    """The table's rows: (quantity, value), formatted once, here."""
    rate = rates(work)
    server_read, server_write = cpu_cores(rate, costs["server_cpu_ms"])
    db_read, db_write = cpu_cores(rate, costs["database_cpu_ms"])
    server_cores = server_read + server_write
    usable_node = size.cores_per_node * size.utilisation
    nodes_for_load = max(1, math.ceil(server_cores / usable_node))
    nodes = max(2, nodes_for_load + 1)  # one spare: losing a node still leaves enough
    workers = size.cores_per_node
    # A request reads through one connection and a POST writes through a second.
    connections = nodes * workers * size.threads_per_worker * 2
    usable_db = size.database_cores * size.utilisation
    db_cores = db_read + db_write
    # Reads can move to replicas; writes cannot. Replicas needed for the reads the
    # primary cannot carry beside its writes, plus one to fail over to.
    primary_read_room = max(0.0, usable_db - db_write)
    replicas_for_load = (
        0 if db_read <= primary_read_room else math.ceil((db_read - primary_read_room) / usable_db)
    )
    bytes_per_object = costs["bytes_per_object"]
    stored = work.objects_per_day * work.retention_days * bytes_per_object
    write_bytes = rate.objects_written * bytes_per_object
    commits = rate.add_objects
    return [
        ("partners, poll interval, objects a day", _workload(work)),
        ("polls/s (P / 60M)", f"{rate.polls:.2f}"),
        ("GET collections/s", f"{rate.collections:.2f}"),
        (
            f"GET objects/s (x {work.collections} collections x "
            f"{rate.pages_per_collection_poll} page)",
            f"{rate.get_objects:.2f}",
        ),
        (f"GET manifest/s ({work.manifest_share:.0%} of collection polls)", f"{rate.manifest:.2f}"),
        (f"POST objects/s (batches of {work.batch})", f"{rate.add_objects:.3f}"),
        ("GET status/s", f"{rate.status:.3f}"),
        ("requests/s, total", f"{rate.requests():.2f}"),
        ("objects served/s (every reader reads each object once)", f"{rate.objects_read:,.0f}"),
        (
            "response bytes/s, objects served (JSON before TLS)",
            f"{rate.objects_read * costs['response_bytes_per_object'] / 1e6:.2f} MB/s",
        ),
        ("server CPU, cores busy (reads + writes)", f"{server_cores:.2f}"),
        ("database CPU, cores busy (reads + writes)", f"{db_read:.2f} + {db_write:.3f}"),
        (
            f"nodes ({size.cores_per_node} cores, sized to {size.utilisation:.0%} busy, N+1)",
            f"{nodes} ({nodes_for_load} for the load + 1 spare)",
        ),
        (
            "gunicorn per node (workers x threads)",
            f"{workers} x {size.threads_per_worker}",
        ),
        ("PostgreSQL connections at most (nodes x workers x threads x 2)", f"{connections}"),
        (
            f"PostgreSQL primary ({size.database_cores} cores, sized to "
            f"{size.utilisation:.0%} busy)",
            f"{db_cores / usable_db:.1%} of its budget if it serves every read",
        ),
        (
            "read replicas",
            f"{replicas_for_load} for the load + 1 for failover = {replicas_for_load + 1}",
        ),
        ("storage per object (tables + indexes, measured)", f"{bytes_per_object:,} B"),
        (
            f"storage after {work.retention_days} days",
            f"{stored / 1e9:.2f} GB (plan 2x for WAL, bloat and vacuum)",
        ),
        ("table growth, write rate", f"{write_bytes / 1024:.1f} KiB/s"),
        ("commits needing an fsync/s (POSTs)", f"{commits:.3f}"),
    ]


def _workload(work: Workload) -> str:
    return f"{work.partners:,}, every {work.poll_minutes:g} min, {work.objects_per_day:,.0f}/day"


def render(rows: list[tuple[str, str]], costs: dict[str, Any], costs_path: str) -> str:
    lines = ["| quantity | value |", "|---|---|"]
    lines += [f"| {name} | {value} |" for name, value in rows]
    lines.append("")
    lines.append(f"costs: {costs_path}, measured {costs['measured_at']} on {costs['machine']}")
    return "\n".join(lines)


def costs_table(costs: dict[str, Any], costs_path: str) -> str:
    """The measured costs, one row per endpoint: what the model multiplies by."""
    names = [
        ("GET collections, per request", "collections"),
        ("GET objects, per request", "objects_request"),
        ("GET objects, per object returned", "objects_per_object"),
        ("GET manifest, per request", "manifest_request"),
        ("POST objects, per request", "add_objects_request"),
        ("POST objects, per object stored", "add_objects_per_object"),
        ("GET status, per request", "status"),
    ]
    server, database = costs["server_cpu_ms"], costs["database_cpu_ms"]
    lines = ["| cost | server CPU ms | PostgreSQL CPU ms |", "|---|---:|---:|"]
    for label, key in names:
        digits = 4 if key.endswith("per_object") else 2
        lines.append(f"| {label} | {server[key]:.{digits}f} | {database[key]:.{digits}f} |")
    lines.append("")
    lines.append(
        f"costs: {costs_path}, measured {costs['measured_at']} on {costs['machine']}; "
        f"{costs['database']}; {costs['bytes_per_object']:,} B stored and "
        f"{costs['response_bytes_per_object']:,} B served per object"
    )
    return "\n".join(lines)


_QUOTED_OUTPUT = re.compile(
    r"(<!-- output of: python3 (bench/capacity\.py[^>]*?) -->\n)(.*?)(<!-- end of output -->)",
    re.DOTALL,
)


def update_page(page: Path) -> int:
    """Rewrite every quoted output block of ``page`` with what its command prints now.

    After ``--measure`` the page's tables are stale; this refreshes them (the
    test in tests/bench/test_scaling_doc.py checks that they are current).
    """
    repo = Path(__file__).resolve().parents[1]

    def refreshed(match: re.Match[str]) -> str:
        printed = subprocess.run(
            [sys.executable, *shlex.split(match.group(2))],
            cwd=repo,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        return match.group(1) + printed.strip() + "\n" + match.group(4)

    text, count = _QUOTED_OUTPUT.subn(refreshed, page.read_text(encoding="utf-8"))
    page.write_text(text, encoding="utf-8")
    return count


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    work, size = Workload(0, 0, 0), Sizing()
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").splitlines()[0],
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    add = parser.add_argument
    add("--partners", type=int, default=1000)
    add("--poll-minutes", type=float, default=5.0)
    add("--objects-per-day", type=float, default=20_000)
    add("--collections", type=int, default=work.collections, help="collections each reads")
    add("--read-share", type=float, default=work.read_share)
    add("--limit", type=int, default=work.limit, help="page size pollers ask for")
    add("--batch", type=int, default=work.batch, help="objects per POST")
    add("--manifest-share", type=float, default=work.manifest_share)
    add("--retention-days", type=int, default=work.retention_days)
    add("--cores-per-node", type=int, default=size.cores_per_node)
    add("--threads-per-worker", type=int, default=size.threads_per_worker)
    add("--database-cores", type=int, default=size.database_cores)
    add("--utilisation", type=float, default=size.utilisation)
    add("--costs", type=Path, default=DEFAULT_COSTS, help="costs file to read (or write)")
    add("--measure", action="store_true", help="measure the costs here and write --costs")
    add("--show-costs", action="store_true", help="print the costs table instead of the model")
    add("--update-doc", type=Path, help="refresh the quoted outputs in this page (docs/scaling.md)")
    add("--measure-objects", type=int, default=20_000)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.update_doc is not None:
        print(f"{args.update_doc}: {update_page(args.update_doc)} outputs refreshed")
        return 0
    if args.measure:
        from bench.partners_sim.costs import measure

        costs = measure(objects=args.measure_objects)
        args.costs.write_bytes(orjson.dumps(costs, option=orjson.OPT_INDENT_2) + b"\n")
        print(f"wrote {args.costs}")
    costs = orjson.loads(args.costs.read_bytes())
    work = Workload(
        partners=args.partners,
        poll_minutes=args.poll_minutes,
        objects_per_day=args.objects_per_day,
        collections=args.collections,
        read_share=args.read_share,
        limit=args.limit,
        batch=args.batch,
        manifest_share=args.manifest_share,
        retention_days=args.retention_days,
    )
    size = Sizing(
        cores_per_node=args.cores_per_node,
        threads_per_worker=args.threads_per_worker,
        database_cores=args.database_cores,
        utilisation=args.utilisation,
    )
    shown = "bench/capacity-costs.json" if args.costs == DEFAULT_COSTS else str(args.costs)
    if args.show_costs:
        print(costs_table(costs, shown))
        return 0
    print(render(model(work, size, costs), costs, shown))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Where a request's time goes, in CPU time, in one process: the floor under the HTTP figures.

    python3 bench/perf/floor.py [--backend sqlite|postgres] [--objects 100000]

On a shared machine wall-clock latency includes waiting for a CPU; CPU time
of the request's own work does not. This loads N versions straight through
the store (the same checks and insert path as a POST, without HTTP), then, in this
one process, measures the CPU time of:

* the page query alone (``Store.query_objects``: one indexed SELECT, rows
  turned into Python objects), for a first page, a deep page (cursor 90% in)
  and an ``added_after`` poll, with limit 100 and 1,000;
* the whole request through the WSGI application (authentication, access
  checks, the query, the envelope), without the network, in CPU time and in
  wall time (which adds the waits for the database: on PostgreSQL, its round
  trips);
* what a client pays to parse the page (orjson), for comparison.

The difference between the two server figures is the fixed cost of a request;
the query figure is what reading the rows costs and grows only with the page
size, not with N.
"""

from __future__ import annotations

import argparse
import base64
import cProfile
import pstats
import statistics
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bench.perf.feed import BENCH_IDENTITY, SyntheticFeed
from server.app import create_app
from server.config import ServerConfig
from server.store import Store
from server.store.timestamps import format_timestamp_us
from server.store.types import CollectionInfo, ObjectQuery
from server.taxii.creators import refuse_foreign_versions
from server.taxii.stix_checks import check_objects
from tests.support.server import PartnerSpec, database, seed

API_ROOT = "exchange"
PARTNER = "lab"
LOAD_BATCH = 10_000
REPEATS = 200


def cpu_ms(action: Callable[[], object], repeats: int = REPEATS) -> float:
    """Median CPU time of ``action`` in milliseconds."""
    samples = []
    for _ in range(repeats):
        started = time.process_time_ns()
        action()
        samples.append(time.process_time_ns() - started)
    return statistics.median(samples) / 1e6


def wall_ms(action: Callable[[], object], repeats: int = REPEATS) -> float:
    """Median wall-clock time of ``action`` in milliseconds: CPU plus database round trips."""
    samples = []
    for _ in range(repeats):
        started = time.perf_counter_ns()
        action()
        samples.append(time.perf_counter_ns() - started)
    return statistics.median(samples) / 1e6


def load(store: Store, collection: CollectionInfo, n: int) -> float:
    """N versions through the checks and the store's insert path; CPU seconds spent there.

    Generating the synthetic objects is not counted.
    """
    spent = 0.0
    batch: list[dict] = []
    for obj in SyntheticFeed(n).objects():
        batch.append(obj)
        if len(batch) == LOAD_BATCH:
            spent += _store(store, collection, batch)
            batch = []
    if batch:
        spent += _store(store, collection, batch)
    return spent


def _store(store: Store, collection: CollectionInfo, batch: list[dict]) -> float:
    started = time.process_time()
    # Serialised and parsed again, as a POST's body would be.
    objects = orjson.loads(orjson.dumps({"objects": batch}))["objects"]
    partner = store.get_partner(PARTNER)
    assert partner is not None
    accepted, rejected = check_objects(objects, collection, partner)
    accepted, rejected = refuse_foreign_versions(store, collection, partner, accepted, rejected)
    store.add_objects(API_ROOT, collection.id, PARTNER, accepted, rejected, time.time_ns() // 1000)
    return time.process_time() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument(
        "--profile",
        action="store_true",
        help="also profile 500 first pages (limit 100) and print CPU time by package",
    )
    args = parser.parse_args()
    collection = CollectionInfo(str(uuid.uuid4()), API_ROOT, "Floor")
    partner = PartnerSpec(PARTNER, BENCH_IDENTITY, {collection.id: (True, True)})
    with (
        tempfile.TemporaryDirectory(prefix="dx-floor-") as directory,
        database(args.backend, Path(directory)) as url,
    ):
        keys = seed(url, API_ROOT, [collection], [partner])
        store = Store(url)
        load_cpu = load(store, collection, args.objects)
        print(
            f"{args.backend}, N={args.objects:,}: parse + checks + store: "
            f"{1e6 * load_cpu / args.objects:.0f} us CPU per object "
            f"({args.objects / load_cpu:,.0f} objects per CPU-second)"
        )
        measure(store, url, collection.id, keys[PARTNER])
        if args.profile:
            profile_first_pages(url, collection.id, keys[PARTNER])
        store.close()


def _headers(key: str) -> dict[str, str]:
    return {
        "Authorization": "Basic " + base64.b64encode(f"{PARTNER}:{key}".encode()).decode(),
        "Accept": "application/taxii+json;version=2.1",
    }


def profile_first_pages(url: str, collection_id: str, key: str, requests: int = 500) -> None:
    """cProfile of first pages (limit 100) through the WSGI app, own time summed by package."""
    client = create_app(ServerConfig(database_url=url, cursor_secret="x" * 43)).test_client()
    path = f"/{API_ROOT}/collections/{collection_id}/objects/"
    headers = _headers(key)
    for _ in range(50):  # warm the pool and the statement caches
        client.get(path, query_string={"limit": 100}, headers=headers)
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(requests):
        client.get(path, query_string={"limit": 100}, headers=headers)
    profiler.disable()
    by_package: Counter[str] = Counter()
    repo = str(Path(__file__).resolve().parents[2]) + "/"
    for (filename, _line, _name), row in pstats.Stats(profiler).stats.items():
        if "site-packages/" in filename:
            package = filename.split("site-packages/")[1].split("/")[0]
        elif filename.startswith(repo):
            package = filename[len(repo) :].split("/")[0] + " (this project)"
        else:
            package = "python and C built-ins"
        by_package[package] += row[2]  # own time
    total = sum(by_package.values())
    print(f"first page, limit 100, {requests} requests under cProfile: own time by package")
    for package, seconds in by_package.most_common(8):
        print(f"  {package:40} {100 * seconds / total:5.1f}%")


def measure(store: Store, url: str, collection_id: str, key: str) -> None:
    latest = store.count_objects(collection_id, latest_only=True)
    deep_at = int(latest * 0.9)
    walk = ObjectQuery(limit=1000)
    after = None
    for _ in range(deep_at // 1000):
        page = store.query_objects(collection_id, walk, with_body=False)
        after = page.last
        walk = ObjectQuery(limit=1000, after=after)
    assert after is not None
    app = create_app(ServerConfig(database_url=url, cursor_secret="x" * 43))
    client = app.test_client()
    headers = {
        "Authorization": "Basic " + base64.b64encode(f"{PARTNER}:{key}".encode()).decode(),
        "Accept": "application/taxii+json;version=2.1",
    }
    path = f"/{API_ROOT}/collections/{collection_id}/objects/"
    # A next token from the server itself, 90% in (the same position as ``after``).
    token = None
    for _ in range(deep_at // 1000):
        params: dict[str, object] = {"limit": 1000, **({"next": token} if token else {})}
        token = orjson.loads(client.get(path, query_string=params, headers=headers).data)["next"]
    added_after = format_timestamp_us(after.date_added_us)
    print(
        f"{'figure':34} {'query ms':>9} {'request ms':>10} {'request wall ms':>15} "
        f"{'client parse ms':>15}"
    )
    for limit in (100, 1000):
        cases = {
            f"first page, limit {limit}": (ObjectQuery(limit=limit), {"limit": limit}),
            f"deep page, limit {limit}": (
                ObjectQuery(limit=limit, after=after),
                {"limit": limit, "next": token},
            ),
            f"added_after poll, limit {limit}": (
                ObjectQuery(limit=limit, added_after_us=after.date_added_us),
                {"limit": limit, "added_after": added_after},
            ),
        }
        for label, (query, params) in cases.items():
            query_ms = cpu_ms(lambda query=query: store.query_objects(collection_id, query))
            body = client.get(path, query_string=params, headers=headers).data
            request_ms = cpu_ms(
                lambda params=params: client.get(path, query_string=params, headers=headers)
            )
            request_wall_ms = wall_ms(
                lambda params=params: client.get(path, query_string=params, headers=headers)
            )
            parse_ms = cpu_ms(lambda body=body: orjson.loads(body))
            print(
                f"{label:34} {query_ms:9.2f} {request_ms:10.2f} {request_wall_ms:15.2f} "
                f"{parse_ms:15.2f}"
            )


if __name__ == "__main__":
    main()

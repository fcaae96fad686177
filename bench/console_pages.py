"""Print the analyst console's server time per page, median, at several feed sizes.

For each size and backend: a fresh database gets N object versions of the
synthetic consortium feed (``bench/perf/feed.py``: indicators, fingerprints,
accounts, relationships, sightings, later versions) from three producers,
plus a campaign that every 100th indicator indicates, stored through the
store's own publish path (``Store.add_objects``, as a POST would). The console
index is then brought up to date (its time is printed: that is the one-off
cost after a bulk load). Each page is then requested ``--repeat`` times
through the Flask app in this process (no network), logged in as an analyst,
in rounds that alternate between the sizes (the machine's load hits all sizes
alike), and the median wall time is printed: that is the server's time per
page, queries and template rendering included.

    python3 bench/console_pages.py --sizes 10000 100000 --backends sqlite postgres
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson

from bench.perf.feed import SyntheticFeed
from server.app import create_app
from server.config import ServerConfig
from server.console.index import catch_up
from server.store import Store
from server.store.analysts import add_analyst
from server.store.timestamps import now_us
from server.store.types import ApiRootInfo, CollectionInfo, IncomingObject
from tests.support.server import database

PRODUCERS = [
    "identity--4e0c7c1a-2b6f-4f0e-9d43-7a1f5c2e8b90",
    "identity--5f1d8d2b-3c70-4a1f-8e54-8b2a6d3f9ca1",
    "identity--6a2e9e3c-4d81-4b20-9f65-9c3b7e4a0db2",
]
CAMPAIGN = "campaign--7b3f0f4d-5e92-4c31-8a76-ad4c8f5b1ec3"
COLLECTION = "2c9d8e7f-6a5b-4c3d-9e2f-1a0b9c8d7e6f"
BATCH = 5_000


def _incoming(obj: dict) -> IncomingObject:
    return IncomingObject(
        stix_id=obj["id"],
        obj_type=obj["type"],
        version=obj.get("modified") or obj.get("created") or "1970-01-01T00:00:00.000Z",
        spec_version=obj.get("spec_version", "2.1"),
        body=orjson.dumps(obj).decode(),
    )


def _feed(n: int) -> tuple[list[str], object]:
    feed = SyntheticFeed(n)

    def objects():
        yield {
            "type": "campaign",
            "spec_version": "2.1",
            "id": CAMPAIGN,
            "created": "2026-06-01T00:00:00.000Z",
            "modified": "2026-06-01T00:00:00.000Z",
            "created_by_ref": PRODUCERS[0],
            "name": "Bench campaign",
        }
        for serial, obj in enumerate(feed.objects()):
            if "created_by_ref" in obj:
                obj["created_by_ref"] = PRODUCERS[serial % len(PRODUCERS)]
            yield obj
            # About 180 indicators indicate the campaign at every N: the same campaign page.
            if obj["type"] == "indicator" and serial % max(1, n // 1000) == 0:
                yield {
                    "type": "relationship",
                    "spec_version": "2.1",
                    "id": f"relationship--{uuid.uuid5(uuid.NAMESPACE_URL, obj['id'])}",
                    "created": obj["created"],
                    "modified": obj["created"],
                    "created_by_ref": obj["created_by_ref"],
                    "relationship_type": "indicates",
                    "source_ref": obj["id"],
                    "target_ref": CAMPAIGN,
                }

    return feed, objects()


def _load(url: str, n: int) -> tuple[Store, str]:
    store = Store(url)
    store.migrate()
    store.add_api_root(ApiRootInfo("exchange", "Bench"))
    store.add_collection(CollectionInfo(COLLECTION, "exchange", "Bench feed"))
    store.add_partner("lab-a", "Lab A", PRODUCERS[0])
    store.set_grant("lab-a", COLLECTION, True, True)
    feed, objects = _feed(n)
    batch: list[IncomingObject] = []
    started = time.perf_counter()
    for obj in objects:
        batch.append(_incoming(obj))
        if len(batch) == BATCH:
            store.add_objects("exchange", COLLECTION, None, batch, [], now_us())
            batch = []
    if batch:
        store.add_objects("exchange", COLLECTION, None, batch, [], now_us())
    store.analyze()
    print(f"  loaded {n:,} versions in {time.perf_counter() - started:.0f} s", flush=True)
    started = time.perf_counter()
    while catch_up(store, COLLECTION, budget=20_000):
        pass
    store.analyze()
    print(f"  console index built in {time.perf_counter() - started:.0f} s", flush=True)
    versioned = feed.versioned_ids[len(feed.versioned_ids) // 2]
    return store, versioned


def _pages(versioned: str) -> dict[str, str]:
    return {
        "overview": "/console/",
        "search": "/console/search",
        "search type": "/console/search?type=indicator",
        "search producer": f"/console/search?producer={PRODUCERS[1]}",
        "search text": "/console/search?q=proxy+range",
        "search tlp+confidence": "/console/search?tlp=amber&confidence=50",
        "object (2 versions)": f"/console/object/{COLLECTION}/{versioned}",
        "campaign": f"/console/campaign/{COLLECTION}/{CAMPAIGN}",
    }


def _client(store: Store, url: str, versioned: str):
    """A logged-in test client of the app over ``store`` and the pages to time."""
    name = f"bench-{uuid.uuid4().hex[:8]}"
    password = add_analyst(store, "lab-a", name)
    app = create_app(ServerConfig(database_url=url, cursor_secret="bench-console-pages"), store)
    client = app.test_client()
    page = client.get("/console/login").get_data(as_text=True)
    token = re.search(r'name="login_token" value="([^"]+)"', page)[1]
    answer = client.post(
        "/console/login",
        data={"login_token": token, "partner": "lab-a", "analyst": name, "password": password},
    )
    assert answer.status_code == 303, answer.status_code
    pages = _pages(versioned)
    # The deep page: 40 pages on, through the cursor the "Next page" link carries.
    deep = "/console/search"
    for _ in range(40):
        html = client.get(deep).get_data(as_text=True)
        found = re.search(r'href="(/console/search\?[^"]*cursor=[^"]+)" id="next"', html)
        if not found:
            break
        deep = found[1].replace("&amp;", "&")
    pages["search, 40 pages deep"] = deep
    for label, path in pages.items():
        assert client.get(path).status_code == 200, (label, path)  # warm up
    return client, pages


def _time(client, path: str) -> float:
    started = time.perf_counter()
    response = client.get(path)
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--backends", nargs="+", default=["sqlite", "postgres"])
    parser.add_argument("--repeat", type=int, default=25)
    args = parser.parse_args()
    for backend in args.backends:
        with tempfile.TemporaryDirectory() as directory, ExitStack() as stack:
            clients = {}
            for size in args.sizes:
                print(f"{backend}, {size:,} versions:", flush=True)
                where = Path(directory) / str(size)
                where.mkdir()
                url = stack.enter_context(database(backend, where))
                store, versioned = _load(url, size)
                stack.callback(store.close)
                clients[size] = _client(store, url, versioned)
            # Rounds alternate between the sizes, so a busy moment of the machine
            # lands on every size alike instead of on whichever ran then.
            times: dict[tuple[int, str], list[float]] = {}
            for _round in range(args.repeat):
                for size, (client, pages) in clients.items():
                    for label, path in pages.items():
                        times.setdefault((size, label), []).append(_time(client, path))
            labels = list(clients[args.sizes[0]][1])
            header = " | ".join(f"{size:,}" for size in args.sizes)
            print(f"\n{backend}: median server time per page (ms)")
            print(f"page | {header} | largest / smallest")
            for label in labels:
                values = [statistics.median(times[(size, label)]) for size in args.sizes]
                cells = " | ".join(f"{v:.1f}" for v in values)
                print(f"{label} | {cells} | {values[-1] / values[0]:.2f}x", flush=True)


if __name__ == "__main__":
    main()

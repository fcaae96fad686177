"""Print HTTP figures of the TAXII server: POST throughput and page latencies.

Starts a real server (gunicorn, 2 workers x 2 threads) on a fresh SQLite file
or PostgreSQL database, posts N indicators in 1,000-object envelopes, then
pages through them with limit=1000 and samples manifest pages.

    python3 bench/server_http.py [sqlite|postgres] [--objects 20000]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from server.store.types import CollectionInfo
from tests.support.server import PartnerSpec, indicator, served

IDENTITY = "identity--8f6b6a4e-3c1f-4d1e-9a53-5b1c9e0d2a11"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("backend", nargs="?", default="sqlite", choices=("sqlite", "postgres"))
    parser.add_argument("--objects", type=int, default=20_000)
    args = parser.parse_args()
    collection = str(uuid.uuid4())
    with (
        tempfile.TemporaryDirectory() as directory,
        served(
            Path(directory),
            args.backend,
            [CollectionInfo(collection, "exchange", "Bench")],
            [PartnerSpec("lab", IDENTITY, {collection: (True, True)})],
            workers=2,
            threads=2,
        ) as running,
    ):
        client = running.client("lab")
        path = f"/exchange/collections/{collection}"
        started = time.perf_counter()
        for batch in range(0, args.objects, 1000):
            objects = [indicator(IDENTITY, name=f"{batch + n}") for n in range(1000)]
            response = client.post_objects(f"{path}/objects/", objects)
            assert response.status_code == 202, response.text
        elapsed = time.perf_counter() - started
        rate = args.objects / elapsed
        print(f"{args.backend}: POST {args.objects} objects: {elapsed:.2f} s ({rate:.0f}/s)")
        pages, token, total = [], None, 0
        while True:
            params = {"limit": 1000, **({"next": token} if token else {})}
            started = time.perf_counter()
            body = client.get(f"{path}/objects/", params).json()
            pages.append(time.perf_counter() - started)
            total += len(body.get("objects", []))
            if not body.get("more"):  # an empty page is {} (TAXII 2.1 5.3.1)
                break
            token = body["next"]
        print(
            f"{args.backend}: GET objects limit=1000: {len(pages)} pages, {total} objects, "
            f"median {statistics.median(pages) * 1000:.0f} ms, max {max(pages) * 1000:.0f} ms"
        )
        samples = []
        for _ in range(50):
            started = time.perf_counter()
            client.get(f"{path}/manifest/", {"limit": 100})
            samples.append(time.perf_counter() - started)
        median_ms = statistics.median(samples) * 1000
        print(f"{args.backend}: GET manifest limit=100: median {median_ms:.1f} ms")


if __name__ == "__main__":
    main()

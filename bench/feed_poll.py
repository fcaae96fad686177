"""Print lab-side feed figures: poll throughput into the local store, act and export times.

Starts a real server (gunicorn, 1 worker) on a fresh SQLite file, loads N
object versions with `dx server load`, then times `dx poll --once` from empty
(page sizes 1000 and 200), a re-poll with nothing new, `dx act` over the
result and an in-process export of the whole store (with validation).

    python3 bench/feed_poll.py [--objects 10000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exchange.feed.export import export_from_store
from exchange.feed.store import FeedStore
from exchange.lab_config import load_lab_config
from mappings.export_filters import ExportFilter
from mappings.validation import validate_bundle
from tests.feed.stix_factory import many_indicators, write_bundle
from tests.support.exchange import build_feed_exchange, run_dx


def timed(label: str, *args: str, objects: int | None = None) -> float:
    started = time.perf_counter()
    run_dx(*args, timeout=600)
    elapsed = time.perf_counter() - started
    rate = f" ({objects / elapsed:.0f} versions/s, process start included)" if objects else ""
    print(f"{label}: {elapsed:.2f} s{rate}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--objects", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        exchange = build_feed_exchange(Path(directory))
        objects = many_indicators(args.objects, versions_every=4)
        exchange.load(write_bundle(Path(directory) / "bulk.json", objects))
        exchange.start()
        try:
            lab = exchange.lab_config("bench")
            store_path = load_lab_config(lab).store_path
            for page_size in ("1000", "200"):
                store_path.unlink(missing_ok=True)
                timed(
                    f"poll {len(objects)} versions, page size {page_size}",
                    "poll", "--config", str(lab), "--quiet", "--page-size", page_size,
                    objects=len(objects),
                )  # fmt: skip
            timed("re-poll, nothing new", "poll", "--config", str(lab), "--quiet")
            timed("act over the store", "act", "--config", str(lab), "--quiet")
            started = time.perf_counter()
            with FeedStore(store_path) as store:
                result = export_from_store(store, ExportFilter())
            exported = time.perf_counter() - started
            started = time.perf_counter()
            report = validate_bundle(result.bundle)
            validated = time.perf_counter() - started
            print(
                f"export {len(result.bundle['objects'])} objects from the store: {exported:.2f} s; "
                f"validation: {validated:.2f} s ({len(report.errors)} errors)"
            )
        finally:
            exchange.stop()


if __name__ == "__main__":
    main()

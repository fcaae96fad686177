"""Print lab-side publish and match figures.

Publish: starts a real server (gunicorn, 1 worker, SQLite), converts N IP-range
records and times `dx publish` (process start included) without validation,
then a re-run where everything is already present, and times stix2-validator
alone on the same objects (it dominates a validated publish).

Match (in process, one core): prompts/s against the sample feed (exact +
MinHash LSH), address lookups/s against many ranges, account lookups/s.

    python3 bench/lab_publish_match.py [--ranges 2000] [--prompts 5000] [--addresses 200000]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import random
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exchange.feed.current import RangeEntry, current_feed
from exchange.match import AccountIndex, RangeIndex, build_prompt_index, match_prompts
from exchange.privacy import load_key, pseudonymise
from exchange.publish import load_batch
from exchange.readers import read_records
from mappings.convert import records_to_objects
from mappings.producer import Producer
from mappings.validation import validate_bundle
from tests.lab.records import ranges, write_jsonl
from tests.support.exchange import DEMO_KEY, SAMPLES, build_exchange

LAB_A = Producer("lab-a.example", "Lab A")


def bench_publish(count: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        exchange = build_exchange(Path(tmp) / "exchange")
        exchange.start()
        try:
            lab = exchange.lab("lab-a", "lab-a")
            detections = write_jsonl(Path(tmp) / "ranges.jsonl", ranges(count))
            objects = load_batch([detections], LAB_A, validate=False).objects
            for label in ("first publish", "re-run (all already present)"):
                started = time.perf_counter()
                done = lab.dx("publish", str(detections), "--no-validate", "--json", "--quiet")
                elapsed = time.perf_counter() - started
                summary = json.loads(done.stdout)
                print(
                    f"publish {label}: {len(objects)} objects in {summary['envelopes']} envelopes, "
                    f"{elapsed:.2f} s ({len(objects) / elapsed:.0f} objects/s, process start "
                    f"included); accepted {summary['accepted']}, already present "
                    f"{summary['already_present']}"
                )
        finally:
            exchange.stop()
    sample = objects[: min(len(objects), 2000)]
    started = time.perf_counter()
    report = validate_bundle(
        {"type": "bundle", "id": "bundle--6c3d8f2e-4a86-4d4f-9a3e-2f6b1f0c9d11", "objects": sample}
    )
    elapsed = time.perf_counter() - started
    print(
        f"stix2-validator (strict, schemas): {len(sample)} objects in {elapsed:.2f} s "
        f"({len(sample) / elapsed:.0f} objects/s; ok={report.ok})"
    )


def bench_prompts(count: int) -> None:
    key = load_key(DEMO_KEY)
    objects = records_to_objects(read_records([SAMPLES / "lab-a" / "detections.jsonl"]), LAB_A)
    feed = current_feed(objects, datetime(2026, 4, 30, tzinfo=UTC))
    index = build_prompt_index(key, feed.fingerprints)
    lines = [
        line
        for path in sorted((SAMPLES / "raw" / "prompts").glob("*.txt"))
        for line in path.read_text().splitlines()
    ]
    prompts = [lines[i % len(lines)] + f" Variant {i}." for i in range(count)]
    started = time.process_time()
    hits, _ = match_prompts(index, prompts)
    elapsed = time.process_time() - started
    print(
        f"prompt matching: {count} prompts against {len(index)} shared fingerprints: "
        f"{elapsed:.2f} s CPU ({count / elapsed:.0f} prompts/s), {len(hits)} matches"
    )


def bench_addresses(count: int, shared: int) -> None:
    rng = random.Random(1)
    networks = {
        ipaddress.ip_network(
            f"{ipaddress.IPv4Address(rng.getrandbits(32))}/{rng.choice([16, 20, 24, 28, 32])}",
            strict=False,
        )
        for _ in range(shared)
    }
    entries = [
        RangeEntry(net, "block", 50, None, f"indicator--{i:08d}-0000-4000-8000-000000000000", None)
        for i, net in enumerate(sorted(networks))
    ]
    index = RangeIndex(entries)
    addresses = [ipaddress.IPv4Address(rng.getrandbits(32)) for _ in range(count)]
    started = time.process_time()
    found = sum(len(index.containing(address)) for address in addresses)
    elapsed = time.process_time() - started
    print(
        f"address matching: {count} addresses against {len(entries)} ranges: {elapsed:.2f} s "
        f"CPU ({count / elapsed:.0f} addresses/s), {found} matches"
    )


def bench_accounts(count: int) -> None:
    key = load_key(DEMO_KEY)
    index = AccountIndex(key.key_id)
    emails = [f"user{i}@example.com" for i in range(count)]
    started = time.process_time()
    hashes = [pseudonymise("email", email, key) for email in emails]
    found = sum(len(index.lookup("email", hashed)) for hashed in hashes)
    elapsed = time.process_time() - started
    print(
        f"account matching (pseudonymise + lookup): {count} emails: {elapsed:.2f} s CPU "
        f"({count / elapsed:.0f} identifiers/s), {found} matches"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ranges", type=int, default=2000)
    parser.add_argument("--prompts", type=int, default=5000)
    parser.add_argument("--addresses", type=int, default=200_000)
    parser.add_argument("--shared-ranges", type=int, default=20_000)
    parser.add_argument("--skip-publish", action="store_true")
    args = parser.parse_args()
    if not args.skip_publish:
        bench_publish(args.ranges)
    bench_prompts(args.prompts)
    bench_addresses(args.addresses, args.shared_ranges)
    bench_accounts(50_000)


if __name__ == "__main__":
    main()

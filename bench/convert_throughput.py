"""How many detection records per second ``dx convert`` reads, validates, converts and writes.

    python bench/convert_throughput.py                    # 100,000 records, JSON Lines
    python bench/convert_throughput.py --format csv --runs 5
    python bench/convert_throughput.py --profile          # where the time goes

Generates a deterministic mixed batch (40% account clusters with six member
hashes, 30% prompt fingerprints with exact/MinHash/SimHash values, 30% IP
ranges, IPv4 and IPv6 from documentation space) into temporary files, then
times, per run, ``dx convert``'s own pipeline in this process
(``exchange.commands.convert.convert_files``: read, validate, convert and
serialise record by record, then order the bundle) with ``--validate off`` and
with the default ``--validate auto``, and the atomic write of the bundle. It
prints medians and the end-to-end records per second (target: >= 20,000/s),
then runs ``dx convert`` itself once as a command for its wall time and peak
memory, and times the dict path (``read_records`` + ``records_to_bundle`` +
``bundle_json``, which the publish path uses) for comparison.

The stix2-validator stage is timed on its own: every object of a smaller
batch (``--validate-records``) serially and on a process pool, the library's
own ``validate_instance`` on a few records (``--library-records``), and the
per-shape sample that ``--validate auto`` checks on the whole bundle.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import csv
import gc
import hashlib
import io
import ipaddress
import os
import pstats
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
from stix2validator import validate_instance

from exchange.atomic import write_chunks_atomically
from exchange.commands.convert import convert_files
from exchange.privacy import ConsortiumKey, fingerprint_prompts
from exchange.readers import LAYOUTS, read_records
from mappings.convert import bundle_json, records_to_bundle
from mappings.producer import Producer
from mappings.records import AccountCluster, IpRange, PromptFingerprint
from mappings.validation import validate_bundle, validator_options

TARGET_PER_SECOND = 20_000
KEY = ConsortiumKey("bench-key", hashlib.sha256(b"bench key").digest())
PRODUCER = Producer(key="bench-lab.example", name="Bench Lab")
LIFE = {
    "updated": "2026-05-01T00:00:00Z",
    "first_seen": "2026-04-01T00:00:00Z",
    "last_seen": "2026-04-30T00:00:00Z",
}
V4_SPACE = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")]


def _hash(*parts: object) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


def _near_duplicate_pool(size: int) -> list[list[dict[str, Any]]]:
    """MinHash and SimHash fingerprints of ``size`` distinct synthetic prompts."""
    prompts = [
        f"Solve step by step and explain each stage of problem family {i} about topic "
        f"{_hash(i)[:6]} with care; give the final answer last."
        for i in range(size)
    ]
    return [
        [fp.to_dict() for fp in fingerprints[1:]]
        for fingerprints in fingerprint_prompts(prompts, KEY)
    ]


def _v4_cidrs() -> list[str]:
    return [str(net) for space in V4_SPACE for net in space.subnets(new_prefix=32)]


def generate_records(count: int, seed: int = 7) -> list[dict[str, Any]]:
    """``count`` valid record dicts: 40% clusters, 30% fingerprints, 30% ranges."""
    rng = random.Random(seed)
    pool = _near_duplicate_pool(300)
    v4 = _v4_cidrs()
    records: list[dict[str, Any]] = []
    n_clusters, n_fingerprints = count * 4 // 10, count * 3 // 10
    for i in range(n_clusters):
        records.append(
            {
                "kind": "account-cluster",
                "cluster_id": f"cl-{i:07d}",
                "member_count": rng.randint(6, 5000),
                "members": [
                    {
                        "kind": rng.choice(("email", "phone", "device_fingerprint")),
                        "hash": _hash("m", i, j),
                    }
                    for j in range(6)
                ],
                "hashing": {
                    "algorithm": "hmac-sha256",
                    "key_id": KEY.key_id,
                    "normalization": "n1",
                },
                "linking_signals": [
                    {"signal": "signup_burst", "count": rng.randint(1, 50)},
                    {"signal": "templated_prompts", "count": rng.randint(1, 500)},
                ],
                "volume": {
                    "requests": rng.randint(1, 10**7),
                    "tokens": rng.randint(1, 10**10),
                    "window_start": "2026-04-01T00:00:00Z",
                    "window_end": "2026-04-30T00:00:00Z",
                    "peak_requests_per_account_per_minute": round(rng.uniform(0, 90), 2),
                },
                "targeted_capabilities": ["reasoning_traces", "tool_use"],
                "enforcement": rng.choice(("monitored", "rate_limited", "step_up", "banned")),
                "prompt_fingerprint_refs": [f"fp-{rng.randrange(n_fingerprints):07d}"],
                "ip_range_refs": [],
                "confidence": rng.randint(30, 100),
                **LIFE,
            }
        )
    for i in range(n_fingerprints):
        exact = {
            "algorithm": "hmac-sha256-template",
            "key_id": KEY.key_id,
            "value": _hash("t", i),
            "parameters": {"key_id": KEY.key_id, "normalization": "p1"},
            "match_rule": {"metric": "equal"},
        }
        records.append(
            {
                "kind": "prompt-fingerprint",
                "fingerprint_id": f"fp-{i:07d}",
                "scope": "user_prefix",
                "normalization": "p1",
                "fingerprints": [exact, *pool[i % len(pool)]],
                "sample_count": rng.randint(1, 10_000),
                "distinct_accounts": rng.randint(0, 900),
                "elicitation_features": ["step_by_step_reasoning"],
                "benign_fp_rate": round(rng.uniform(0, 0.05), 4),
                "confidence": rng.randint(30, 100),
                **LIFE,
            }
        )
    v6_base = int(ipaddress.ip_address("2001:db8::"))
    for i in range(count - n_clusters - n_fingerprints):
        v6 = f"{ipaddress.ip_address(v6_base + ((i - len(v4)) << 80))}/48"
        cidr = v4[i] if i < len(v4) else v6
        records.append(
            {
                "kind": "ip-range",
                "cidr": cidr,
                "asn": rng.choice((*range(64496, 64512), *range(65536, 65552))),
                "as_name": "EXAMPLE-NET",
                "provider_type": "residential_proxy",
                "traffic_share": round(rng.random(), 3),
                "benign_accounts_seen": rng.randint(0, 50),
                "recommended_action": "block",
                "confidence": rng.randint(30, 100),
                **LIFE,
            }
        )
    return records


def write_inputs(records: list[dict[str, Any]], fmt: str, directory: Path) -> list[Path]:
    directory.mkdir(parents=True, exist_ok=True)
    if fmt == "jsonl":
        path = directory / "records.jsonl"
        path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in records))
        return [path]
    if fmt == "json":
        path = directory / "records.json"
        path.write_bytes(b"[\n" + b",\n".join(orjson.dumps(r) for r in records) + b"\n]\n")
        return [path]
    models = {
        "account-cluster": AccountCluster,
        "prompt-fingerprint": PromptFingerprint,
        "ip-range": IpRange,
    }
    paths = []
    for kind, model in models.items():
        layout = LAYOUTS[kind]
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(layout.header())
        for record in records:
            if record["kind"] == kind:
                writer.writerow(layout.encode_record(model.model_validate(record)))
        path = directory / f"{kind}.csv"
        path.write_text(buffer.getvalue(), encoding="utf-8")
        paths.append(path)
    return paths


def timed(action: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall-clock and CPU seconds of ``action()``: on a shared machine CPU time is steadier."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = action()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def pipeline_run(paths: list[Path], output: Path) -> dict[str, tuple[float, float]]:
    """(wall, CPU) seconds of ``dx convert``'s pipeline: without and with validation,
    and the write."""
    stages = {}
    with contextlib.redirect_stderr(io.StringIO()):  # what dx says about validation
        wall, cpu, _ = timed(lambda: convert_files(paths, PRODUCER, validation="off"))
        stages["convert (--validate off)"] = (wall, cpu)
        wall, cpu, (bundle, _) = timed(lambda: convert_files(paths, PRODUCER, validation="auto"))
        stages["convert (--validate auto)"] = (wall, cpu)
    wall, cpu, _ = timed(lambda: write_chunks_atomically(output, bundle.chunks()))
    stages["write (atomic, fsync)"] = (wall, cpu)
    auto, write = stages["convert (--validate auto)"], stages["write (atomic, fsync)"]
    stages["total (auto + write)"] = (auto[0] + write[0], auto[1] + write[1])
    return stages


def dict_path_run(paths: list[Path]) -> dict[str, tuple[float, float]]:
    """(wall, CPU) seconds of the dict path's stages, and in total."""
    read_wall, read_cpu, records = timed(lambda: read_records(paths))
    build_wall, build_cpu, bundle = timed(lambda: records_to_bundle(records, PRODUCER))
    dump_wall, dump_cpu, data = timed(lambda: bundle_json(bundle))
    assert data.startswith(b"{")
    return {
        "read_records": (read_wall, read_cpu),
        "records_to_bundle": (build_wall, build_cpu),
        "bundle_json": (dump_wall, dump_cpu),
        "total": (read_wall + build_wall + dump_wall, read_cpu + build_cpu + dump_cpu),
    }


def _report(runs: list[dict[str, tuple[float, float]]], count: int) -> float:
    """Print each stage's medians; return the last stage's median wall seconds."""
    print(f"    {'stage':<28} {'wall s':>7} {'records/s':>10}   {'CPU s':>7} {'records/s':>10}")
    for stage in runs[0]:
        wall = statistics.median(run[stage][0] for run in runs)
        cpu = statistics.median(run[stage][1] for run in runs)
        print(
            f"    {stage:<28} {wall:7.2f} {count / wall:>10,.0f}   {cpu:7.2f} {count / cpu:>10,.0f}"
        )
    return statistics.median(run[stage][0] for run in runs)


_REPORT_PEAK = """
import re, resource, runpy, sys
sys.argv = ["dx", *sys.argv[1:]]
try:
    runpy.run_module("exchange", run_name="__main__")
finally:
    try:
        with open("/proc/self/status") as status:
            peak = re.search(r"VmHWM:\\s+(\\d+) kB", status.read()).group(1)
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(peak, file=sys.stderr)
"""
"""Runs dx and prints its own peak RSS (KiB) last on stderr. ``ru_maxrss`` (of the
child, or RUSAGE_CHILDREN) keeps the high-water mark from before ``exec``: the
pages the forked child shared with this benchmark. ``VmHWM`` is the new program's."""


def command_run(paths: list[Path], output: Path) -> tuple[float, int]:
    """Wall seconds and peak RSS (bytes) of ``dx convert`` run as a command."""
    command = [sys.executable, "-c", _REPORT_PEAK, "convert", *map(str, paths), "-o", str(output)]
    command += ["--producer-key", PRODUCER.key, "--producer-name", PRODUCER.name, "--legacy-ids"]
    started = time.perf_counter()
    done = subprocess.run(command, check=True, capture_output=True, text=True)
    wall = time.perf_counter() - started
    return wall, int(done.stderr.split()[-1]) * 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--format", choices=("jsonl", "json", "csv"), default="jsonl")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="cProfile one more run: top 25 by own time and by cumulative time",
    )
    parser.add_argument(
        "--validate-records",
        type=int,
        default=300,
        help="records in the full stix2-validator timing (0 to skip validation timings)",
    )
    parser.add_argument(
        "--library-records",
        type=int,
        default=30,
        help="records (about 9 objects each) timed with the library's validate_instance",
    )
    args = parser.parse_args()

    records = generate_records(args.records)
    with tempfile.TemporaryDirectory() as tmp:
        paths = write_inputs(records, args.format, Path(tmp))
        whole_jsonl = write_inputs(records, "jsonl", Path(tmp) / "all")
        subset_jsonl = write_inputs(records[: args.validate_records], "jsonl", Path(tmp) / "subset")
        # The generated dicts are gigabytes of live objects: timing with them around
        # measured the garbage collector and the memory they hold, not dx convert.
        del records
        gc.collect()
        output = Path(tmp) / "bundle.json"
        size = sum(p.stat().st_size for p in paths)
        print(
            f"{args.records:,} records ({args.format}, {size / 1e6:.1f} MB), "
            f"median of {args.runs} runs"
        )
        print("  dx convert's pipeline, in this process:")
        wall = _report([pipeline_run(paths, output) for _ in range(args.runs)], args.records)
        rate = args.records / wall
        verdict = "meets" if rate >= TARGET_PER_SECOND else "is BELOW"
        print(
            f"    {len(orjson.loads(output.read_bytes())['objects']):,} STIX objects, "
            f"{output.stat().st_size / 1e6:,.0f} MB; {rate:,.0f} records/s (wall) {verdict} "
            f"the target of {TARGET_PER_SECOND:,}/s"
        )
        wall, peak = command_run(paths, output)
        print(
            f"  dx convert as a command (start-up included, --validate auto): {wall:.2f} s, "
            f"{args.records / wall:,.0f} records/s, peak memory {peak / 2**20:,.0f} MiB"
        )
        print("  the dict path (publish), for comparison:")
        _report([dict_path_run(paths) for _ in range(args.runs)], args.records)
        if args.profile:
            profiler = cProfile.Profile()
            profiler.enable()
            pipeline_run(paths, output)
            profiler.disable()
            stats = pstats.Stats(profiler, stream=sys.stdout)
            stats.sort_stats("tottime").print_stats(25)
            stats.sort_stats("cumulative").print_stats(25)

        if args.validate_records:
            _time_validation(whole_jsonl, subset_jsonl, args)


def _time_validation(
    whole_jsonl: list[Path], subset_jsonl: list[Path], args: argparse.Namespace
) -> None:
    """Objects per second of each validation scope, and what a full check of ``--records`` costs."""
    whole = records_to_bundle(read_records(whole_jsonl), PRODUCER)
    subset = records_to_bundle(read_records(subset_jsonl), PRODUCER)
    validate_bundle(subset, scope="sample", workers=1)  # compile the schemas once, as dx does
    total = len(whole["objects"])
    count = len(subset["objects"])
    print(
        f"  stix2-validator, strict, project schemas "
        f"({count:,} objects of {args.validate_records:,} records):"
    )
    cores = os.cpu_count() or 1
    for label, workers in (("full, 1 process", 1), (f"full, {cores} processes", cores)):
        wall, cpu, report = timed(lambda w=workers: validate_bundle(subset, workers=w))
        assert report.ok, report.errors[:3]
        print(
            f"    {label:<22} {wall:7.2f} s wall {cpu:6.2f} s CPU  {count / wall:6,.0f} objects/s "
            f"-> ~{total / (count / wall) / 60:,.0f} min for all {total:,}"
        )
    if args.library_records:
        small = subset["objects"][: args.library_records * 9]
        tiny = {"type": "bundle", "id": subset["id"], "objects": small}
        wall, cpu, result = timed(lambda: validate_instance(tiny, validator_options()))
        assert result.is_valid
        print(
            f"    {'library, 1 process':<22} {wall:7.2f} s wall {cpu:6.2f} s CPU  "
            f"{len(small) / wall:6,.0f} objects/s ({len(small):,} objects)"
        )
    wall, cpu, report = timed(lambda: validate_bundle(whole, scope="auto"))
    assert report.ok, report.errors[:3]
    print(
        f"    auto (sample per shape) of the {args.records:,}-record bundle: {report.checked:,} of "
        f"{report.total:,} objects in {wall:.2f} s wall ({cpu:.2f} s CPU)"
    )


if __name__ == "__main__":
    main()

"""Peak memory of ``dx match`` against the size of its input: streaming keeps it flat.

    python3 bench/match_memory.py                  # 10,000 and 1,000,000 prompts (minutes)
    python3 bench/match_memory.py --sizes 10000,100000
    python3 bench/match_memory.py --tree /path/to/other/checkout   # the same, another version

Each size is one real ``dx match`` process (``python -m exchange.commands.match``)
over a JSON Lines file of prompts (the sample campaign prompts, which match the
lab-a sample feed, and distinct one-off requests), writing JSON Lines to a file;
its peak resident set size comes from the kernel (``wait4`` rusage, ``ru_maxrss``),
so start-up, the feed and the index are included. Bounded memory shows as nearly
the same peak at 10,000 and 1,000,000 prompts.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from exchange.readers import read_records
from mappings.convert import records_to_objects
from mappings.producer import Producer
from tests.lab.local_feed import fill_store, local_lab_config
from tests.support.exchange import REPO, SAMPLES

LAB_A = Producer("lab-a.example", "Lab A")
TOPICS = ["tax forms", "a sourdough starter", "bicycle gears", "a job interview", "tide tables"]


def write_prompts(path: Path, count: int) -> None:
    """Campaign prompts (one in four) and distinct ordinary requests, as JSON Lines."""
    campaign = [
        line
        for file in sorted((SAMPLES / "raw" / "prompts").glob("*.txt"))
        for line in file.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    with path.open("w", encoding="utf-8") as out:
        for number in range(count):
            if number % 4 == 0:
                prompt = campaign[number // 4 % len(campaign)]
            else:
                topic = TOPICS[number % len(TOPICS)]
                prompt = f"Could you help me with {topic}? It is question {number} of my list."
            out.write(json.dumps({"prompt": prompt}) + "\n")


def run(config: Path, prompts: Path, output: Path, tree: Path) -> tuple[float, float, int]:
    """(peak RSS in MB, wall seconds, matches) of one dx match process."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, "-m", "exchange.commands.match", "--config", str(config)]
    command += ["--at", "2026-04-30T00:00:00Z", "--prompts", str(prompts), "-o", str(output)]
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=tree, env=env, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"dx match failed: {process.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
    with output.open("rb") as found:
        matches = sum(1 for _ in found)
    return usage.ru_maxrss / 1024, elapsed, matches


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--tree", type=Path, default=REPO, help="the checkout to run dx from")
    args = parser.parse_args()
    objects = records_to_objects(read_records([SAMPLES / "lab-a" / "detections.jsonl"]), LAB_A)
    print(f"dx match from {args.tree}; uptime: {os.getloadavg()}")
    print(f"{'prompts':>10} {'input MB':>9} {'matches':>9} {'peak RSS MB':>12} {'prompts/s':>10}")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        fill_store(directory / "feed.sqlite3", objects)
        config = local_lab_config(directory)
        for size in (int(s) for s in args.sizes.split(",")):
            prompts = directory / f"prompts-{size}.jsonl"
            write_prompts(prompts, size)
            peak, elapsed, matches = run(config, prompts, directory / "out.jsonl", args.tree)
            megabytes = prompts.stat().st_size / 1e6
            print(
                f"{size:>10} {megabytes:>9.1f} {matches:>9} {peak:>12.1f} {size / elapsed:>10.0f}",
                flush=True,
            )
            prompts.unlink()


if __name__ == "__main__":
    main()

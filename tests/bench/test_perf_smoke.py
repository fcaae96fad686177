"""The performance benchmark runs end to end and reports every figure.

The benchmark's figures are for people (docs/performance.md), not asserted:
speed depends on the machine. What CI proves is that ``bench/perf/run.py``
still works against real servers (this exchange on SQLite, medallion from its
own command) and prints each figure with a number, so a change that breaks a
measurement, or silently drops one, fails here rather than at the next
full run. Tiny N keeps it within a few seconds of server start-up.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[2]
# Written out (not imported from the benchmark) so that dropping a figure fails here.
LATENCIES = {
    "first page, limit 100": "first_page_100",
    "first page, limit 1000": "first_page_1000",
    "deep next, limit 100": "deep_next_100",
    "deep next, limit 1000": "deep_next_1000",
    "added_after poll, limit 100": "added_after_100",
    "added_after poll, limit 1000": "added_after_1000",
    "manifest, limit 100": "manifest_100",
    "versions of an object": "versions",
}
SCALE_ROWS = (
    "publish, objects/s",
    "publish, server CPU ms per 1,000 objects",
    "full sync (limit 1000), objects/s",
    *(f"{label}, ms median / p95" for label in LATENCIES),
    "peak RSS per worker, MB (max)",
)
NUMBER = r"[0-9][0-9,]*(?:\.[0-9]+)?"


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def test_benchmark_prints_every_figure(tmp_path: Path) -> None:
    results_path, plot_path = tmp_path / "results.json", tmp_path / "latency.png"
    completed = subprocess.run(
        [
            sys.executable,
            "bench/perf/run.py",
            "--sizes",
            "200",
            "--backends",
            "sqlite",
            "--medallion-sizes",
            "100",
            "--repeats",
            "1",
            "--medallion-repeats",
            "1",
            "--json",
            str(results_path),
            "--plot",
            str(plot_path),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    lines = completed.stdout.splitlines()

    # The scale table: one row per figure, a number in the N=300 column.
    for label in SCALE_ROWS:
        row = next((line for line in lines if _cells(line)[0] == label), None)
        assert row is not None, f"no row {label!r} in:\n{completed.stdout}"
        value = _cells(row)[1]
        pattern = rf"{NUMBER} / {NUMBER}" if "median / p95" in label else NUMBER
        assert re.fullmatch(pattern, value), (label, value)

    # The medallion comparison: every latency figure and the sync rate, with a ratio.
    compared = {_cells(line)[1]: _cells(line) for line in lines if line.startswith("| 100 ")}
    for label in [*LATENCIES, "full sync, objects/s"]:
        assert label in compared, f"no medallion comparison of {label!r}:\n{completed.stdout}"
        theirs, ours, ratio = compared[label][2:]
        assert re.fullmatch(NUMBER, theirs) and re.fullmatch(NUMBER, ours), compared[label]
        assert re.fullmatch(rf"{NUMBER}x", ratio), compared[label]

    # The JSON holds the same figures, measured (not defaults), and the plot is a PNG.
    results = orjson.loads(results_path.read_bytes())
    (run,) = results["runs"]
    assert run["publish"]["objects"] == 200
    assert run["reads"]["sync"]["objects"] > 0
    for key in LATENCIES.values():
        assert run["reads"][key]["n"] == 1 and run["reads"][key]["median_ms"] > 0, key
    assert sorted(run["memory_mb"]) == ["main", "worker1", "worker2"]
    assert all(value > 0 for value in run["memory_mb"].values())
    assert plot_path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

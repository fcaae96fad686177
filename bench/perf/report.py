"""The benchmark's printed table and its plot of page latency against N."""

from __future__ import annotations

import math
from pathlib import Path

PAGE_KINDS = ("first_page", "deep_next", "added_after")
LATENCY_ROWS = (
    ("first page, limit 100", "first_page_100"),
    ("first page, limit 1000", "first_page_1000"),
    ("deep next, limit 100", "deep_next_100"),
    ("deep next, limit 1000", "deep_next_1000"),
    ("added_after poll, limit 100", "added_after_100"),
    ("added_after poll, limit 1000", "added_after_1000"),
    ("manifest, limit 100", "manifest_100"),
    ("versions of an object", "versions"),
)


def _ms(figure: dict | None) -> str:
    if not figure or not figure.get("n"):
        return "-"
    return f"{figure['median_ms']:.1f} / {figure['p95_ms']:.1f}"


def _label(run: dict) -> str:
    return f"{run['server']} N={run['n']:,}"


def scale_table(runs: list[dict]) -> str:
    """One column per (server, N): latencies (median / p95 ms), throughputs, memory."""
    if not runs:
        return ""
    header = ["figure", *(_label(run) for run in runs)]
    rows = [header]
    rows.append(
        ["publish, objects/s", *(f"{run['publish']['objects_per_s']:,.0f}" for run in runs)]
    )
    rows.append(
        [
            "publish, server CPU ms per 1,000 objects",
            *(
                f"{1e6 * run['publish']['server_cpu_s'] / run['publish']['objects']:,.0f}"
                for run in runs
            ),
        ]
    )
    rows.append(
        [
            "full sync (limit 1000), objects/s",
            *(f"{run['reads']['sync']['objects_per_s']:,.0f}" for run in runs),
        ]
    )
    rows.append(
        [
            "full sync (limit 100), objects/s",
            *(
                f"{run['reads']['sync_100']['objects_per_s']:,.0f}"
                if "sync_100" in run["reads"]
                else "-"
                for run in runs
            ),
        ]
    )
    for label, key in LATENCY_ROWS:
        rows.append([f"{label}, ms median / p95", *(_ms(run["reads"].get(key)) for run in runs)])
    rows.append(
        [
            "peak RSS per worker, MB (max)",
            *(f"{_max_worker_rss(run['memory_mb']):.0f}" for run in runs),
        ]
    )
    return _render(rows)


def _max_worker_rss(memory: dict[str, float]) -> float:
    workers = [value for key, value in memory.items() if key.startswith("worker")]
    return max(workers or [memory.get("main", float("nan"))])


def comparison_table(comparisons: list[dict]) -> str:
    """medallion against this server at the same sizes, with the ratios."""
    if not comparisons:
        return ""
    rows = [["N", "figure", "medallion ms", "dx ms", "medallion / dx"]]
    for entry in comparisons:
        for label, key in LATENCY_ROWS:
            theirs = entry["medallion"]["reads"].get(key)
            ours = entry["dx"]["reads"].get(key)
            if not theirs or not ours or not theirs.get("n") or not ours.get("n"):
                continue
            ratio = theirs["median_ms"] / ours["median_ms"]
            rows.append(
                [
                    f"{entry['n']:,}",
                    label,
                    f"{theirs['median_ms']:,.1f}",
                    f"{ours['median_ms']:.1f}",
                    f"{ratio:,.0f}x",
                ]
            )
        theirs_sync = entry["medallion"]["reads"]["sync"]["objects_per_s"]
        ours_sync = entry["dx"]["reads"]["sync"]["objects_per_s"]
        rows.append(
            [
                f"{entry['n']:,}",
                "full sync, objects/s",
                f"{theirs_sync:,.0f}",
                f"{ours_sync:,.0f}",
                f"{ours_sync / theirs_sync:,.0f}x",
            ]
        )
    return _render(rows)


def _render(rows: list[list[str]]) -> str:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = []
    for number, row in enumerate(rows):
        padded = zip(row[1:], widths[1:], strict=True)
        cells = [row[0].ljust(widths[0]), *(cell.rjust(width) for cell, width in padded)]
        lines.append("| " + " | ".join(cells) + " |")
        if number == 0:
            lines.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    return "\n".join(lines)


def plot(runs: list[dict], comparisons: list[dict], path: Path) -> None:
    """Median page latency (limit 100) against N, one line per server and page kind."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(8, 5), dpi=120)
    styles = {"first_page": "o-", "deep_next": "s--", "added_after": "^:"}
    names = {"first_page": "first page", "deep_next": "deep next", "added_after": "added_after"}
    servers = sorted({run["server"] for run in runs})
    palette = ("tab:blue", "tab:orange", "tab:green", "tab:purple")
    colours = {server: palette[i % len(palette)] for i, server in enumerate(servers)}
    for server in servers:
        mine = sorted((run for run in runs if run["server"] == server), key=lambda r: r["n"])
        for kind in PAGE_KINDS:
            points = [
                (run["n"], run["reads"][f"{kind}_100"]["median_ms"])
                for run in mine
                if run["reads"].get(f"{kind}_100", {}).get("n")
            ]
            if points:
                xs, ys = zip(*points, strict=True)
                axis.plot(
                    xs, ys, styles[kind], color=colours[server], label=f"{server} {names[kind]}"
                )
    medallion = sorted(comparisons, key=lambda entry: entry["n"])
    points = [
        (entry["n"], entry["medallion"]["reads"]["first_page_100"]["median_ms"])
        for entry in medallion
        if entry["medallion"]["reads"].get("first_page_100", {}).get("n")
    ]
    if points:
        xs, ys = zip(*points, strict=True)
        axis.plot(xs, ys, "x-", color="tab:red", label="medallion (memory) first page")
    axis.set_xscale("log")
    axis.set_yscale("log")
    axis.set_xlabel("object versions in the collection (N)")
    axis.set_ylabel("median page latency, ms (limit 100)")
    axis.set_title("TAXII page latency against collection size")
    axis.grid(True, which="both", alpha=0.3)
    axis.legend(fontsize=7, loc="upper left")
    top = max([line.get_ydata().max() for line in axis.get_lines()] + [1])
    axis.set_ylim(1, 10 ** math.ceil(math.log10(top) + 0.3))
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)

"""The verdicts of a run (5xx, lost objects, metrics agreement) and how they are printed.

Latency percentiles are of the load phase only: the final sync is every
partner catching up at once, a burst that real partners never make together,
so its figures are shown apart. Request counts (and the comparison with the
server's metrics) cover both phases, since the server counted both.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from bench.capacity import DEFAULT_COSTS, cpu_ms
from bench.partners_sim.metrics import Comparison
from bench.partners_sim.simulate import SimRun
from bench.partners_sim.traffic import COLLECTIONS, Key, Recorder


def percentile(values: list[float], share: float) -> float:
    """Nearest-rank percentile (``share`` in 0..1) of a non-empty list."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


@dataclass
class Verdict:
    """What must hold after every run, whatever the machine."""

    server_errors: int  # responses with a 5xx status
    transport_errors: int  # requests without any HTTP answer
    acknowledged: int
    unacknowledged: int
    lost_objects: list[str]  # acknowledged, but missing from some reader's view
    lost_pairs: int  # (partner, object) pairs missing
    duplicates: int
    unexpected: int  # seen by a reader but acknowledged to nobody
    thread_failures: list[str]
    metrics: Comparison | None
    metrics_note: str = ""
    problems: list[str] = field(default_factory=list)

    def healthy(self) -> bool:
        return not self.problems


def client_counts(run: SimRun) -> Counter[Key]:
    counts: Counter[Key] = Counter(run.load.counts())
    counts.update(run.final.counts())
    return counts


def judge(run: SimRun, metrics: Comparison | None, metrics_note: str = "") -> Verdict:
    counts = client_counts(run)
    acknowledged: dict[str, set[str]] = {}
    for partner in run.partners:
        if partner.writes is not None:
            acknowledged.setdefault(partner.writes, set()).update(partner.acknowledged)
    every_acknowledged = set().union(*acknowledged.values()) if acknowledged else set()
    lost: set[str] = set()
    lost_pairs = unexpected = 0
    for partner in run.partners:
        for collection_id, seen in partner.seen.items():
            missing = acknowledged.get(collection_id, set()) - seen
            lost |= missing
            lost_pairs += len(missing)
            unexpected += len(seen - every_acknowledged)
    verdict = Verdict(
        server_errors=sum(n for (_, _, status), n in counts.items() if status >= 500),
        transport_errors=sum(n for (_, _, status), n in counts.items() if status == 0),
        acknowledged=len(every_acknowledged),
        unacknowledged=sum(p.unacknowledged for p in run.partners),
        lost_objects=sorted(lost),
        lost_pairs=lost_pairs,
        duplicates=sum(p.duplicates for p in run.partners),
        unexpected=unexpected,
        thread_failures=run.thread_failures,
        metrics=metrics,
        metrics_note=metrics_note,
    )
    checks = [
        (verdict.server_errors, "responses with a 5xx status"),
        (verdict.transport_errors, "requests without an HTTP answer"),
        (len(verdict.lost_objects), "acknowledged objects missing from a reader's view"),
        (verdict.duplicates, "objects received twice"),
        (verdict.unexpected, "objects received that no publisher had acknowledged"),
        (verdict.unacknowledged, "objects sent but not acknowledged"),
        (len(verdict.thread_failures), "client threads that failed"),
    ]
    verdict.problems = [f"{count} {what}" for count, what in checks if count]
    if metrics is not None and not metrics.matches():
        verdict.problems.append(
            f"server metrics differ from the client's counts: {metrics.differences()}"
        )
    return verdict


def cpu_figures(run: SimRun, costs_path: Path = DEFAULT_COSTS) -> dict[str, float] | None:
    """CPU the load phase used, beside what the capacity model predicts for the same requests.

    The prediction multiplies the requests the clients actually made, and the
    objects they actually moved, by the per-request costs measured alone
    (``bench/capacity.py --measure``); a ratio near 1 says the costs hold under
    concurrent load, a ratio above 1 says contention adds to them.
    """
    if run.load_cpu_s is None or not costs_path.exists():
        return None
    costs = orjson.loads(costs_path.read_bytes())
    requests: dict[str, float] = {}
    for (endpoint, _method, status), count in run.load.counts().items():
        if status < 400:
            requests[endpoint] = requests.get(endpoint, 0) + count
    read, written = run.load.objects_read, run.load.objects_written
    server = sum(cpu_ms(requests, read, written, costs["server_cpu_ms"])) / 1000
    database = sum(cpu_ms(requests, read, written, costs["database_cpu_ms"])) / 1000
    return {
        "server_cpu_s": run.load_cpu_s[0],
        "database_cpu_s": run.load_cpu_s[1],
        "model_server_cpu_s": server,
        "model_database_cpu_s": database,
        "server_cores_busy": run.load_cpu_s[0] / run.load_seconds,
        "database_cores_busy": run.load_cpu_s[1] / run.load_seconds,
    }


def latency_rows(recorder: Recorder) -> list[dict[str, Any]]:
    by_endpoint: dict[tuple[str, str], list[float]] = {}
    for (endpoint, method, _status), values in recorder.samples.items():
        by_endpoint.setdefault((endpoint, method), []).extend(values)
    rows = []
    for (endpoint, method), values in sorted(by_endpoint.items()):
        rows.append(
            {
                "endpoint": endpoint,
                "method": method,
                "requests": len(values),
                "p50_ms": 1000 * percentile(values, 0.50),
                "p95_ms": 1000 * percentile(values, 0.95),
                "p99_ms": 1000 * percentile(values, 0.99),
                "max_ms": 1000 * max(values),
            }
        )
    return rows


def _latency_table(rows: list[dict[str, Any]], seconds: float) -> list[str]:
    lines = [
        "| endpoint | method | requests | req/s | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        lines.append(
            f"| {row['endpoint']} | {row['method']} | {row['requests']:,} | "
            f"{row['requests'] / seconds:.1f} | {row['p50_ms']:.1f} | {row['p95_ms']:.1f} | "
            f"{row['p99_ms']:.1f} | {row['max_ms']:.1f} |"
        )
    return lines


def as_dict(run: SimRun, verdict: Verdict, description: str) -> dict[str, Any]:
    counts = client_counts(run)
    lag = run.load.lag_s
    return {
        "target": description,
        "plan": {
            **{k: getattr(run.plan, k) for k in run.plan.__dataclass_fields__},
            "poll_interval_s": run.plan.poll_interval_s,
            "publishers": run.plan.publishers,
            "publish_interval_s": run.plan.publish_interval_s,
        },
        "load_seconds": run.load_seconds,
        "final_sync_seconds": run.final_seconds,
        "latency_load": latency_rows(run.load),
        "latency_final_sync": latency_rows(run.final),
        "requests": [
            {"endpoint": e, "method": m, "status": s, "count": n}
            for (e, m, s), n in sorted(counts.items())
        ],
        "objects_read_in_load": run.load.objects_read,
        "objects_written_in_load": run.load.objects_written,
        "cpu": cpu_figures(run),
        "polls_planned": run.polls_planned,
        "client_cpu_s": run.client_cpu_s,
        "late_actions": len(lag),
        "late_p99_s": percentile(lag, 0.99) if lag else 0.0,
        "server_errors": verdict.server_errors,
        "transport_errors": verdict.transport_errors,
        "acknowledged_objects": verdict.acknowledged,
        "lost_objects": len(verdict.lost_objects),
        "lost_pairs": verdict.lost_pairs,
        "duplicates": verdict.duplicates,
        "metrics_match": None if verdict.metrics is None else verdict.metrics.matches(),
        "metrics_note": verdict.metrics_note,
        "metrics_differences": []
        if verdict.metrics is None
        else [
            {"endpoint": e, "method": m, "status": s, "client": c, "server": v}
            for (e, m, s), (c, v) in verdict.metrics.differences().items()
        ],
        "problems": verdict.problems,
        "errors_sample": (run.load.errors + run.final.errors)[:20],
    }


def render(run: SimRun, verdict: Verdict, description: str) -> str:
    plan = run.plan
    counts = client_counts(run)
    lines = [
        f"{plan.partners:,} partners ({plan.publishers} publishing) against {description}",
        f"each polls every {plan.poll_minutes:g} min (x{plan.time_scale:g}: every "
        f"{plan.poll_interval_s:.1f} s of the run), {plan.objects_per_day:,.0f} objects/day "
        f"({plan.objects_per_s:.2f}/s in the run, POSTs of {plan.batch}), "
        f"{plan.collections} collections, limit {plan.page_limit}, {plan.threads} client threads",
        f"load phase {run.load_seconds:.1f} s; "
        f"final sync of every partner {run.final_seconds:.1f} s",
        "",
        "Latency during the load phase:",
        *_latency_table(latency_rows(run.load), run.load_seconds),
        "",
        "Final sync (every partner at once, after the load):",
        *_latency_table(latency_rows(run.final), max(run.final_seconds, 1e-9)),
        "",
        "Requests by status (both phases): "
        + ", ".join(f"{e} {m} {s}: {n:,}" for (e, m, s), n in sorted(counts.items())),
    ]
    lag = run.load.lag_s
    polls_made = sum(
        n for (endpoint, _, _), n in run.load.counts().items() if endpoint == COLLECTIONS
    )
    lines.append(
        f"polls made in the load phase: {polls_made:,} of {run.polls_planned:,} planned; "
        f"client (this process) CPU {run.client_cpu_s:.1f} s"
    )
    if lag:
        lines.append(
            f"Actions that started late: {len(lag):,} (p99 {percentile(lag, 0.99):.2f} s late)"
        )
    cpu = cpu_figures(run)
    if cpu is not None:
        lines.append(
            f"CPU in the load phase: server {cpu['server_cpu_s']:.1f} s "
            f"({cpu['server_cores_busy']:.2f} cores), database {cpu['database_cpu_s']:.1f} s "
            f"({cpu['database_cores_busy']:.2f} cores); the capacity model's costs predict "
            f"{cpu['model_server_cpu_s']:.1f} s and {cpu['model_database_cpu_s']:.1f} s "
            f"for the same requests"
        )
    lines += [
        f"5xx responses: {verdict.server_errors}; requests without an answer: "
        f"{verdict.transport_errors}",
        f"objects acknowledged: {verdict.acknowledged:,}; lost: {len(verdict.lost_objects)} "
        f"({verdict.lost_pairs} partner views missing one); duplicates: {verdict.duplicates}",
    ]
    if verdict.metrics is None:
        lines.append(f"server metrics: not compared ({verdict.metrics_note})")
    elif verdict.metrics.matches():
        lines.append(
            f"server metrics: dx_http_requests_total deltas equal the client's counts "
            f"({sum(verdict.metrics.client.values()):,} requests, every endpoint/method/status)"
        )
    else:
        lines.append("server metrics differ (endpoint, method, status: client, server):")
        for key, (client, server) in verdict.metrics.differences().items():
            lines.append(f"  {key}: {client} {server}")
    lines.append("verdict: " + ("OK" if verdict.healthy() else "; ".join(verdict.problems)))
    return "\n".join(lines)

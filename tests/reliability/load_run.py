"""A sustained mixed load against a running server, and its report.

``run_load`` starts publisher, poller and exporter processes (``load_roles``)
against one collection for ``seconds`` (longer if the publishers have not yet
had ``min_objects`` each acknowledged), waits for them, then reads the whole
collection back as the server has it. ``LoadReport`` holds every request's
kind, status and latency, the objects each side ended with, and renders the
table that both the CI test and ``bench/load.py`` print.
"""

from __future__ import annotations

import multiprocessing
import statistics
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from taxii2client.v21 import Collection

from tests.reliability.load_roles import RoleResult, RoleSpec, exporter, poller, publisher


@dataclass(frozen=True)
class LoadPlan:
    seconds: float
    publishers: int = 2
    pollers: int = 2
    exporters: int = 1
    max_envelope: int = 50
    think_s: float = 0.01
    min_objects: int = 0  # per publisher: acknowledged objects the run must reach, however slow

    def partner_ids(self) -> list[str]:
        return (
            [f"pub-{n}" for n in range(self.publishers)]
            + [f"poll-{n}" for n in range(self.pollers)]
            + [f"export-{n}" for n in range(self.exporters)]
        )


@dataclass
class LoadReport:
    seconds: float
    results: list[RoleResult]
    server_ids: list[str]
    samples: list[tuple[str, int, float]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.samples = [sample for result in self.results for sample in result.samples]

    # -- the properties -------------------------------------------------------------

    def statuses(self) -> Counter[int]:
        return Counter(status for _, status, _ in self.samples)

    def server_errors(self) -> int:
        return sum(count for status, count in self.statuses().items() if status >= 500)

    def acknowledged(self) -> set[str]:
        return {i for r in self.results if r.role == "publisher" for i in r.ids}

    def lost(self) -> set[str]:
        """Acknowledged by a status but not on the server."""
        return self.acknowledged() - set(self.server_ids)

    def pollers_differing(self) -> list[str]:
        server = sorted(self.server_ids)
        return [
            f"poller {n}: {len(r.ids)} objects, {r.duplicates} duplicates"
            for n, r in enumerate(r for r in self.results if r.role == "poller")
            if r.ids != server or r.duplicates
        ]

    def problems(self) -> list[str]:
        return [problem for result in self.results for problem in result.problems]

    # -- the figures ----------------------------------------------------------------

    def table(self, title: str) -> str:
        lines = [
            title,
            f"{'kind':<10}{'requests':>10}{'req/s':>9}{'p50 ms':>9}{'p95 ms':>9}"
            f"{'p99 ms':>9}{'max ms':>9}  statuses",
        ]
        kinds = sorted({kind for kind, _, _ in self.samples})
        for kind in [*kinds, "all"]:
            chosen = [s for s in self.samples if kind in ("all", s[0])]
            if not chosen:
                continue
            latencies = sorted(seconds * 1000 for _, _, seconds in chosen)
            counts = Counter(status for _, status, _ in chosen)
            lines.append(
                f"{kind:<10}{len(chosen):>10}{len(chosen) / self.seconds:>9.1f}"
                f"{_percentile(latencies, 50):>9.1f}{_percentile(latencies, 95):>9.1f}"
                f"{_percentile(latencies, 99):>9.1f}{latencies[-1]:>9.1f}  "
                + " ".join(f"{status}:{n}" for status, n in sorted(counts.items()))
            )
        published = len(self.acknowledged())
        lines.append(
            f"objects: {published} acknowledged, {len(self.server_ids)} on the server, "
            f"{len(self.lost())} lost; pollers identical to the server: "
            f"{not self.pollers_differing()}; 5xx: {self.server_errors()}"
        )
        return "\n".join(lines)


def _percentile(sorted_values: list[float], percent: float) -> float:
    if len(sorted_values) == 1:
        return sorted_values[0]
    return statistics.quantiles(sorted_values, n=100, method="inclusive")[int(percent) - 1]


def read_collection_ids(collection_url: str, partner_id: str, api_key: str) -> list[str]:
    """Every object id in the collection, read through taxii2-client after the run."""
    collection = Collection(collection_url, user=partner_id, password=api_key)
    ids: list[str] = []
    token = None
    while True:
        kwargs = {"limit": 1000, **({"next": token} if token else {})}
        body = collection.get_objects(**kwargs)
        ids.extend(obj["id"] for obj in body.get("objects", []))
        if not body.get("more"):
            return sorted(ids)
        token = body["next"]


def run_load(
    plan: LoadPlan,
    collection_url: str,
    keys: dict[str, str],
    identities: dict[str, str],
) -> LoadReport:
    """Run the plan's client processes for ``plan.seconds``; return the report."""
    context = multiprocessing.get_context("spawn")
    roles = plan.publishers + plan.pollers + plan.exporters
    with context.Manager() as manager, ProcessPoolExecutor(roles, mp_context=context) as pool:
        publishers_done = manager.Event()

        def spec(role: str, partner_id: str, seed: int) -> RoleSpec:
            return RoleSpec(
                role,
                collection_url,
                partner_id,
                keys[partner_id],
                identities[partner_id],
                plan.seconds,
                plan.max_envelope,
                plan.think_s,
                seed,
                plan.min_objects if role == "publisher" else 0,
            )

        publishing = [
            pool.submit(publisher, spec("publisher", f"pub-{n}", n)) for n in range(plan.publishers)
        ]
        polling = [
            pool.submit(poller, spec("poller", f"poll-{n}", n), publishers_done)
            for n in range(plan.pollers)
        ]
        exporting = [
            pool.submit(exporter, spec("exporter", f"export-{n}", n)) for n in range(plan.exporters)
        ]
        results = [future.result() for future in publishing]
        publishers_done.set()
        results += [future.result() for future in polling + exporting]
    # From the first client's start to the last one's end (process start-up excluded).
    elapsed = max(r.ended for r in results) - min(r.started for r in results)
    reader = f"poll-{0}" if plan.pollers else "pub-0"
    server_ids = read_collection_ids(collection_url, reader, keys[reader])
    return LoadReport(elapsed, results, server_ids)

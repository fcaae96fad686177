"""Sustained mixed load: publishers, pollers and exporters in their own processes, for a minute.

Against gunicorn with 4 workers x 2 threads on loopback, with the default
rate limits. The run passes only if no request got a 5xx, every object a
status acknowledged is on the server (and nothing else is), and every poller
ends with exactly the server's objects, received once each. The table of
requests/s, latency percentiles and statuses is printed (``pytest -s``) and
written to the test's temp directory.

Durations: ``DX_LOAD_SECONDS`` (SQLite, default 60) and
``DX_LOAD_PG_SECONDS`` (PostgreSQL, default 10) make longer runs;
``bench/load.py`` prints the same table outside pytest.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from server.store import Store
from server.store.types import CollectionInfo
from tests.reliability.load_run import LoadPlan, LoadReport, run_load
from tests.support.server import PartnerSpec, ServerProcess, database, seed, write_config


@contextmanager
def load_server(
    directory: Path, backend: str, plan: LoadPlan, workers: int = 4, threads: int = 2
) -> Iterator[tuple[str, dict[str, str], dict[str, str], str]]:
    """(collection URL, keys, identities, database URL) of a fresh server for ``plan``."""
    collection = str(uuid.uuid4())
    identities = {p: f"identity--{uuid.uuid4()}" for p in plan.partner_ids()}
    partners = [PartnerSpec(p, identities[p], {collection: (True, True)}) for p in identities]
    with database(backend, directory) as url:
        keys = seed(url, "exchange", [CollectionInfo(collection, "exchange", "Load")], partners)
        config = write_config(directory / "server.toml", url, workers=workers, threads=threads)
        server = ServerProcess(config, directory / "server.log").start()
        try:
            yield f"{server.base_url}/exchange/collections/{collection}/", keys, identities, url
        finally:
            server.kill()  # the checks are done; a graceful stop would only add seconds


# Per publisher: the run goes on past its duration until this many objects are acknowledged,
# so a busy machine makes it longer, never weaker (the test asks for more than 1000 in all).
MIN_OBJECTS = 600


def run_and_check(directory: Path, backend: str, seconds: float) -> LoadReport:
    plan = LoadPlan(seconds=seconds, min_objects=MIN_OBJECTS)
    with load_server(directory, backend, plan) as (collection_url, keys, identities, url):
        report = run_load(plan, collection_url, keys, identities)
        collection_id = collection_url.rstrip("/").rsplit("/", 1)[-1]
        with Store(url) as store:
            stored = store.count_objects(collection_id)
            integrity = store.check_integrity()
    table = report.table(f"{backend}: {plan.seconds:.0f} s, 2 publishers, 2 pollers, 1 exporter")
    print("\n" + table)
    (directory / "load-report.txt").write_text(table + "\n", encoding="utf-8")

    assert report.server_errors() == 0, table
    assert not report.problems(), report.problems()[:5]
    assert len(report.acknowledged()) > 1000, table  # the load really published
    assert {"publish", "poll", "export", "manifest"} <= {kind for kind, _, _ in report.samples}
    assert not report.lost(), f"{len(report.lost())} acknowledged objects missing"
    assert set(report.server_ids) == report.acknowledged()
    assert stored == len(report.server_ids)
    assert not report.pollers_differing(), report.pollers_differing()
    assert integrity.ok, integrity.problems
    return report


def test_sustained_mixed_load_sqlite(tmp_path):
    run_and_check(tmp_path, "sqlite", float(os.environ.get("DX_LOAD_SECONDS", "60")))


@pytest.mark.postgres
def test_sustained_mixed_load_postgres(tmp_path):
    run_and_check(tmp_path, "postgres", float(os.environ.get("DX_LOAD_PG_SECONDS", "10")))

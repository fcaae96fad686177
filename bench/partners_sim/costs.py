"""Measured per-request costs, the inputs of the capacity model (``bench/capacity.py``).

A real server (gunicorn, one worker, one thread, so requests never overlap) on
a fresh PostgreSQL database is sent the requests the partners make, one kind at
a time, from one client; for each kind the CPU time that the server's
processes (master and worker) and the database backends serving this database
spent is read from ``/proc`` before and after, and divided by the number of
requests. CPU time, not wall time: on a shared machine it does not include
waiting for a core, so it is what the same requests cost on an idle machine.

Costs that grow with the objects in a request are measured at two sizes and
split into a fixed part and a part per object:

* reading: an ``added_after`` poll that finds nothing, and one that returns a
  full page of ``PAGE`` objects;
* publishing: POSTs of ``SMALL_BATCH`` and of ``LARGE_BATCH`` objects.

Storage is the growth of every table and index of the database (PostgreSQL's
``pg_total_relation_size``) over the objects loaded, per object.
"""

from __future__ import annotations

import os
import platform
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import psycopg
import requests

from bench.partners_sim.cpu import Meters
from mappings.timestamps import stix_timestamp
from server.store.types import CollectionInfo
from tests.support.server import TAXII, PartnerSpec, basic, served

API_ROOT = "exchange"
PARTNER = "costs-lab"
IDENTITY = "identity--4e2ad8f7-5b71-4c39-9d3e-35a5d0b7b1a2"
PAGE = 1000
SMALL_BATCH, LARGE_BATCH = 10, 100


def _indicator(number: int, created: str) -> dict[str, Any]:
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid4()}",
        "created": created,
        "modified": created,
        "created_by_ref": IDENTITY,
        "name": "distillation proxy range",
        "pattern": f"[ipv4-addr:value ISSUBSET '198.{number // 256 % 256}.{number % 256}.0/24']",
        "pattern_type": "stix",
        "valid_from": created,
    }


class Costs:
    """One measuring session against one server."""

    def __init__(self, base_url: str, collection_id: str, key: str, meters: Meters) -> None:
        self.root = f"{base_url}/{API_ROOT}/"
        self.collection = f"{self.root}collections/{collection_id}/"
        self.session = requests.Session()
        self.session.headers.update({"Authorization": basic(PARTNER, key), "Accept": TAXII})
        self.meters = meters
        self.published = 0
        self.latency_ms: dict[str, float] = {}

    def get(self, url: str, params: dict[str, Any] | None = None) -> requests.Response:
        response = self.session.get(url, params=params, timeout=120)
        assert response.status_code == 200, (url, response.status_code, response.text[:300])
        return response

    def post(self, size: int) -> dict[str, Any]:
        created = stix_timestamp(datetime.now(UTC) - timedelta(minutes=1))
        objects = [_indicator(self.published + n, created) for n in range(size)]
        self.published += size
        response = self.session.post(
            f"{self.collection}objects/",
            data=orjson.dumps({"objects": objects}),
            headers={"Content-Type": TAXII},
            timeout=120,
        )
        assert response.status_code == 202, response.text[:300]
        status = orjson.loads(response.content)
        assert status["success_count"] == size, status
        return status

    def per_request(
        self, name: str, requests_made: int, action: Callable[[], object]
    ) -> tuple[float, float]:
        """(server ms, database ms) of CPU per request; median wall ms kept aside."""
        walls = []
        server_before, database_before = self.meters.read()
        for _ in range(requests_made):
            started = time.perf_counter()
            action()
            walls.append(time.perf_counter() - started)
        server_after, database_after = self.meters.read()
        self.latency_ms[name] = 1000 * statistics.median(walls)
        return (
            1000 * (server_after - server_before) / requests_made,
            1000 * (database_after - database_before) / requests_made,
        )


def _median_pair(samples: list[tuple[float, float]]) -> tuple[float, float]:
    return statistics.median(s[0] for s in samples), statistics.median(s[1] for s in samples)


def measure(objects: int = 20_000, requests_per_round: int = 200, rounds: int = 5) -> dict:
    """Every cost of the model, medians over ``rounds`` rounds; a JSON-ready dict."""
    collection = CollectionInfo(str(uuid.uuid4()), API_ROOT, "costs")
    partner = PartnerSpec(PARTNER, IDENTITY, {collection.id: (True, True)})
    with (
        tempfile.TemporaryDirectory(prefix="dx-costs-") as directory,
        served(
            Path(directory), "postgres", [collection], [partner], workers=1, threads=1
        ) as running,
    ):
        assert running.server._process is not None
        meters = Meters([running.server._process.pid], [running.database_url])
        costs = Costs(running.base_url, collection.id, running.keys[PARTNER], meters)
        conninfo = running.database_url.replace("+psycopg", "")
        size_before = _database_bytes(conninfo)
        database_version = _server_version(conninfo)
        load_at_start = os.getloadavg()
        # Loading is measured too: the large POSTs are the publish cost at LARGE_BATCH.
        publish: dict[int, list[tuple[float, float]]] = {SMALL_BATCH: [], LARGE_BATCH: []}
        while costs.published < objects:
            publish[LARGE_BATCH].append(
                costs.per_request("post_large", 10, lambda: costs.post(LARGE_BATCH))
            )
        stored = costs.published
        size_after = _database_bytes(conninfo)
        status_id = costs.post(SMALL_BATCH)["id"]
        objects_url = f"{costs.collection}objects/"
        # An added_after with more than PAGE objects after it, and one with none.
        dates = _dates_added(costs)
        full_page_after, last_added = dates[0], dates[-1]
        recent = dates[-LARGE_BATCH - 1]  # a manifest poll finds LARGE_BATCH entries
        page = costs.get(objects_url, {"added_after": full_page_after, "limit": PAGE})
        wire_bytes = len(page.content) / PAGE
        samples: dict[str, list[tuple[float, float]]] = {}
        n = requests_per_round
        kinds: dict[str, Callable[[], object]] = {
            "collections": lambda: costs.get(f"{costs.root}collections/"),
            "objects_empty": lambda: costs.get(objects_url, {"added_after": last_added}),
            "objects_full_page": lambda: costs.get(
                objects_url, {"added_after": full_page_after, "limit": PAGE}
            ),
            "manifest": lambda: costs.get(
                f"{costs.collection}manifest/", {"added_after": recent, "limit": PAGE}
            ),
            "status": lambda: costs.get(f"{costs.root}status/{status_id}/"),
        }
        for _ in range(rounds):
            for name, action in kinds.items():
                samples.setdefault(name, []).append(costs.per_request(name, n, action))
            publish[SMALL_BATCH].append(
                costs.per_request("post_small", n // 5, lambda: costs.post(SMALL_BATCH))
            )
        medians = {name: _median_pair(values) for name, values in samples.items()}
        small, large = _median_pair(publish[SMALL_BATCH]), _median_pair(publish[LARGE_BATCH])
    per_object_write = [(large[i] - small[i]) / (LARGE_BATCH - SMALL_BATCH) for i in (0, 1)]
    empty, full = medians["objects_empty"], medians["objects_full_page"]
    per_object_read = [(full[i] - empty[i]) / PAGE for i in (0, 1)]
    side = ("server_cpu_ms", "database_cpu_ms")
    result: dict[str, Any] = {
        "measured_at": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": _machine(),
        "load_average_at_start": [round(v, 2) for v in load_at_start],
        "load_average_at_end": [round(v, 2) for v in os.getloadavg()],
        "database": database_version,
        "objects_stored": stored,
        "requests_per_round": n,
        "rounds": rounds,
        "bytes_per_object": round((size_after - size_before) / stored),
        "response_bytes_per_object": round(wire_bytes),
        "median_wall_ms": {k: round(v, 2) for k, v in costs.latency_ms.items()},
    }
    for i, name in enumerate(side):
        result[name] = {
            "collections": round(medians["collections"][i], 3),
            "objects_request": round(empty[i], 3),
            "objects_per_object": round(max(per_object_read[i], 0.0), 4),
            "manifest_request": round(medians["manifest"][i], 3),
            "add_objects_request": round(max(small[i] - SMALL_BATCH * per_object_write[i], 0.0), 3),
            "add_objects_per_object": round(max(per_object_write[i], 0.0), 4),
            "status": round(medians["status"][i], 3),
        }
    return result


def _dates_added(costs: Costs) -> list[str]:
    """Every date_added of the collection, in order, following the manifest's ``next``."""
    dates: list[str] = []
    params: dict[str, Any] = {"limit": PAGE}
    while True:
        page = orjson.loads(costs.get(f"{costs.collection}manifest/", params).content)
        dates += [entry["date_added"] for entry in page.get("objects", [])]
        if not page.get("more"):
            return dates
        params = {"limit": PAGE, "next": page["next"]}


def _database_bytes(conninfo: str) -> int:
    with psycopg.connect(conninfo, autocommit=True) as connection:
        row = connection.execute(
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE c.relkind IN ('r', 'm') "
            "AND n.nspname NOT IN ('pg_catalog', 'information_schema')"
        ).fetchone()
    assert row is not None
    return int(row[0])


def _server_version(conninfo: str) -> str:
    with psycopg.connect(conninfo, autocommit=True) as connection:
        row = connection.execute("SHOW server_version").fetchone()
    return f"PostgreSQL {row[0] if row else '?'}"


def _machine() -> str:
    model = "unknown CPU"
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    return f"{platform.node()}: {os.cpu_count()} cores, {model}, Python {platform.python_version()}"

"""The two servers under test, each a real process on a free port.

This exchange runs exactly as in production (``python -m server.wsgi``:
gunicorn, 2 workers x 4 threads by default) over a fresh SQLite file or a
PostgreSQL database created for the run and dropped afterwards, started with
the test harness. medallion runs its own command (``medallion CONFIG``) with its
memory backend reading a data file written here, as its users deploy it.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import orjson
import requests

from bench.perf.client import TAXII, TaxiiClient
from bench.perf.feed import BENCH_IDENTITY
from server.store.engine import make_engine
from server.store.types import CollectionInfo
from tests.support.server import PartnerSpec, free_port, served

API_ROOT = "exchange"
PARTNER = "bench-lab"
MEDALLION_USER, MEDALLION_PASSWORD = "bench", "bench-password"
MAX_CONTENT_LENGTH = 10 * 1024 * 1024  # the API root default of `dx server init`
START_TIMEOUT_S = 600.0  # medallion parses its whole data file before it listens


@dataclass
class Running:
    """A server under test: how to reach it and which processes to watch."""

    name: str
    client: TaxiiClient
    pid: int
    database_url: str | None = None  # this exchange's database; None for medallion

    def settle(self) -> None:
        """Let the database finish the work a bulk load leaves behind, before reads are timed.

        PostgreSQL's autovacuum visits a table within a minute of 100,000
        inserts (``autovacuum_vacuum_insert_threshold``) and then competes for
        the same two cores as the reads; whether its pass overlapped the
        limit-100 sync made that figure swing by a quarter between runs. The
        same VACUUM (ANALYZE), run here once, leaves the table as autovacuum
        would, so every run times the reads on the state a server reaches on
        its own. SQLite has no such background work: nothing to do.
        """
        if self.database_url is None or not self.database_url.startswith("postgresql"):
            return
        engine = make_engine(self.database_url)
        try:
            with engine.connect() as connection:
                connection.execution_options(isolation_level="AUTOCOMMIT")  # VACUUM needs it
                connection.exec_driver_sql("VACUUM (ANALYZE) objects")
        finally:
            engine.dispose()

    def peak_rss_mb(self) -> dict[str, float]:
        """Peak resident memory (VmHWM) of the main process and of each worker."""
        peaks = {"main": _peak_rss_mb(self.pid)}
        for number, child in enumerate(sorted(_children(self.pid)), start=1):
            peaks[f"worker{number}"] = _peak_rss_mb(child)
        return peaks

    def cpu_seconds(self) -> float:
        """CPU time (user + system) used so far by the main process and its workers.

        On a shared machine wall time includes waiting for the CPU; this does not.
        It leaves out the database server's own processes (PostgreSQL).
        """
        return sum(_cpu_seconds(pid) for pid in [self.pid, *_children(self.pid)])


_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_seconds(pid: int) -> float:
    with suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        # utime and stime are fields 14 and 15 of stat, 12 and 13 after the command name.
        return (int(fields[11]) + int(fields[12])) / _TICKS
    return 0.0


def _children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with suppress(OSError):
            stat = (entry / "stat").read_text()
            # Field 4 (ppid) follows the parenthesised command name.
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def _peak_rss_mb(pid: int) -> float:
    with suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


@contextmanager
def exchange_server(backend: str, directory: Path, workers: int, threads: int) -> Iterator[Running]:
    """This exchange on ``backend`` ("sqlite" or "postgres"), with one empty collection."""
    collection = str(uuid.uuid4())
    with served(
        directory,
        backend,
        [CollectionInfo(collection, API_ROOT, "Benchmark feed")],
        [PartnerSpec(PARTNER, BENCH_IDENTITY, {collection: (True, True)})],
        api_root=API_ROOT,
        max_content_length=MAX_CONTENT_LENGTH,
        workers=workers,
        threads=threads,
    ) as running:
        client = TaxiiClient(running.base_url, API_ROOT, collection, PARTNER, running.keys[PARTNER])
        assert running.server._process is not None
        yield Running(f"dx-{backend}", client, running.server._process.pid, running.database_url)


def medallion_data(objects: list[dict], collection: str) -> dict:
    """medallion's memory-backend data file holding ``objects`` in one collection.

    date_added values are one millisecond apart in publication order, as if
    each had been posted separately.
    """
    manifest, stored = [], []
    base_ms = 1_780_000_000_000  # 2026-05-28
    for serial, obj in enumerate(objects):
        seconds, millis = divmod(base_ms + serial, 1000)
        added = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{millis:03d}000Z"
        copy = dict(obj)
        version = obj.get("modified") or obj.get("created")
        if version is None:  # an observable: medallion versions it by its date_added
            copy["_date_added"] = added
            version = added
        stored.append(copy)
        manifest.append(
            {
                "id": obj["id"],
                "date_added": added,
                "version": version,
                "media_type": "application/stix+json;version=2.1",
            }
        )
    return {
        "/discovery": {
            "title": "medallion benchmark",
            "description": "medallion memory backend under the dx benchmark",
            "default": f"/{API_ROOT}/",
            "api_roots": [f"/{API_ROOT}/"],
        },
        API_ROOT: {
            "information": {
                "title": "Benchmark root",
                "description": "one collection",
                "versions": [TAXII],
                "max_content_length": MAX_CONTENT_LENGTH,
            },
            "status": [],
            "collections": [
                {
                    "id": collection,
                    "title": "Benchmark feed",
                    "description": "synthetic feed",
                    "can_read": True,
                    "can_write": True,
                    "media_types": ["application/stix+json;version=2.1"],
                    "objects": stored,
                    "manifest": manifest,
                }
            ],
        },
    }


@contextmanager
def medallion_server(objects: list[dict], directory: Path, max_page_size: int) -> Iterator[Running]:
    """medallion (memory backend) serving ``objects``, loaded from its data file."""
    collection = str(uuid.uuid4())
    data_path = directory / "medallion-data.json"
    data_path.write_bytes(orjson.dumps(medallion_data(objects, collection)))
    config_path = directory / "medallion-config.json"
    config = {
        "backend": {
            "module": "medallion.backends.memory_backend",
            "module_class": "MemoryBackend",
            "filename": str(data_path),
        },
        "users": {MEDALLION_USER: MEDALLION_PASSWORD},
        "taxii": {"max_page_size": max_page_size},
    }
    config_path.write_bytes(orjson.dumps(config))
    port = free_port()
    log_path = directory / "medallion.log"
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "medallion.scripts.run", "--port", str(port), str(config_path)],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    base_url = f"http://127.0.0.1:{port}"
    try:
        _wait_for(base_url, process, log_path)
        client = TaxiiClient(base_url, API_ROOT, collection, MEDALLION_USER, MEDALLION_PASSWORD)
        yield Running("medallion", client, process.pid)
    finally:
        with suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


def _wait_for(base_url: str, process: subprocess.Popen, log_path: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"medallion exited at start:\n{log_path.read_text()[-3000:]}")
        with suppress(requests.RequestException):
            requests.get(f"{base_url}/taxii2/", timeout=1)
            return
        time.sleep(0.2)
    raise RuntimeError(f"medallion not listening after {START_TIMEOUT_S} s")

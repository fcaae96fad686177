"""Crash test: a poller SIGKILLed at random points, restarted each time, ends exact.

10,000 object versions (8,000 objects plus a second version of 2,000) are
loaded into a real server; ``dx poll --once`` runs as a subprocess and is
killed over and over, until one run finishes on its own. The local store must
then hold exactly the server's versions (same ids, versions and date_added, in
the same order): none missing, none twice.

Each kill is driven by observed progress, not by elapsed time: a run is
killed once the store has grown past a seeded random target (one to several
pages further than the last kill), then a seeded random instant later, so it
lands inside the next page's work. On a busy machine the runs only get
slower; every kill still interrupts a sync part-way.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
from taxii2client.v21 import Collection, as_pages

from exchange.feed.store import FeedStore
from exchange.lab_config import load_lab_config
from tests.feed.stix_factory import many_indicators, write_bundle
from tests.support.exchange import REPO, Exchange, build_feed_exchange

VERSIONS = 10_000
SEED = 20260501
PAGE = 200
MAX_RUNS = 60  # every killed run stores at least one page: 50 runs at most
NO_PROGRESS_S = 120.0  # a run whose store does not grow for this long has hung


@pytest.fixture(scope="module")
def loaded_exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    exchange = build_feed_exchange(tmp_path_factory.mktemp("crash"))
    objects = many_indicators(VERSIONS, versions_every=4)
    assert len(objects) == VERSIONS
    exchange.load(write_bundle(exchange.directory / "bulk.json", objects))
    exchange.start()
    try:
        yield exchange
    finally:
        exchange.stop()


def server_index(exchange: Exchange) -> list[tuple[str, str, str]]:
    collection = Collection(
        f"{exchange.api_root_url}collections/{exchange.collection_id}/",
        user="lab-b",
        password=exchange.keys["lab-b"],
    )
    entries = []
    for page in as_pages(collection.get_manifest, per_request=5000, version="all"):
        entries += [(e["id"], e["version"], e["date_added"]) for e in page.get("objects", [])]
    return entries


def start_poller(lab: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exchange.commands.poll",
            "--config",
            str(lab),
            "--once",
            "--quiet",
            "--page-size",
            "200",
        ],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


def stored_count(store_path: Path, collection_id: str) -> int:
    if not store_path.exists():
        return 0
    with FeedStore(store_path) as store:
        return store.count_versions(collection_id)


def peek_count(store_path: Path, collection_id: str) -> int:
    """Versions stored so far, read while the poller writes (read-only; the store is WAL)."""
    try:
        with closing(sqlite3.connect(f"file:{store_path}?mode=ro", uri=True, timeout=5)) as db:
            row = db.execute(
                "SELECT count(*) FROM object_versions WHERE collection = ?", (collection_id,)
            ).fetchone()
    except sqlite3.Error:  # not created yet, or its schema not yet written
        return 0
    return int(row[0])


def run_until_stored(
    poller: subprocess.Popen, store_path: Path, collection_id: str, target: int
) -> bool:
    """Wait until the store holds ``target`` versions (False) or the poller exits (True)."""
    count, progressed = -1, time.monotonic()
    while poller.poll() is None:
        now = peek_count(store_path, collection_id)
        if now >= target:
            return False
        if now != count:
            count, progressed = now, time.monotonic()
        assert time.monotonic() - progressed < NO_PROGRESS_S, (
            f"poller stored nothing for {NO_PROGRESS_S} s (stuck at {count})"
        )
        time.sleep(0.02)
    return True


@pytest.mark.slow
def test_poller_killed_at_random_points_ends_with_exactly_the_servers_versions(
    loaded_exchange: Exchange,
) -> None:
    exchange = loaded_exchange
    lab = exchange.lab_config("crashing")
    store_path = load_lab_config(lab).store_path
    rng = random.Random(SEED)
    kills: list[int] = []
    finished = False
    for _run in range(MAX_RUNS):
        target = stored_count(store_path, exchange.collection_id) + rng.randint(1, 6 * PAGE)
        poller = start_poller(lab)
        try:
            if not run_until_stored(poller, store_path, exchange.collection_id, target):
                time.sleep(rng.uniform(0, 0.2))  # somewhere inside the next page's work
                poller.send_signal(signal.SIGKILL)
                poller.wait(timeout=30)
                if poller.returncode == -signal.SIGKILL:
                    kills.append(stored_count(store_path, exchange.collection_id))
                    continue
        finally:
            if poller.stderr is not None:
                stderr = poller.stderr.read().decode()
                poller.stderr.close()
        assert poller.returncode == 0, stderr
        finished = True
        break
    assert finished, f"poller never finished in {MAX_RUNS} runs (kills at counts {kills})"
    # The kills really interrupted syncs part-way, more than once.
    assert len([count for count in kills if 0 < count < VERSIONS]) >= 3, kills
    assert kills == sorted(kills), "progress is never lost between runs"

    print("kills at stored counts:", kills)
    expected = server_index(exchange)
    assert len(expected) == VERSIONS
    with FeedStore(store_path) as store:
        local = store.version_index(exchange.collection_id)
        cursor = store.cursor(exchange.api_root_url, exchange.collection_id)
    assert len(set(local)) == len(local)
    assert local == expected
    assert cursor == expected[-1][2]
    # One more run after the finish stores nothing new.
    poller = start_poller(lab)
    _, stderr = poller.communicate(timeout=60)
    assert poller.returncode == 0, stderr
    assert stored_count(store_path, exchange.collection_id) == VERSIONS

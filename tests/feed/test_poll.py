"""`dx poll` against a real server process over HTTP, into a real SQLite store."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from pathlib import Path

import orjson
from taxii2client.v21 import Collection, as_pages

from exchange.feed.store import FeedStore
from exchange.lab_config import load_lab_config
from tests.feed.stix_factory import indicator, write_bundle
from tests.support.exchange import REPO, Exchange, run_dx


def server_versions(exchange: Exchange, collection_id: str) -> list[tuple[str, str, str]]:
    """(id, version, date_added) of every version on the server, read with taxii2-client."""
    collection = Collection(
        f"{exchange.api_root_url}collections/{collection_id}/",
        user="lab-b",
        password=exchange.keys["lab-b"],
    )
    entries = []
    for page in as_pages(collection.get_manifest, per_request=1000, version="all"):
        entries += [(e["id"], e["version"], e["date_added"]) for e in page.get("objects", [])]
    return entries


def publish(exchange: Exchange, objects: list[dict], collection_id: str, tmp_path: Path) -> None:
    bundle = write_bundle(tmp_path / f"bundle-{time.monotonic_ns()}.json", objects)
    exchange.load(bundle, collection_id)


def poll(lab: Path, *args: str) -> subprocess.CompletedProcess:
    return run_dx("poll", "--config", str(lab), *args)


def log_events(stderr: str) -> list[dict]:
    return [orjson.loads(line) for line in stderr.splitlines() if line.startswith("{")]


def test_poll_stores_every_version_once_and_follows_new_versions(
    exchange: Exchange, tmp_path: Path
) -> None:
    collection_id = exchange.add_collection("poll basics", "poll-basics")
    lab = exchange.lab_config("basics", collections=[collection_id])
    store_path = load_lab_config(lab).store_path
    first = [indicator(f"basic-{i}", f"203.0.113.{i * 4}/30") for i in range(7)]
    publish(exchange, first, collection_id, tmp_path)

    done = poll(lab, "--page-size", "3")
    events = log_events(done.stderr)
    pages = [e for e in events if e["event"] == "page"]
    assert [e["objects"] for e in pages] == [3, 3, 1]
    for event in pages:
        assert {"ts", "collection", "objects", "cursor", "duration_ms"} <= event.keys()
    with FeedStore(store_path) as store:
        assert store.version_index(collection_id) == server_versions(exchange, collection_id)
        cursor = store.cursor(exchange.api_root_url, collection_id)
    assert cursor == server_versions(exchange, collection_id)[-1][2]
    with closing(sqlite3.connect(store_path)) as conn:  # dx match's index kept in step
        synced = conn.execute("SELECT value FROM prompt_match_state WHERE name = 'synced_seq'")
        top = conn.execute("SELECT MAX(seq) FROM object_versions")
        assert synced.fetchone()[0] == top.fetchone()[0]

    again = log_events(poll(lab).stderr)
    assert [e for e in again if e["event"] == "page"] == []
    assert [e["stored"] for e in again if e["event"] == "synced"] == [0]

    updated = indicator("basic-0", "203.0.113.0/29", modified="2026-02-01T00:00:00.000Z")
    revoked = indicator("basic-1", "203.0.113.4/30", modified="2026-02-02T00:00:00.000Z")
    revoked["revoked"] = True
    publish(exchange, [updated, revoked], collection_id, tmp_path)
    poll(lab)
    with FeedStore(store_path) as store:
        index = store.version_index(collection_id)
        assert index == server_versions(exchange, collection_id)
        assert len(index) == 9
        latest = {v.stix_id: v for v in store.latest_versions(collections=[collection_id])}
    assert latest[updated["id"]].obj == updated
    assert latest[revoked["id"]].revoked is True


def test_collections_by_alias_and_title_and_several_at_once(
    exchange: Exchange, tmp_path: Path
) -> None:
    one = exchange.add_collection("Alias one", "alias-one")
    two = exchange.add_collection("Title Two", "alias-two")
    publish(exchange, [indicator("alias-1", "192.0.2.0/28")], one, tmp_path)
    publish(exchange, [indicator("alias-2", "192.0.2.16/28")], two, tmp_path)
    lab = exchange.lab_config("aliases", collections=["alias-one", "Title Two"])
    synced = [e for e in log_events(poll(lab).stderr) if e["event"] == "synced"]
    assert [(e["collection"], e["stored"]) for e in synced] == [(one, 1), (two, 1)]
    with FeedStore(load_lab_config(lab).store_path) as store:
        assert store.count_versions(one) == 1
        assert store.count_versions(two) == 1


def test_follow_mode_keeps_syncing_until_told_to_stop(exchange: Exchange, tmp_path: Path) -> None:
    collection_id = exchange.add_collection("follow", "follow")
    lab = exchange.lab_config("follow", collections=[collection_id])
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "exchange.commands.poll",
            "--config",
            str(lab),
            "--follow",
            "--interval",
            "0.2",
        ],
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        store_path = load_lab_config(lab).store_path
        publish(exchange, [indicator("follow-1", "192.0.2.64/28")], collection_id, tmp_path)
        deadline = time.monotonic() + 120  # hang guard: the count decides
        count = 0
        while time.monotonic() < deadline and count == 0:
            time.sleep(0.2)
            if store_path.exists():
                with FeedStore(store_path) as store:
                    count = store.count_versions(collection_id)
        assert count == 1
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
    assert process.returncode == 0
    events = log_events(stderr)
    assert events[-1]["event"] == "stopped"
    assert events[-1]["rounds"] >= 1


def test_follow_mode_with_a_round_limit_exits_by_itself(exchange: Exchange) -> None:
    lab = exchange.lab_config("rounds")
    done = poll(lab, "--follow", "--interval", "0.1", "--rounds", "3")
    events = log_events(done.stderr)
    assert len([e for e in events if e["event"] == "synced"]) == 3
    assert events[-1] == {**events[-1], "event": "stopped", "rounds": 3}

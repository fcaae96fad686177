"""SIGKILL the server again and again under publishers: nothing acknowledged is lost, nothing torn.

Three publisher processes (taxii2-client, one partner each) and one
incremental poller run against a real ``dx server serve`` (gunicorn, three
workers), which is killed with SIGKILL (master and workers)
``DX_CRASH_KILLS`` times per backend (default 20), and restarted each time.
Kills are driven by observed progress, never by elapsed time alone: after
each (re)start the test waits until a publisher has had a POST acknowledged
by this server process, then waits a seeded random instant more and kills
it, so every kill lands while publishers are posting, however slow the
machine. Then:

* every object whose status said success is served, at that version, and its
  status resource still says so;
* every group (one POST) is served whole or not at all, whatever the kill
  did to it, and the poller, which checked this *while* the kills happened,
  never saw a group in part and ends with exactly what the server holds;
* ``dx server check`` (the store's integrity check) passes.

The extra instants come from ``random.Random(DX_CRASH_SEED)`` (default 6); the kills
are printed (``pytest -s``, or on failure) and written, with the figures,
to ``crash-report.json`` in the test's temp directory and, if
``DX_CRASH_REPORT_DIR`` is set, to ``crash-report-<backend>.json`` there.
"""

from __future__ import annotations

import json
import os
import random
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from contextlib import closing
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from sqlalchemy import create_engine, text
from taxii2client.v21 import Collection, Status, as_pages

from exchange.commands.server import server as server_group
from server.store import Store
from server.store.types import CollectionInfo, IncomingObject
from tests.support.server import (
    BACKENDS,
    REPO,
    PartnerSpec,
    ServerProcess,
    database,
    indicator,
    run_cli,
    seed,
    write_config,
)

KILLS = int(os.environ.get("DX_CRASH_KILLS", "20"))
SEED = int(os.environ.get("DX_CRASH_SEED", "6"))
# After a POST acknowledged by the running server, a further random instant before the kill.
AFTER_ACK_S = (0.0, 0.6)
# Hang guard only: publishers that get no POST through for this long have failed.
NO_PROGRESS_S = 120.0
COLLECTION = "6c4b5a52-0f3e-4a7c-9d1b-1f2e3d4c5b6a"
PUBLISHERS = {
    "lab-a": "identity--0a0a0a0a-1111-4111-8111-000000000001",
    "lab-b": "identity--0b0b0b0b-2222-4222-8222-000000000002",
    "lab-c": "identity--0c0c0c0c-3333-4333-8333-000000000003",
}
POLLER = "watcher"
POLLER_IDENTITY = "identity--0d0d0d0d-4444-4444-8444-000000000004"


def _spawn(module: str, *args: str, log: Path) -> subprocess.Popen[bytes]:
    with open(log, "ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", module, *args],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _serve_argv(config: Path) -> list[str]:
    """``dx server serve``, exactly as an operator starts it."""
    return [sys.executable, "-m", "exchange.commands.server", "serve", "--config", str(config)]


def _read_attempts(paths: list[Path]) -> list[dict]:
    attempts = []
    for path in paths:
        attempts += [orjson.loads(line) for line in path.read_bytes().splitlines() if line]
    return attempts


def _served_versions(collection_url: str, user: str, key: str) -> dict[tuple[str, str], str]:
    """Every (id, version) served, with its crash-group label, read through taxii2-client."""
    collection = Collection(collection_url, user=user, password=key)
    served: dict[tuple[str, str], str] = {}
    for page in as_pages(collection.get_objects, per_request=1000, version="all"):
        for obj in page.get("objects", []):
            labels = dict(label.split(":", 1) for label in obj.get("labels", []))
            served[(obj["id"], obj["modified"])] = labels["crash-group"]
    return served


def _acknowledged(attempts_files: list[Path]) -> int:
    return sum(path.read_bytes().count(b'"outcome":"ok"') for path in attempts_files)


def _wait_for_acks(
    attempts_files: list[Path], server: ServerProcess, at_least: int, what: str
) -> None:
    """Wait until ``at_least`` POSTs in all have been acknowledged."""
    deadline = time.monotonic() + NO_PROGRESS_S
    while _acknowledged(attempts_files) < at_least:
        if time.monotonic() > deadline:
            last = {path.name: path.read_text()[-400:] for path in attempts_files}
            raise AssertionError(f"{what}: {last}\n{server.log()}")
        time.sleep(0.02)


def _wait_until_posting(attempts_files: list[Path], server: ServerProcess) -> None:
    """The kills start once every publisher has had a POST acknowledged."""
    deadline = time.monotonic() + NO_PROGRESS_S
    while not all(b'"outcome":"ok"' in path.read_bytes() for path in attempts_files):
        if time.monotonic() > deadline:
            last = {path.name: path.read_text()[-400:] for path in attempts_files}
            raise AssertionError(f"publishers never got a POST through: {last}\n{server.log()}")
        time.sleep(0.05)


def _kill_and_restart(
    server: ServerProcess, rng: random.Random, attempts_files: list[Path], started: float
) -> list[dict]:
    kills = []
    for number in range(1, KILLS + 1):
        up = time.monotonic()
        acked = _acknowledged(attempts_files)
        _wait_for_acks(
            attempts_files, server, acked + 1, f"no POST acknowledged before kill {number}"
        )
        extra = rng.uniform(*AFTER_ACK_S)
        time.sleep(extra)
        attempts_so_far = sum(path.read_bytes().count(b"\n") for path in attempts_files)
        server.kill()
        kills.append(
            {
                "kill": number,
                "at_s": round(time.monotonic() - started, 3),
                "uptime_s": round(time.monotonic() - up, 3),
                "after_ack_s": round(extra, 3),
                "post_attempts_before": attempts_so_far,
            }
        )
        restart = time.monotonic()
        server.start()
        kills[-1]["restart_s"] = round(time.monotonic() - restart, 3)
    return kills


@pytest.mark.slow
@pytest.mark.parametrize("backend", BACKENDS)
def test_sigkilled_server_loses_nothing_acknowledged_and_tears_no_post(tmp_path, backend):
    with database(backend, tmp_path) as url:
        keys = seed(
            url,
            "exchange",
            [CollectionInfo(COLLECTION, "exchange", "Crash target")],
            [
                PartnerSpec(pid, ident, {COLLECTION: (True, True)})
                for pid, ident in PUBLISHERS.items()
            ]
            + [PartnerSpec(POLLER, POLLER_IDENTITY, {COLLECTION: (True, False)})],
        )
        config = write_config(tmp_path / "server.toml", url, workers=3, threads=2)
        server = ServerProcess(config, tmp_path / "server.log", argv=_serve_argv(config))
        collection_url = f"{server.base_url}/exchange/collections/{COLLECTION}/"
        stop_publishers = tmp_path / "stop-publishers"
        stop_poller = tmp_path / "stop-poller"
        attempts_files = [tmp_path / f"attempts-{pid}.jsonl" for pid in PUBLISHERS]
        for path in attempts_files:
            path.touch()
        poller_out = tmp_path / "poller.json"
        rng = random.Random(SEED)
        started = time.monotonic()
        server.start()
        children = [
            _spawn(
                "tests.reliability.crash_publisher",
                *("--collection-url", collection_url, "--user", pid, f"--password={keys[pid]}"),
                *("--identity", ident, "--out", str(out), "--stop-file", str(stop_publishers)),
                *("--seed", str(SEED * 100 + index)),
                log=tmp_path / f"publisher-{pid}.log",
            )
            for index, ((pid, ident), out) in enumerate(
                zip(PUBLISHERS.items(), attempts_files, strict=True)
            )
        ]
        poller = _spawn(
            "tests.reliability.crash_poller",
            *("--collection-url", collection_url, "--user", POLLER, f"--password={keys[POLLER]}"),
            *("--out", str(poller_out), "--stop-file", str(stop_poller)),
            log=tmp_path / "poller.log",
        )
        try:
            _wait_until_posting(attempts_files, server)
            kills = _kill_and_restart(server, rng, attempts_files, started)
            # Shown by pytest if anything below fails (and with -s always).
            print(f"{backend}: seed {SEED}, kill moments:", json.dumps(kills))
            # A last stretch of undisturbed publishing: a few more POSTs acknowledged.
            acked = _acknowledged(attempts_files)
            _wait_for_acks(attempts_files, server, acked + 3, "no POST after the last restart")
            stop_publishers.touch()
            for child in children:
                assert child.wait(timeout=60) == 0, (tmp_path / "publisher-lab-a.log").read_text()
            stop_poller.touch()
            assert poller.wait(timeout=90) == 0, (tmp_path / "poller.log").read_text()[-3000:]
            _verify(tmp_path, url, config, collection_url, keys, attempts_files, poller_out, kills)
        finally:
            for child in [*children, poller]:
                if child.poll() is None:
                    child.kill()
                    child.wait(timeout=10)
            server.stop()


def _verify(
    tmp_path: Path,
    url: str,
    config: Path,
    collection_url: str,
    keys: dict[str, str],
    attempts_files: list[Path],
    poller_out: Path,
    kills: list[dict],
) -> None:
    attempts = _read_attempts(attempts_files)
    outcomes = defaultdict(int)
    for attempt in attempts:
        outcomes[attempt["outcome"]] += 1
    served = _served_versions(collection_url, POLLER, keys[POLLER])
    by_group: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for version, group in served.items():
        by_group[group].add(version)

    # 1. Acknowledged means stored: every version of every "ok" POST is served, and its
    #    status resource (read back through taxii2-client) still says success.
    ok = [attempt for attempt in attempts if attempt["outcome"] == "ok"]
    lost = [
        (attempt["group"], obj_id, version)
        for attempt in ok
        for obj_id, version in attempt["objects"]
        if (obj_id, version) not in served
    ]
    assert not lost, f"{len(lost)} acknowledged versions missing after the kills: {lost[:10]}"
    for attempt in ok:
        user = attempt["group"].rsplit("-", 1)[0]
        status = Status(
            f"{collection_url.split('/collections/')[0]}/status/{attempt['status_id']}/",
            user=user,
            password=keys[user],
        )
        assert status.status == "complete" and status.success_count == attempt["size"]

    # 2. No POST half-visible: each group is served whole or not at all (whatever the
    #    outcome its publisher saw), and exactly as that publisher sent it.
    sent = {attempt["group"]: attempt for attempt in attempts}
    torn = []
    for group, versions in by_group.items():
        expected = {tuple(pair) for pair in sent[group]["objects"]}
        if versions != expected:
            torn.append((group, len(versions), len(expected)))
    assert not torn, f"groups served in part (group, served, sent): {torn[:10]}"
    interrupted_stored = sum(
        1 for attempt in attempts if attempt["outcome"] == "error" and attempt["group"] in by_group
    )

    # 3. The poller never saw a group in part while the kills went on, and ends with
    #    exactly what the server holds.
    poller = orjson.loads(poller_out.read_bytes())
    assert poller["violations"] == {}, f"half-visible POSTs seen while polling: {poller}"
    polled = {(obj_id, version) for keys_ in poller["groups"].values() for obj_id, version in keys_}
    assert polled == set(served), (
        f"poller and server differ: {len(polled - set(served))} only polled, "
        f"{len(set(served) - polled)} only served"
    )

    # 4. No corruption: the store's own integrity check, from the command line and in-process.
    result = run_cli("check", "--config", str(config), "--json")
    check = json.loads(result.stdout)
    assert check["ok"] is True, check
    with Store(url) as store:
        report = store.check_integrity()
    assert report.ok, report.problems

    figures = {
        "backend": url.split(":", 1)[0],
        "kills": len(kills),
        "seed": SEED,
        "post_attempts": len(attempts),
        "outcomes": dict(outcomes),
        "acknowledged_versions_checked": sum(attempt["size"] for attempt in ok),
        "versions_served": len(served),
        "interrupted_posts_found_stored_whole": interrupted_stored,
        "poller": poller["counts"],
        "integrity_checked": report.checked,
        "median_restart_s": sorted(k["restart_s"] for k in kills)[len(kills) // 2],
        "kill_moments": kills,
    }
    report_text = json.dumps(figures, indent=1)
    (tmp_path / "crash-report.json").write_text(report_text)
    keep = os.environ.get("DX_CRASH_REPORT_DIR")
    if keep:  # pytest prunes old temp directories; keep the figures somewhere stable
        Path(keep).mkdir(parents=True, exist_ok=True)
        (Path(keep) / f"crash-report-{figures['backend'].split('+')[0]}.json").write_text(
            report_text
        )
    print(json.dumps({k: v for k, v in figures.items() if k != "kill_moments"}))

    # The kills really happened under load: POSTs went through and some were cut off.
    assert outcomes["ok"] >= KILLS, figures
    assert outcomes.get("refused", 0) == 0, figures
    if KILLS >= 5:
        assert outcomes["error"] >= 1, figures


# -- the integrity check itself: each invariant, broken on purpose, is reported ------------

CORRUPTIONS = [
    # (what is broken, SQL that breaks it, the problem kind the check must report)
    (
        "two latest versions",
        "UPDATE objects SET is_latest = TRUE WHERE stix_id = :versioned",
        "latest flag count",
    ),
    (
        "latest flag on the older version",
        "UPDATE objects SET is_latest = (version <> :newest) WHERE stix_id = :versioned",
        "latest flag on an older version",
    ),
    (
        "date_added repeated",
        "UPDATE objects SET date_added_us = (SELECT MIN(date_added_us) FROM objects)"
        " WHERE seq = (SELECT MAX(seq) FROM objects)",
        "date_added order",
    ),
    (
        "collection high-water mark behind",
        "UPDATE collections SET last_date_added_us = 0",
        "collection last_date_added_us behind its rows",
    ),
    (
        "acknowledged object missing",
        "DELETE FROM objects WHERE stix_id = :single",
        "status success not stored",
    ),
    (
        "status counts",
        "UPDATE statuses SET success_count = success_count + 1",
        "status counts",
    ),
    (
        "publish not audited",
        "DELETE FROM audit_log WHERE action = 'objects.publish'",
        "status without its objects.publish audit entry",
    ),
]


@pytest.mark.parametrize("backend", BACKENDS)
def test_integrity_check_reports_each_broken_invariant(tmp_path, backend):
    identity = PUBLISHERS["lab-a"]
    with database(backend, tmp_path) as url:
        seed(
            url,
            "exchange",
            [CollectionInfo(COLLECTION, "exchange", "Checked")],
            [PartnerSpec("lab-a", identity, {COLLECTION: (True, True)})],
        )
        first = [indicator(identity, name=f"n{n}") for n in range(4)]
        second = {**first[0], "modified": "2026-06-01T00:00:00.000Z"}
        with Store(url) as store:
            for batch in (first, [second]):
                incoming = [
                    IncomingObject(
                        o["id"], o["type"], o["modified"], "2.1", orjson.dumps(o).decode()
                    )
                    for o in batch
                ]
                store.add_objects("exchange", COLLECTION, "lab-a", incoming, [], 0)
            healthy = store.check_integrity()
            assert healthy.ok, healthy.problems
            assert healthy.checked["versions"] == 5 and healthy.checked["status_successes"] == 5
        config = write_config(tmp_path / "server.toml", url)
        assert CliRunner().invoke(server_group, ["check", "--config", str(config)]).exit_code == 0

        engine = create_engine(url)
        parameters = {
            "versioned": first[0]["id"],
            "newest": second["modified"],
            "single": first[3]["id"],
        }
        try:
            for label, statement, kind in CORRUPTIONS:
                with engine.begin() as connection:
                    connection.execute(text(statement), parameters)
                with Store(url) as store:
                    report = store.check_integrity()
                assert any(problem.startswith(kind) for problem in report.problems), (
                    label,
                    report.problems,
                )
                result = CliRunner().invoke(server_group, ["check", "--config", str(config)])
                assert result.exit_code == 1 and kind in result.stderr, label
        finally:
            engine.dispose()


def test_integrity_check_reports_a_damaged_sqlite_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'exchange.sqlite3'}"
    seed(url, "exchange", [CollectionInfo(COLLECTION, "exchange", "Checked")], [])
    with closing(sqlite3.connect(tmp_path / "exchange.sqlite3")) as connection:
        connection.execute("PRAGMA foreign_keys = OFF")
        connection.execute("INSERT INTO grants VALUES ('nobody', :c, 1, 1)", {"c": COLLECTION})
        connection.commit()
    with Store(url) as store:
        problems = store.check_integrity().problems
    assert any(problem.startswith("sqlite foreign_key_check") for problem in problems), problems

    with closing(sqlite3.connect(tmp_path / "exchange.sqlite3")) as connection:
        connection.execute("PRAGMA journal_mode = DELETE")  # everything in the main file
        page_size = connection.execute("PRAGMA page_size").fetchone()[0]
        index_page = connection.execute(
            "SELECT rootpage FROM sqlite_master WHERE name = 'ix_objects_added'"
        ).fetchone()[0]
    with open(tmp_path / "exchange.sqlite3", "r+b") as file:
        file.seek((index_page - 1) * page_size)
        file.write(b"\x0d" + b"\xff" * 64)  # scribble over an index page's header
    with Store(url) as store:
        problems = store.check_integrity().problems
    damaged = ("sqlite integrity_check", "database error")
    assert any(problem.startswith(damaged) for problem in problems), problems
    config = write_config(tmp_path / "server.toml", url)
    result = CliRunner().invoke(server_group, ["check", "--config", str(config)])
    assert result.exit_code == 1 and "PROBLEMS FOUND" in result.stderr

"""Back up a live exchange, restore it into a new database, and find everything back.

The source holds several collections, object versions, revoked objects
(``revoked: true``), deletions, statuses, partners (one revoked, one with a
rotated key) and grants, all made through the real HTTP API (taxii2-client)
and the ``dx server`` admin commands. ``dx server backup`` runs while a
publisher process keeps POSTing into another collection. The backup is
restored with ``dx server restore`` into a fresh database and served by a
second server; then, through TAXII, both servers must give the same objects
(bodies), versions, date_added and manifests for the quiet collections, and
for the busy one the restored server must give a whole-POST prefix of what
the source has. Partners, grants and keys (old keys still work, the rotated
and revoked ones do not) and the audit log must be back too, the integrity
check must pass, and the restored server must accept new objects after the
restored ones.

Parametrised over SQLite (online backup API), PostgreSQL (pg_dump custom
format) and the portable logical format, including SQLite to PostgreSQL.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from taxii2client.v21 import Collection

from exchange.commands.server import server as server_group
from server.store import Store
from server.store.backup import detect_format
from server.store.types import CollectionInfo
from tests.support.server import (
    REPO,
    Client,
    PartnerSpec,
    ServerProcess,
    database,
    indicator,
    run_cli,
    seed,
    served,
    write_config,
)

QUIET_A = "1a1a1a1a-0000-4000-8000-00000000000a"
QUIET_B = "1b1b1b1b-0000-4000-8000-00000000000b"
BUSY = "1c1c1c1c-0000-4000-8000-00000000000c"
LAB_A = ("lab-a", "identity--aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa")
LAB_B = ("lab-b", "identity--bbbbbbbb-2222-4222-8222-bbbbbbbbbbbb")
LAB_C = ("lab-c", "identity--cccccccc-3333-4333-8333-cccccccccccc")
READER = ("reader", "identity--dddddddd-4444-4444-8444-dddddddddddd")
COLLECTIONS = [
    CollectionInfo(QUIET_A, "exchange", "Quiet A", alias="quiet-a"),
    CollectionInfo(QUIET_B, "exchange", "Quiet B", description="deletions happen here"),
    CollectionInfo(BUSY, "exchange", "Busy"),
]
PARTNERS = [
    PartnerSpec(LAB_A[0], LAB_A[1], {QUIET_A: (True, True), BUSY: (True, True)}),
    PartnerSpec(LAB_B[0], LAB_B[1], {QUIET_A: (True, True), QUIET_B: (True, True)}),
    PartnerSpec(LAB_C[0], LAB_C[1], {QUIET_B: (True, True)}),
    PartnerSpec(
        READER[0], READER[1], {QUIET_A: (True, False), QUIET_B: (True, False), BUSY: (True, False)}
    ),
]

PG = pytest.mark.postgres
CASES = [
    pytest.param("sqlite", "auto", "sqlite", "sqlite", id="sqlite-online-backup"),
    pytest.param("postgres", "auto", "postgres", "pg_custom", id="postgres-pg_dump", marks=PG),
    pytest.param("postgres", "logical", "postgres", "logical", id="postgres-logical", marks=PG),
    pytest.param("sqlite", "logical", "postgres", "logical", id="sqlite-to-postgres", marks=PG),
]


def _collection(base_url: str, collection_id: str, partner: str, key: str) -> Collection:
    return Collection(
        f"{base_url}/exchange/collections/{collection_id}/", user=partner, password=key
    )


def _post(base_url: str, collection_id: str, partner: tuple[str, str], key: str, objects) -> str:
    status = _collection(base_url, collection_id, partner[0], key).add_objects({"objects": objects})
    assert status.success_count == len(objects), status.failures
    return status.id


def _load_history(base_url: str, keys: dict[str, str], config: Path) -> dict[str, list[str]]:
    """Versions, revocations, deletions, key rotation, revocation, grant changes; status ids."""
    statuses: dict[str, list[str]] = {LAB_A[0]: [], LAB_B[0]: []}
    first = [indicator(LAB_A[1], name=f"a{n}") for n in range(12)]
    statuses[LAB_A[0]].append(_post(base_url, QUIET_A, LAB_A, keys[LAB_A[0]], first))
    updates = [
        {**obj, "modified": "2026-02-01T00:00:00.000Z", "name": obj["name"] + " v2"}
        for obj in first[:5]
    ]
    revoked = [
        {**obj, "modified": "2026-03-01T00:00:00.000Z", "revoked": True} for obj in first[5:7]
    ]
    statuses[LAB_A[0]].append(_post(base_url, QUIET_A, LAB_A, keys[LAB_A[0]], updates + revoked))
    spread = [indicator(LAB_B[1], name=f"b{n}") for n in range(8)]
    statuses[LAB_B[0]].append(_post(base_url, QUIET_A, LAB_B, keys[LAB_B[0]], spread[:4]))
    statuses[LAB_B[0]].append(_post(base_url, QUIET_B, LAB_B, keys[LAB_B[0]], spread[4:]))
    newer = {**spread[4], "modified": "2026-05-05T00:00:00.000Z"}
    statuses[LAB_B[0]].append(_post(base_url, QUIET_B, LAB_B, keys[LAB_B[0]], [newer]))

    lab_b = Client(base_url, LAB_B[0], keys[LAB_B[0]])
    path = f"/exchange/collections/{QUIET_B}/objects/"
    assert lab_b.delete(f"{path}{spread[5]['id']}/").status_code == 200
    response = lab_b.delete(
        f"{path}{spread[4]['id']}/", {"match[version]": "2026-05-05T00:00:00.000Z"}
    )
    assert response.status_code == 200

    keys[LAB_B[0] + ":old"] = keys[LAB_B[0]]
    keys[LAB_B[0]] = _admin(config, "rotate-key", LAB_B[0]).strip()
    keys[LAB_C[0] + ":revoked"] = keys.pop(LAB_C[0])
    _admin(config, "revoke", LAB_C[0])
    _admin(config, "grant", LAB_C[0], QUIET_B, "--revoke")
    _admin(config, "grant", READER[0], "quiet-a", "--read")
    return statuses


def _admin(config: Path, *args: str) -> str:
    """A ``dx server`` admin command, in-process (what is under test here is backup/restore)."""
    result = CliRunner().invoke(server_group, [*args, "--config", str(config)])
    assert result.exit_code == 0, result.output
    return result.stdout


def _spawn_publisher(base_url: str, key: str, tmp_path: Path) -> tuple[subprocess.Popen, Path]:
    out, stop = tmp_path / "publisher.jsonl", tmp_path / "stop-publisher"
    out.touch()
    with open(tmp_path / "publisher.log", "ab") as log:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "tests.reliability.crash_publisher"),
                *("--collection-url", f"{base_url}/exchange/collections/{BUSY}/"),
                *("--user", LAB_A[0], f"--password={key}", "--identity", LAB_A[1]),
                *("--out", str(out), "--stop-file", str(stop), "--seed", "5"),
            ],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    return process, stop


def _wait_for_posts(out: Path, count: int) -> None:
    deadline = time.monotonic() + 180  # hang guard: the posts decide
    while out.read_bytes().count(b'"outcome":"ok"') < count:
        assert time.monotonic() < deadline, out.read_text()[-2000:]
        time.sleep(0.05)


def _pages(client: Client, path: str, params: dict) -> list[tuple[dict, dict]]:
    """Every page of a listing: (body, the X-TAXII-Date-Added headers), following ``next``."""
    pages = []
    query = {**params, "limit": 7}
    while True:
        response = client.get(path, query)
        assert response.status_code == 200, response.text
        body = response.json()
        headers = {k: v for k, v in response.headers.items() if k.startswith("X-TAXII-Date-Added")}
        body.pop("next", None)  # tokens are MAC'd per server; their contents are compared below
        pages.append((body, headers))
        if not body.get("more"):
            return pages
        query = {"next": response.json()["next"]}


def _taxii_view(base_url: str, partner: str, key: str, collection_id: str) -> dict:
    """What a partner sees of a collection: objects, manifest, versions of each object."""
    client = Client(base_url, partner, key)
    base = f"/exchange/collections/{collection_id}"
    view = {
        "collection": client.get(f"{base}/").json(),
        "objects_latest": _pages(client, f"{base}/objects/", {}),
        "objects_all": _pages(client, f"{base}/objects/", {"match[version]": "all"}),
        "manifest_all": _pages(client, f"{base}/manifest/", {"match[version]": "all"}),
    }
    ids = sorted(
        {entry["id"] for page, _ in view["manifest_all"] for entry in page.get("objects", [])}
    )
    view["versions"] = {
        stix_id: _pages(client, f"{base}/objects/{stix_id}/versions/", {}) for stix_id in ids
    }
    return view


def _manifest(base_url: str, key: str, collection_id: str) -> list[tuple[str, str, str]]:
    client = Client(base_url, READER[0], key)
    pages = _pages(
        client, f"/exchange/collections/{collection_id}/manifest/", {"match[version]": "all"}
    )
    return [
        (entry["id"], entry["version"], entry["date_added"])
        for page, _ in pages
        for entry in page.get("objects", [])
    ]


def _store_view(url: str) -> dict:
    with Store(url) as store:
        return {
            "partners": store.list_partners(),
            "grants": store.list_grants(),
            "audit": list(reversed(store.audit_entries(None))),
            "integrity": store.check_integrity(),
        }


@pytest.mark.slow
@pytest.mark.parametrize(("source_backend", "fmt", "target_backend", "expected_format"), CASES)
def test_backup_under_load_restores_everything(
    tmp_path, source_backend, fmt, target_backend, expected_format
):
    source_dir, target_dir = tmp_path / "source", tmp_path / "target"
    source_dir.mkdir()
    target_dir.mkdir()
    with served(source_dir, source_backend, COLLECTIONS, PARTNERS) as source:
        keys = dict(source.keys)
        statuses = _load_history(source.base_url, keys, source.config_path)
        publisher, stop = _spawn_publisher(source.base_url, keys[LAB_A[0]], tmp_path)
        try:
            _wait_for_posts(tmp_path / "publisher.jsonl", 3)
            backup_file = tmp_path / "exchange.bak"
            result = run_cli(
                "backup", str(backup_file), "--format", fmt, "--config", str(source.config_path)
            )
            assert expected_format in result.stderr
            # More POSTs after the backup ended, so the source is strictly ahead of it.
            done = (tmp_path / "publisher.jsonl").read_bytes().count(b'"outcome":"ok"')
            _wait_for_posts(tmp_path / "publisher.jsonl", done + 3)
        finally:
            stop.touch()
            assert publisher.wait(timeout=60) == 0
        assert detect_format(backup_file) == expected_format
        assert backup_file.stat().st_mode & 0o777 == 0o600  # key hashes and TLP:RED inside

        with database(target_backend, target_dir) as target_url:
            target_config = write_config(target_dir / "server.toml", target_url)
            restored = run_cli("restore", str(backup_file), "--config", str(target_config))
            assert "restored" in restored.stderr
            target = ServerProcess(target_config, target_dir / "server.log").start()
            try:
                _compare(source, target.base_url, keys, statuses, target_url)
            finally:
                target.stop()


def _compare(source, target_url_base: str, keys, statuses, target_db_url: str) -> None:
    reader_key = keys[READER[0]]
    # Quiet collections: identical, page by page, bodies, versions, date_added headers.
    for collection_id in (QUIET_A, QUIET_B):
        before = _taxii_view(source.base_url, READER[0], reader_key, collection_id)
        after = _taxii_view(target_url_base, READER[0], reader_key, collection_id)
        assert after == before, collection_id
        assert before["objects_all"][0][0]["objects"], "nothing to compare"
    revoked = [
        obj
        for page, _ in _taxii_view(target_url_base, READER[0], reader_key, QUIET_A)["objects_all"]
        for obj in page.get("objects", [])
        if obj.get("revoked")
    ]
    assert len(revoked) == 2

    # Busy collection: the restored server has a prefix of the source's history, whole POSTs.
    source_busy = _manifest(source.base_url, reader_key, BUSY)
    restored_busy = _manifest(target_url_base, reader_key, BUSY)
    assert 0 < len(restored_busy) < len(source_busy)
    assert restored_busy == source_busy[: len(restored_busy)]
    members: dict[str, set[str]] = {}
    sizes: dict[str, int] = {}
    client = Client(target_url_base, READER[0], reader_key)
    busy_all = _pages(client, f"/exchange/collections/{BUSY}/objects/", {"match[version]": "all"})
    for page, _ in busy_all:
        for obj in page.get("objects", []):
            labels = dict(label.split(":", 1) for label in obj["labels"])
            members.setdefault(labels["crash-group"], set()).add(obj["id"] + obj["modified"])
            sizes[labels["crash-group"]] = int(labels["crash-size"])
    assert {group: len(versions) for group, versions in members.items()} == sizes

    # Statuses, as each publisher reads them.
    for partner, ids in statuses.items():
        for status_id in ids:
            path = f"/exchange/status/{status_id}/"
            before = Client(source.base_url, partner, keys[partner]).get(path)
            after = Client(target_url_base, partner, keys[partner]).get(path)
            assert before.status_code == after.status_code == 200
            assert after.json() == before.json()

    # Keys: current ones work, the rotated-out and the revoked partner's do not.
    assert Client(target_url_base, LAB_B[0], keys[LAB_B[0]]).get("/taxii2/").status_code == 200
    old = Client(target_url_base, LAB_B[0], keys[LAB_B[0] + ":old"]).get("/taxii2/")
    assert old.status_code == 401
    revoked_partner = Client(target_url_base, LAB_C[0], keys[LAB_C[0] + ":revoked"])
    assert revoked_partner.get("/taxii2/").status_code == 401

    # The store: partners, grants, audit log (a prefix: the source went on publishing).
    before, after = _store_view(source.database_url), _store_view(target_db_url)
    assert after["partners"] == before["partners"]
    assert after["grants"] == before["grants"]

    # Aggregated entries (refusals, failed logins) grow in place, and the key checks
    # above just failed two logins on the target: the prefix holds for the rest.
    def settled(entries: list) -> list:
        return [e for e in entries if e.action not in ("login.failed", "request.refused")]

    assert settled(after["audit"]) == settled(before["audit"])[: len(settled(after["audit"]))]
    assert any(e.action == "login.failed" for e in after["audit"])
    actions = {entry.action for entry in after["audit"]}
    assert {"objects.publish", "objects.delete", "partner.rotate_key", "partner.revoke"} <= actions
    assert after["integrity"].ok, after["integrity"].problems

    # The restored server goes on: a new POST lands after everything restored.
    new = indicator(LAB_A[1], name="after restore")
    _post(target_url_base, BUSY, LAB_A, keys[LAB_A[0]], [new])
    final = _manifest(target_url_base, reader_key, BUSY)
    assert final[:-1] == restored_busy and final[-1][0] == new["id"]
    assert final[-1][2] > restored_busy[-1][2]


def _cli(config: Path, *args: str):
    """A ``dx server`` command in-process: refusals are about messages, not process start-up."""
    return CliRunner().invoke(server_group, [*args, "--config", str(config)])


@pytest.mark.parametrize("backend", ["sqlite", pytest.param("postgres", marks=PG)])
def test_restore_refuses_a_database_in_use_and_damaged_files(tmp_path, backend):
    with database(backend, tmp_path) as url:
        seed(url, "exchange", COLLECTIONS, PARTNERS)
        config = write_config(tmp_path / "server.toml", url)
        backup_file = tmp_path / "exchange.bak"
        assert _cli(config, "backup", str(backup_file), "--format", "logical").exit_code == 0

        in_use = _cli(config, "restore", str(backup_file))
        assert in_use.exit_code == 1
        assert "not empty" in in_use.stderr and len(in_use.stderr.strip().splitlines()) == 1

        truncated = tmp_path / "truncated.bak"
        truncated.write_bytes(backup_file.read_bytes()[:-20])
        fresh_url = f"sqlite:///{tmp_path / 'fresh.sqlite3'}"
        fresh = write_config(tmp_path / "fresh.toml", fresh_url)
        damaged = _cli(fresh, "restore", str(truncated))
        assert damaged.exit_code == 1 and "truncated.bak" in damaged.stderr
        assert len(damaged.stderr.strip().splitlines()) == 1

        not_a_backup = tmp_path / "notes.txt"
        not_a_backup.write_text("hello")
        wrong = _cli(fresh, "restore", str(not_a_backup))
        assert wrong.exit_code == 1 and "notes.txt" in wrong.stderr

        # The refusals wrote nothing: the fresh database still takes the good backup.
        assert _cli(fresh, "restore", str(backup_file)).exit_code == 0
        with Store(fresh_url) as store:
            assert len(store.list_collections("exchange")) == len(COLLECTIONS)
            assert len(store.list_partners()) == len(PARTNERS)
            assert store.check_integrity().ok


def test_a_sqlite_backup_is_not_restored_into_postgres_by_mistake(tmp_path):
    source = f"sqlite:///{tmp_path / 'source.sqlite3'}"
    seed(source, "exchange", COLLECTIONS, PARTNERS)
    config = write_config(tmp_path / "server.toml", source)
    backup_file = tmp_path / "exchange.bak"
    assert _cli(config, "backup", str(backup_file)).exit_code == 0
    assert detect_format(backup_file) == "sqlite"
    wrong = write_config(tmp_path / "pg.toml", "postgresql+psycopg://nobody@127.0.0.1:1/none")
    result = _cli(wrong, "restore", str(backup_file))
    assert result.exit_code == 1
    assert "--format logical" in result.stderr and len(result.stderr.strip().splitlines()) == 1

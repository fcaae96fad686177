"""`dx export` from the local store and from the server: filters, references, validation."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from taxii2client.v21 import Collection

from exchange.commands.export import export as export_command
from mappings.convert import records_to_bundle
from mappings.export_filters import tlp_level
from mappings.producer import Producer
from mappings.record_objects import cluster_object_id
from mappings.validation import validate_bundle
from mappings.well_known import TLP_CREATOR_ID, TLP_ORDER, WELL_KNOWN_OBJECTS
from tests.feed.records_factory import NOW, cluster, fingerprint, ip_range, stix_time
from tests.support.exchange import LAB_A, LAB_B, REPO, Exchange, run_dx

SAMPLES = REPO / "samples" / "bundle.json"


def publish(exchange: Exchange, collection_id: str, partner: str, objects: list[dict]) -> None:
    collection = Collection(
        f"{exchange.api_root_url}collections/{collection_id}/",
        user=partner,
        password=exchange.keys[partner],
    )
    own = [obj for obj in objects if obj["id"] not in WELL_KNOWN_OBJECTS]
    status = collection.add_objects({"objects": own}, timeout=60)
    assert status.failure_count == 0, status.failures


def records_objects(records: list, producer: Producer) -> list[dict]:
    return records_to_bundle(records, producer)["objects"]


@pytest.fixture(scope="module")
def feed(exchange: Exchange) -> dict:
    """A collection with two producers, three TLP levels, an update and a revocation."""
    collection_id = exchange.add_collection("export feed", "export-feed")
    exchange.admin(["grant", "lab-b", collection_id, "--read", "--write"])
    earlier = NOW - timedelta(hours=6)
    lab_a_records = [
        ip_range("198.51.100.0/24", confidence=90, tlp="green", updated=earlier),
        ip_range("203.0.113.0/25", "rate_limit", confidence=40, tlp="amber", updated=earlier),
        ip_range("192.0.2.0/28", confidence=70, tlp="red", updated=earlier),
        cluster("cl-1", ["alice@example.org", "bob@example.org"], updated=earlier),
        fingerprint("fp-1", confidence=75, tlp="green"),
    ]
    publish(exchange, collection_id, "lab-a", records_objects(lab_a_records, LAB_A))
    update = [
        cluster("cl-1", ["alice@example.org", "bob@example.org", "eve@example.org"]),
        ip_range("203.0.113.0/25", "rate_limit", confidence=40, withdrawn=True),
    ]
    publish(exchange, collection_id, "lab-a", records_objects(update, LAB_A))
    lab_b_records = [ip_range("2001:db8:b00::/40", confidence=85, tlp="green")]
    publish(exchange, collection_id, "lab-b", records_objects(lab_b_records, LAB_B))
    lab = exchange.lab_config("export-lab", collections=[collection_id])
    run_dx("poll", "--config", str(lab))
    return {"collection": collection_id, "lab": lab, "earlier": earlier}


def export(tmp_path: Path, source: str, lab: Path, *args: str) -> dict:
    """Run `dx export` in-process (the validator takes seconds to import in a fresh process)."""
    out = tmp_path / f"export-{len(list(tmp_path.iterdir()))}.json"
    done = CliRunner().invoke(
        export_command, [f"--from-{source}", str(lab), *args, "-o", str(out), "--quiet"]
    )
    assert done.exit_code == 0, done.output
    report = validate_bundle(out)
    assert report.errors == []
    return orjson.loads(out.read_bytes())


def failed_export(*args: str, status: int = 1) -> str:
    """The one stderr line of a refused export; ``status`` 2 for usage errors."""
    done = CliRunner().invoke(export_command, list(args))
    assert done.exit_code == status, done.output
    assert done.exception is None or isinstance(done.exception, SystemExit)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


def test_the_command_line_writes_a_valid_bundle(feed: dict, tmp_path: Path) -> None:
    out = tmp_path / "cli.json"
    done = run_dx("export", "--from-store", str(feed["lab"]), "--type", "indicator", "-o", str(out))
    event = orjson.loads(done.stderr.strip().splitlines()[-1])
    assert event["event"] == "exported"
    assert event["validation_errors"] == 0
    assert validate_bundle(out).errors == []
    assert event["objects"] == len(orjson.loads(out.read_bytes())["objects"])


def by_id(bundle: dict) -> dict[str, dict]:
    return {obj["id"]: obj for obj in bundle["objects"]}


def test_full_export_from_store_and_server_are_identical_and_valid(
    exchange: Exchange, feed: dict, tmp_path: Path
) -> None:
    from_store = export(tmp_path, "store", feed["lab"])
    from_server = export(tmp_path, "server", feed["lab"], "--collection", feed["collection"])
    assert from_store == from_server
    objects = by_id(from_store)
    # Self-contained: every identity, marking and extension definition referenced is there
    # (except CISA's identity, author of the TLP 2.0 extension, which no one publishes).
    for obj in from_store["objects"]:
        assert obj.get("created_by_ref", TLP_CREATOR_ID) in {*objects, TLP_CREATOR_ID}
        for ref in obj.get("object_marking_refs", []):
            assert ref in objects
        for ext in obj.get("extensions", {}):
            if ext.startswith("extension-definition--"):
                assert ext in objects
    assert not [obj for obj in from_store["objects"] if obj.get("revoked")]
    assert (
        len([o for o in from_store["objects"] if o["id"] == cluster_object_id(LAB_A, "cl-1")]) == 1
    )


def test_type_and_producer_filters(feed: dict, tmp_path: Path) -> None:
    indicators = export(tmp_path, "store", feed["lab"], "--type", "indicator", "--no-refs")
    authored = [o for o in indicators["objects"] if o["id"] not in WELL_KNOWN_OBJECTS]
    non_meta = [o for o in authored if o["type"] not in ("identity", "marking-definition")]
    assert non_meta
    assert {o["type"] for o in non_meta} == {"indicator"}

    for producer in ("Lab B", LAB_B.identity_id):
        lab_b = export(tmp_path, "store", feed["lab"], "--producer", producer, "--no-refs")
        selected = [o for o in lab_b["objects"] if o["id"] not in WELL_KNOWN_OBJECTS]
        selected = [o for o in selected if "created_by_ref" in o]
        assert selected
        assert {o["created_by_ref"] for o in selected} == {LAB_B.identity_id}


def test_confidence_and_tlp_filters(feed: dict, tmp_path: Path) -> None:
    confident = export(tmp_path, "server", feed["lab"], "--type", "indicator")
    sure = export(tmp_path, "server", feed["lab"], "--type", "indicator", "--min-confidence", "80")
    assert {o["confidence"] for o in sure["objects"] if o["type"] == "indicator"} == {85, 90}
    assert len(sure["objects"]) < len(confident["objects"])

    for cap in ("clear", "green", "amber"):
        capped = export(tmp_path, "store", feed["lab"], "--max-tlp", cap.upper())
        levels = {tlp_level(obj) for obj in capped["objects"]}
        assert max(TLP_ORDER.index(level) for level in levels) <= TLP_ORDER.index(cap)
    red_range = "[ipv4-addr:value ISSUBSET '192.0.2.0/28']"
    assert red_range in str(export(tmp_path, "store", feed["lab"])["objects"])
    assert red_range not in str(export(tmp_path, "store", feed["lab"], "--max-tlp", "amber"))


def test_time_window_versions_and_revoked(feed: dict, tmp_path: Path) -> None:
    cluster_id = cluster_object_id(LAB_A, "cl-1")
    since = stix_time(feed["earlier"] + timedelta(minutes=1))
    recent = export(tmp_path, "store", feed["lab"], "--since", since, "--type", "account-cluster")
    assert [o["modified"] for o in recent["objects"] if o["id"] == cluster_id] == [
        stix_time(NOW - timedelta(hours=2))
    ]
    until = stix_time(feed["earlier"])
    older = export(tmp_path, "server", feed["lab"], "--until", until, "--type", "account-cluster")
    assert cluster_id not in by_id(older), "only its latest version exists without --all-versions"
    history = export(
        tmp_path, "store", feed["lab"], "--until", until, "--type", "account-cluster",
        "--all-versions",
    )  # fmt: skip
    assert [o["modified"] for o in history["objects"] if o["id"] == cluster_id] == [until]
    every = export(tmp_path, "server", feed["lab"], "--type", "account-cluster", "--all-versions")
    assert len([o for o in every["objects"] if o["id"] == cluster_id]) == 2

    revoked = export(tmp_path, "store", feed["lab"], "--include-revoked", "--type", "indicator")
    assert [o for o in revoked["objects"] if o.get("revoked")]


def test_bad_options_are_one_line(feed: dict, tmp_path: Path) -> None:
    out = str(tmp_path / "x.json")
    lab = str(feed["lab"])
    since = failed_export("--from-store", lab, "--since", "yesterday", "-o", out, status=2)
    assert since.startswith("dx export: error: Invalid value for '--since': 'yesterday'")
    tlp = failed_export("--from-store", lab, "--max-tlp", "purple", "-o", out, status=2)
    assert tlp.startswith("dx export: error: Invalid value for '--max-tlp'")
    producer = failed_export("--from-store", lab, "--producer", "Lab Z", "-o", out)
    assert producer.startswith("dx export: error: --producer: ") and "Lab Z" in producer
    both = failed_export("--from-store", lab, "--from-server", lab, "-o", out, status=2)
    assert both.startswith("dx export: error: give exactly one of")
    assert not Path(out).exists()


def test_dash_output_is_standard_output(feed: dict, tmp_path: Path, monkeypatch) -> None:
    """`-o -` writes the bundle to stdout (byte for byte what a file gets), no file named -."""
    monkeypatch.chdir(tmp_path)
    lab = str(feed["lab"])
    to_file = CliRunner().invoke(export_command, ["--from-store", lab, "-o", "b.json", "--quiet"])
    assert to_file.exit_code == 0, to_file.output
    to_stdout = CliRunner().invoke(export_command, ["--from-store", lab, "-o", "-", "--quiet"])
    assert to_stdout.exit_code == 0, to_stdout.output
    assert to_stdout.stdout_bytes == (tmp_path / "b.json").read_bytes()
    assert orjson.loads(to_stdout.stdout_bytes)["type"] == "bundle"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.json"]


@pytest.mark.skipif(not SAMPLES.exists(), reason="samples/bundle.json is generated by `dx`")
def test_exports_of_the_samples_validate(exchange: Exchange, tmp_path: Path) -> None:
    collection_id = exchange.add_collection("samples", "samples")
    sample = orjson.loads(SAMPLES.read_bytes())["objects"]
    producers = {o.get("created_by_ref") for o in sample if o["id"] not in WELL_KNOWN_OBJECTS}
    assert producers <= {LAB_A.identity_id, None}, "samples are published by lab A"
    publish(exchange, collection_id, "lab-a", sample)
    lab = exchange.lab_config("samples-lab", collections=[collection_id])
    run_dx("poll", "--config", str(lab))
    from_store = export(tmp_path, "store", lab)
    from_server = export(tmp_path, "server", lab)
    assert from_store == from_server
    assert {o["id"] for o in sample} <= set(by_id(from_store))


def test_a_partners_invalid_object_is_withheld_and_the_rest_exported(tmp_path: Path) -> None:
    """One writer's non-conforming object no longer fails other labs' exports as a whole."""
    from exchange.feed.store import FeedStore, ReceivedVersion
    from tests.feed.stix_factory import indicator
    from tests.support.exchange import LAB_B_IDENTITY

    good = indicator("export-good", "198.51.100.0/24")
    bad = indicator("export-bad", "203.0.113.0/24", created_by=LAB_B_IDENTITY)
    bad["indicator_types"] = ["not-in-the-vocabulary"]  # stored by the server, refused by strict
    lab = tmp_path / "lab.toml"
    lab.write_text(
        '[server]\napi_root = "http://127.0.0.1:9/exchange/"\npartner_id = "lab-b"\n'
        'api_key = "unused"\n[local]\nstore = "feed.sqlite3"\n',
        encoding="utf-8",
    )
    with FeedStore(tmp_path / "feed.sqlite3") as store:
        versions = [
            ReceivedVersion(obj["id"], obj["modified"], f"2026-03-01T00:00:0{i}Z", obj)
            for i, obj in enumerate([good, bad], start=1)
        ]
        store.store_page("http://127.0.0.1:9/exchange/", "c", versions, "2026-03-01T00:00:02Z")

    out = tmp_path / "out.json"
    done = CliRunner().invoke(
        export_command, ["--from-store", str(lab), "--type", "indicator", "-o", str(out)]
    )
    assert done.exit_code == 0, done.output
    events = [orjson.loads(line) for line in done.stderr.splitlines()]
    withheld = [e for e in events if e["event"] == "withheld_invalid"]
    assert [(e["id"], e["level"]) for e in withheld] == [(bad["id"], "warning")]
    assert "indicator_types" in withheld[0]["problem"]
    summary = events[-1]
    assert (summary["event"], summary["invalid_withheld"], summary["validation_errors"]) == (
        "exported",
        1,
        0,
    )
    assert validate_bundle(out).errors == []
    indicators = lambda: {  # noqa: E731
        obj["id"] for obj in orjson.loads(out.read_bytes())["objects"] if obj["type"] == "indicator"
    }
    assert indicators() == {good["id"]}

    kept = CliRunner().invoke(
        export_command,
        ["--from-store", str(lab), "--type", "indicator", "--allow-invalid", "-o", str(out)],
    )
    assert kept.exit_code == 0, kept.output
    assert indicators() == {good["id"], bad["id"]}

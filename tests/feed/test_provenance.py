"""A lab's merged store cannot be poisoned from another collection (issue 12, item 2).

Lab B writes, into a collection the consumer also polls, a copy of lab A's
indicator with a later ``modified``, ``revoked: true`` and ``created_by_ref``
= lab B. The copy goes into a collection without provenance checks, where any
server accepts it, so the test holds whatever the server does about it: the
consumer's store must refuse it (log line, count in the poll summary) and
``dx act``, ``dx match`` and ``dx export --from-store`` must keep acting on
lab A's own version.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner
from taxii2client.v21 import Collection

from exchange.commands.act import act as act_command
from exchange.commands.export import export as export_command
from exchange.commands.match import match as match_command
from exchange.feed.store import FeedStore
from exchange.lab_config import load_lab_config
from mappings.convert import records_to_bundle
from mappings.record_objects import range_indicator_id
from mappings.timestamps import parse_stix_timestamp
from mappings.well_known import WELL_KNOWN_OBJECTS
from tests.feed.records_factory import ip_range, stix_time
from tests.support.exchange import LAB_A, LAB_B_IDENTITY, Exchange, build_feed_exchange, run_dx
from tests.support.server import database

CIDR = "198.51.100.0/24"


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def exchange(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Exchange]:
    """The exchange on each of its databases (the lab side must not care which)."""
    directory = tmp_path_factory.mktemp(f"provenance-{request.param}")
    with database(request.param, directory) as url:
        running = build_feed_exchange(directory, database_url=url)
        running.start()
        try:
            yield running
        finally:
            running.stop()


def post(exchange: Exchange, collection_id: str, partner: str, objects: list[dict]) -> None:
    collection = Collection(
        f"{exchange.api_root_url}collections/{collection_id}/",
        user=partner,
        password=exchange.keys[partner],
    )
    status = collection.add_objects({"objects": objects}, timeout=60)
    assert status.failure_count == 0, status.failures


def poisoned_copy(original: dict, seconds_later: int) -> dict:
    """Lab B's revoked copy of ``original``, a little later (the server refuses future times)."""
    copy = dict(original)
    copy["modified"] = stix_time(
        parse_stix_timestamp(original["modified"]) + timedelta(seconds=seconds_later)
    )
    copy["revoked"] = True
    copy["created_by_ref"] = LAB_B_IDENTITY
    return copy


def served_without_owner_check(exchange: Exchange, collection_id: str, obj: dict) -> None:
    """Make the server serve ``obj`` in ``collection_id`` whoever owns its id.

    This exchange refuses another lab's version of an owned id on POST, so the copy
    is written as an older or compromised server would serve it: through the
    administrator's medallion import, which stores versions without a publisher.
    The lab side must hold whatever the server lets through.
    """
    document = {
        "exchange": {
            "information": {"title": "exchange"},
            "collections": [{"id": collection_id, "title": "open exchange", "objects": [obj]}],
        }
    }
    data_file = exchange.directory / f"copy-{obj['modified'].replace(':', '')}.json"
    data_file.write_bytes(orjson.dumps(document))
    exchange.admin(["import-medallion", str(data_file)])


def events(stderr: str, name: str) -> list[dict]:
    found = [orjson.loads(line) for line in stderr.splitlines() if line.startswith("{")]
    return [event for event in found if event["event"] == name]


def blocklist_and_ranges(lab: Path) -> tuple[list[str], list[dict[str, str]]]:
    done = CliRunner().invoke(act_command, ["--config", str(lab), "--quiet"])
    assert done.exit_code == 0, done.output
    out = load_lab_config(lab).artifacts_dir
    blocked = [
        line
        for line in (out / "blocklist.txt").read_text().splitlines()
        if not line.startswith("#")
    ]
    ranges = list(csv.DictReader(io.StringIO((out / "ranges.csv").read_text())))
    return blocked, ranges


def matched_indicators(lab: Path, tmp_path: Path) -> list[str]:
    addresses = tmp_path / "addresses.txt"
    addresses.write_text("198.51.100.7\n", encoding="utf-8")
    out = tmp_path / "matches.jsonl"
    done = CliRunner().invoke(
        match_command,
        ["--config", str(lab), "--ips", str(addresses), "-o", str(out), "--quiet"],
    )
    assert done.exit_code == 0, done.output
    return [orjson.loads(line)["object_id"] for line in out.read_text().splitlines()]


def exported(lab: Path, tmp_path: Path) -> dict[str, dict]:
    out = tmp_path / "export.json"
    done = CliRunner().invoke(
        export_command,
        ["--from-store", str(lab), "--type", "indicator", "-o", str(out), "--quiet"],
    )
    assert done.exit_code == 0, done.output
    return {obj["id"]: obj for obj in orjson.loads(out.read_bytes())["objects"]}


def test_a_revoked_copy_from_another_collection_never_reaches_the_consumer(
    exchange: Exchange, tmp_path: Path
) -> None:
    feed = exchange.add_collection("provenance feed", "provenance-feed")
    bundle = records_to_bundle([ip_range(CIDR)], LAB_A)
    own = [obj for obj in bundle["objects"] if obj["id"] not in WELL_KNOWN_OBJECTS]
    post(exchange, feed, "lab-a", own)
    indicator_id = range_indicator_id(LAB_A, CIDR)
    original = next(obj for obj in own if obj["id"] == indicator_id)

    # A collection without provenance checks, where lab B may write, serving B's copy
    # (this server would refuse B's POST: see served_without_owner_check). The consumer
    # polls it FIRST, so the copy is stored before the original arrives and must give
    # the object back to its earliest creator.
    open_collection = exchange.add_collection("open exchange", "open-exchange")
    exchange.admin(
        ["add-collection", "--id", open_collection, "--title", "open exchange", "--no-provenance"],
        ["grant", "lab-b", open_collection, "--read", "--write"],
    )
    served_without_owner_check(exchange, open_collection, poisoned_copy(original, 1))

    lab = exchange.lab_config("provenance-lab", collections=[open_collection, feed])
    first = run_dx("poll", "--config", str(lab))
    refused = events(first.stderr, "refused_version")
    assert [(e["id"], e["created_by_ref"], e["first_creator"]) for e in refused] == [
        (indicator_id, LAB_B_IDENTITY, LAB_A.identity_id)
    ]
    synced = {e["collection"]: e for e in events(first.stderr, "synced")}
    assert synced[feed]["refused"] == 1 and synced[open_collection]["refused"] == 0

    # A second copy, polled after the original is stored, is refused on arrival.
    served_without_owner_check(exchange, open_collection, poisoned_copy(original, 2))
    second = run_dx("poll", "--config", str(lab))
    assert [e["id"] for e in events(second.stderr, "refused_version")] == [indicator_id]
    assert {e["collection"]: e["refused"] for e in events(second.stderr, "synced")} == {
        open_collection: 1,
        feed: 0,
    }

    with FeedStore(load_lab_config(lab).store_path) as store:
        assert store.count_versions(open_collection) == 0
        assert store.latest_by_id([indicator_id])[indicator_id].obj == original

    blocked, ranges = blocklist_and_ranges(lab)
    assert blocked == [CIDR]
    assert [(row["cidr"], row["indicator_id"]) for row in ranges] == [(CIDR, indicator_id)]
    assert matched_indicators(lab, tmp_path) == [indicator_id]
    assert exported(lab, tmp_path)[indicator_id] == original

"""Artifacts from hand-built objects: foreign indicators, bad objects, formats, errors."""

from __future__ import annotations

import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from exchange.feed.artifacts import render_nftables, write_artifacts
from exchange.feed.current import current_feed
from exchange.feed.store import FeedStore, ReceivedVersion
from mappings.names import EXT_IP_RANGE_INDICATOR
from tests.feed.stix_factory import indicator
from tests.support.exchange import run_dx

NOW = datetime(2026, 6, 1, tzinfo=UTC)
COLLECTION = "0d7f3c2e-1111-4222-8333-444455556666"


def plain(key: str, pattern: str, **extra: object) -> dict:
    obj = indicator(key)
    obj["pattern"] = pattern
    obj.update(extra)
    return obj


def feed_of(*objects: dict):
    return current_feed(list(objects), NOW)


def test_plain_stix_address_indicators_count_with_action_unspecified() -> None:
    feed = feed_of(
        plain("single", "[ipv4-addr:value = '192.0.2.7']"),
        plain("range", "[ipv6-addr:value ISSUBSET '2001:db8::/48']"),
        plain("compound", "[ipv4-addr:value = '192.0.2.8' AND ipv4-addr:value = '192.0.2.9']"),
        plain("domain", "[domain-name:value = 'example.org']"),
    )
    assert [(e.cidr, e.action) for e in feed.ranges] == [
        ("192.0.2.7/32", "unspecified"),
        ("2001:db8::/48", "unspecified"),
    ]


def test_a_malformed_object_is_skipped_and_the_rest_still_counts(tmp_path: Path) -> None:
    broken = plain("broken", "[ipv4-addr:value ISSUBSET '192.0.2.0/33']")
    broken["extensions"] = {EXT_IP_RANGE_INDICATOR: {"recommended_action": "block"}}
    good = plain("good", "[ipv4-addr:value ISSUBSET '198.51.100.0/24']")
    good["extensions"] = {EXT_IP_RANGE_INDICATOR: {"recommended_action": "block"}}
    feed = feed_of(broken, good)
    assert [entry.cidr for entry in feed.ranges] == ["198.51.100.0/24"]
    assert [object_id for object_id, _ in feed.skipped] == [broken["id"]]
    summary = write_artifacts(feed, tmp_path)
    assert summary.blocked_ranges == 1
    assert (tmp_path / "blocklist.txt").read_text().splitlines()[1:] == ["198.51.100.0/24"]


def test_expired_and_revoked_indicators_drop_out() -> None:
    expired = plain("old", "[ipv4-addr:value = '192.0.2.1']")
    expired["valid_until"] = "2026-05-31T23:59:59.999Z"
    revoked = plain("gone", "[ipv4-addr:value = '192.0.2.2']", revoked=True)
    live = plain("live", "[ipv4-addr:value = '192.0.2.3']", valid_until="2026-06-01T00:00:01Z")
    feed = feed_of(expired, revoked, live)
    assert [entry.cidr for entry in feed.ranges] == ["192.0.2.3/32"]
    assert feed.expired == 1


def test_nftables_merges_overlaps_and_keeps_families_apart() -> None:
    import ipaddress

    networks = [
        ipaddress.ip_network(n)
        for n in ("198.51.100.0/24", "198.51.100.128/25", "198.51.101.0/24", "2001:db8::/32")
    ]
    text = render_nftables(networks, ["block"]).decode()
    assert "add element inet dx_exchange blocklist_v4 { 198.51.100.0/23 }" in text
    assert "add element inet dx_exchange blocklist_v6 { 2001:db8::/32 }" in text
    flush = text.index("flush set inet dx_exchange blocklist_v4")
    assert flush < text.index("add element inet dx_exchange blocklist_v4")


def test_act_on_an_empty_store_writes_empty_artifacts(tmp_path: Path) -> None:
    lab = tmp_path / "lab.toml"
    lab.write_text(
        '[server]\napi_root = "http://127.0.0.1:9/exchange/"\npartner_id = "x"\n'
        '[local]\nstore = "feed.sqlite3"\nartifacts = "out"\n',
        encoding="utf-8",
    )
    run_dx("act", "--config", str(lab))
    out = tmp_path / "out"
    assert (out / "blocklist.txt").read_text().splitlines()[1:] == []
    assert (out / "watchlist.csv").read_text().splitlines() == [
        "hash,kind,key_id,cluster,producer,confidence,enforcement,cluster_key,producer_name"
    ]
    assert (out / "fingerprints.jsonl").read_bytes() == b""


@pytest.mark.parametrize(
    ("args", "status", "expected"),
    [
        (["--at", "tomorrow"], 2, "dx act: error: Invalid value for '--at': 'tomorrow'"),
        (["--out", "FILE"], 1, "dx act: error: "),
    ],
)
def test_act_errors_are_one_line(
    tmp_path: Path, args: list[str], status: int, expected: str
) -> None:
    """A bad time is a usage error (2), an unwritable output a failure (1): one line each."""
    lab = tmp_path / "lab.toml"
    lab.write_text(
        '[server]\napi_root = "http://127.0.0.1:9/exchange/"\npartner_id = "x"\n'
        '[local]\nstore = "feed.sqlite3"\n',
        encoding="utf-8",
    )
    with FeedStore(tmp_path / "feed.sqlite3") as store:
        obj = plain("x", "[ipv4-addr:value = '192.0.2.9']")
        version = ReceivedVersion(obj["id"], obj["modified"], "2026-05-01T00:00:00Z", obj)
        store.store_page("http://127.0.0.1:9/exchange/", COLLECTION, [version], version.date_added)
    blocker = tmp_path / "FILE"
    blocker.write_text("a file where a directory should be")
    args = [str(blocker / "artifacts") if a == "FILE" else a for a in args]
    done = run_dx("act", "--config", str(lab), *args, check=False)
    assert done.returncode == status
    assert "Traceback" not in done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(expected)
    if status == 1:
        assert "cannot write" in lines[0]


@pytest.mark.skipif(shutil.which("nft") is None, reason="nftables (nft) is not installed")
def test_nft_accepts_the_nftables_file(tmp_path: Path) -> None:
    """nft's own parser, in check mode (-c: nothing is applied to the host's firewall)."""
    objects = []
    for key, cidr in [("a", "198.51.100.0/24"), ("b", "198.51.100.128/25"), ("c", "2001:db8::/32")]:
        obj = plain(
            key,
            f"[ipv4-addr:value ISSUBSET '{cidr}']".replace(
                "ipv4-addr", "ipv6-addr" if ":" in cidr else "ipv4-addr"
            ),
        )
        obj["extensions"] = {EXT_IP_RANGE_INDICATOR: {"recommended_action": "block"}}
        objects.append(obj)
    for feed in (feed_of(*objects), feed_of()):
        write_artifacts(feed, tmp_path)
        check = subprocess.run(
            ["nft", "-c", "-f", str(tmp_path / "blocklist.nft")],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert check.returncode == 0, check.stderr

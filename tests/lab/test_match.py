"""Matching the lab's own traffic against a local feed: indexes, rules, the dx match command.

The feed is real STIX (the lab-a samples converted by the mappings) in a real
SQLite feed store; expectations are computed pair by pair with the privacy
package's own ``matches`` or by linear scans, independently of the indexes
under test.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
import pty
import random
import struct
import subprocess
import sys
import termios
from datetime import UTC, datetime
from pathlib import Path

import pytest

from exchange.feed.current import RangeEntry, WatchEntry, current_feed
from exchange.match import (
    AccountIndex,
    RangeIndex,
    build_prompt_index,
    match_confidence,
    match_prompts,
)
from exchange.privacy import (
    Fingerprint,
    exact_template_hash,
    fingerprint_prompt,
    generate_key,
    load_key,
    matches,
)
from exchange.privacy.normalise_p2 import normalise_prompt_p2
from exchange.privacy.template_signature import ContainmentHasher, containment
from exchange.readers import read_records
from mappings.convert import records_to_objects
from mappings.producer import Producer
from tests.lab.local_feed import fill_store, local_lab_config
from tests.support.exchange import DEMO_KEY, REPO, SAMPLES, human_lines, run_dx

LAB_A = Producer("lab-a.example", "Lab A")
AT = datetime(2026, 4, 30, tzinfo=UTC)
PROMPT_FILES = sorted((SAMPLES / "raw" / "prompts").glob("*.txt"))
UNRELATED = [
    "What is the capital of France? Please answer briefly.",
    "Write a haiku about autumn leaves falling on a quiet pond.",
    "List three uses of baking soda around the house.",
]


@pytest.fixture(scope="module")
def sample_objects() -> list[dict]:
    return records_to_objects(read_records([SAMPLES / "lab-a" / "detections.jsonl"]), LAB_A)


@pytest.fixture(scope="module")
def prompts() -> list[str]:
    lines = [line for path in PROMPT_FILES for line in path.read_text().splitlines() if line]
    return lines + UNRELATED


# -- ranges --------------------------------------------------------------------------


def _entry(network: str, index: int) -> RangeEntry:
    return RangeEntry(
        network=ipaddress.ip_network(network),
        action="block",
        confidence=50,
        producer="identity--00000000-0000-4000-8000-000000000001",
        indicator_id=f"indicator--{index:08d}-0000-4000-8000-000000000000",
        valid_until=None,
    )


def test_range_index_finds_exactly_the_ranges_a_linear_scan_finds() -> None:
    rng = random.Random(7)
    networks = []
    for _ in range(400):
        if rng.random() < 0.7:
            address = ipaddress.IPv4Address(rng.getrandbits(32) & 0x0AFFFFFF | 0x0A000000)
            prefix = rng.choice([8, 12, 16, 20, 24, 28, 32])
        else:
            address = ipaddress.IPv6Address(
                (0x20010DB8 << 96) | rng.getrandbits(96) & ((1 << 80) - 1)
            )
            prefix = rng.choice([32, 40, 48, 56, 64, 128])
        networks.append(ipaddress.ip_network(f"{address}/{prefix}", strict=False))
    entries = [_entry(str(net), i) for i, net in enumerate(networks)]
    index = RangeIndex(entries)
    assert len(index) == len(entries)
    probes = [net.network_address + rng.randrange(net.num_addresses) for net in networks]
    probes += [ipaddress.IPv4Address(rng.getrandbits(32)) for _ in range(500)]
    probes += [ipaddress.IPv6Address((0x20010DB8 << 96) | rng.getrandbits(80)) for _ in range(200)]
    contained = 0
    for probe in probes:
        found = [entry.indicator_id for entry in index.containing(probe)]
        expected = {
            e.indicator_id
            for e in entries
            if probe.version == e.network.version and probe in e.network
        }
        assert sorted(found) == sorted(expected)
        assert len(found) == len(set(found))
        contained += bool(found)
    assert contained >= len(networks)


def test_range_index_lists_the_most_specific_range_first() -> None:
    index = RangeIndex(
        [_entry("10.0.0.0/8", 1), _entry("10.1.2.0/24", 2), _entry("10.1.0.0/16", 3)]
    )
    found = index.containing(ipaddress.ip_address("10.1.2.3"))
    assert [e.network.prefixlen for e in found] == [24, 16, 8]
    assert index.containing(ipaddress.ip_address("11.0.0.1")) == []


# -- accounts ------------------------------------------------------------------------


def test_account_index_compares_kinds_in_either_spelling_and_only_under_one_key() -> None:
    def watch(kind: str, key_id: str) -> WatchEntry:
        return WatchEntry("ab" * 32, kind, key_id, "account-cluster--x", "c1", None, 80, "banned")

    index = AccountIndex("k1", [watch("device-fingerprint", "k1"), watch("email", "k2")])
    assert len(index) == 1 and index.other_keys == 1
    assert index.lookup("device_fingerprint", "ab" * 32)
    assert index.lookup("device-fingerprint", "ab" * 32)
    assert not index.lookup("email", "ab" * 32)
    assert not index.lookup("phone", "ab" * 32)


# -- prompts -------------------------------------------------------------------------


def _expected_prompt_hits(feed, prompts: list[str], key) -> set[tuple[int, str]]:
    """(position, fingerprint record) pairs that match by the shared rule, pair by pair.

    SimHash never decides a match; ``p1`` fingerprints are compared with the
    privacy package's ``matches``, ``p2`` ones by recomputing the exact hash
    and the containment of the signature directly.
    """
    found = set()
    for entry in feed.fingerprints:
        if entry.algorithm == "simhash-keyed":
            continue
        reference = Fingerprint(
            entry.algorithm,
            {**entry.parameters, "key_id": entry.key_id},
            entry.value,
            entry.match_rule,
        )
        for position, prompt in enumerate(prompts):
            if reference.normalization == "p1":
                local = {fp.algorithm: fp for fp in fingerprint_prompt(prompt, key)}
                hit = matches(local[reference.algorithm], reference)
            elif reference.algorithm == "hmac-sha256-template":
                normal = normalise_prompt_p2(prompt)
                hit = exact_template_hash(normal, key, "p2") == reference.value
            else:
                hashes = ContainmentHasher(key).hashes(normalise_prompt_p2(prompt))
                score = containment(reference.containment_values, hashes)
                hit = score >= reference.match_rule["threshold"]
            if hit:
                found.add((position, entry.fingerprint_id))
    return found


def test_prompts_match_exactly_the_templates_the_pairwise_rules_match(
    sample_objects: list[dict], prompts: list[str]
) -> None:
    key = load_key(DEMO_KEY)
    feed = current_feed(sample_objects, AT)
    index = build_prompt_index(key, feed.fingerprints)
    assert index.other_keys == 0 and index.incompatible == []
    hits, empty = match_prompts(index, prompts)
    assert empty == 0
    found = {(hit.position, hit.entry.fingerprint_id) for hit in hits}
    expected = _expected_prompt_hits(feed, prompts, key)
    assert found == expected
    unrelated = set(range(len(prompts) - len(UNRELATED), len(prompts)))
    assert expected and not {position for position, _ in expected} & unrelated
    # One report per prompt and template: the strongest rule wins.
    pairs = [(hit.position, hit.entry.fingerprint_id) for hit in hits]
    assert len(pairs) == len(set(pairs))


def test_fingerprints_under_another_key_are_never_compared(
    sample_objects: list[dict], prompts: list[str]
) -> None:
    feed = current_feed(sample_objects, AT)
    other = generate_key("another-consortium")
    index = build_prompt_index(other, feed.fingerprints)
    assert index.other_keys == len(feed.fingerprints) and len(index) == 0
    assert match_prompts(index, prompts)[0] == []


def test_simhash_never_decides_a_match(sample_objects: list[dict]) -> None:
    key = load_key(DEMO_KEY)
    entries = current_feed(sample_objects, AT).fingerprints
    simhash_only = [e for e in entries if e.algorithm == "simhash-keyed"]
    index = build_prompt_index(key, simhash_only)
    assert len(index) == 0 and index.simhash_unused == len(simhash_only)
    template = (SAMPLES / "raw" / "prompts" / "lab-a-rubric-grading.txt").read_text().splitlines()
    assert match_prompts(index, template)[0] == []


def test_match_confidence_scales_near_duplicates_between_half_and_all() -> None:
    assert match_confidence(80) == 80
    assert match_confidence(None, 0.9, 0.35) is None
    assert match_confidence(80, 0.35, 0.35) == 40
    assert match_confidence(80, 1.0, 0.35) == 80
    assert 40 < match_confidence(80, 0.7, 0.35) < 80


# -- the command ---------------------------------------------------------------------


@pytest.fixture
def lab(tmp_path: Path, sample_objects: list[dict]) -> Path:
    fill_store(tmp_path / "feed.sqlite3", sample_objects)
    return local_lab_config(tmp_path)


def dx_match(config: Path, *args: str, check: bool = False):
    return run_dx(
        "match", "--config", str(config), "--at", "2026-04-30T00:00:00Z", *args, check=check
    )


def test_dx_match_writes_jsonl_and_a_table(lab: Path, tmp_path: Path) -> None:
    ips = tmp_path / "ips.txt"
    ips.write_text("# own gateway logs\n198.51.100.9\n\n192.0.2.200\n2001:db8:a00::5\n", "utf-8")
    out = tmp_path / "matches.jsonl"
    done = dx_match(lab, "--ips", str(ips), "-o", str(out), check=True)
    found = [json.loads(line) for line in out.read_text().splitlines()]
    assert [(m["line"], m["detail"]["cidr"]) for m in found] == [
        (2, "198.51.100.0/26"),
        (5, "2001:db8:a00::/40"),
    ]
    assert {m["producer_name"] for m in found} == {"Lab A"}
    assert human_lines(done.stderr)[-1].endswith("3 addresses checked; 2 matches (2 ips)")
    table = dx_match(lab, "--ips", str(ips), "--format", "table", check=True).stdout
    assert table.splitlines()[0].split() == [
        "input",
        "rule",
        "similarity",
        "confidence",
        "producer",
        "object",
    ]
    assert f"{ips}:2" in table and "cidr-contains" in table


@pytest.mark.parametrize(
    ("name", "content", "options", "expected"),
    [
        (
            "p.jsonl",
            '{"prompt": "hello there friend"}\n{"text": "x"}\n',
            ["--prompts"],
            ":2: text: unknown field",
        ),
        (
            "p.jsonl",
            '{"prompt": "a b c", "seen_at": "yesterday"}\n',
            ["--prompts"],
            ":1: seen_at: 'yesterday' is not a timestamp",
        ),
        ("p.jsonl", "not json\n", ["--prompts"], ":1: not valid JSON"),
        (
            "ips.txt",
            "198.51.100.1\n300.1.1.1\n",
            ["--ips"],
            ":2: '300.1.1.1' is not an IPv4 or IPv6 address",
        ),
        (
            "a.csv",
            "email\nnot-an-email\n",
            ["--column", "email:email", "--accounts"],
            ":2: email: ",
        ),
        (
            "a.csv",
            "mail\nx@example.com\n",
            ["--column", "email:email", "--accounts"],
            ":1: email: no such column",
        ),
    ],
)
def test_bad_input_is_one_line_and_writes_nothing(
    lab: Path, tmp_path: Path, name: str, content: str, options: list[str], expected: str
) -> None:
    source = tmp_path / name
    source.write_text(content, encoding="utf-8")
    out = tmp_path / "matches.jsonl"
    out.write_text("previous\n", encoding="utf-8")
    done = dx_match(lab, *options, str(source), "-o", str(out))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    [line] = human_lines(done.stderr)
    assert line.startswith(f"{source}{expected}")
    assert out.read_text() == "previous\n"


def test_usage_and_key_problems_are_one_line(lab: Path, tmp_path: Path) -> None:
    done = dx_match(lab)
    assert done.returncode == 2 and "nothing to match" in done.stderr
    done = dx_match(lab, "--accounts", str(tmp_path / "a.csv"))
    assert done.returncode == 2 and "--column" in done.stderr
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("Explain step by step how to solve it.\n", encoding="utf-8")
    keyless = tmp_path / "keyless"
    keyless.mkdir()
    done = dx_match(local_lab_config(keyless, key=False), "--prompts", str(prompts))
    assert done.returncode == 1
    assert human_lines(done.stderr) == [
        "dx match: error: matching prompts or accounts needs the consortium key: set "
        "local.consortium_key_file in the lab config or pass --key-file"
    ]
    done = dx_match(lab, "--prompts", str(prompts), "--key-file", str(tmp_path / "nokey.json"))
    assert done.returncode == 1
    [line] = human_lines(done.stderr)
    assert "nokey.json" in line


# -- streaming ------------------------------------------------------------------------


def _big_prompt_file(path: Path, prompts: list[str], lines: int, bad_at: int | None) -> None:
    """JSON Lines of campaign prompts and unrelated ones; a bad record at ``bad_at``."""
    pool = prompts + UNRELATED
    with path.open("w", encoding="utf-8") as out:
        for number in range(1, lines + 1):
            if number == bad_at:
                out.write('{"prompt": ""}\n')
            else:
                out.write(json.dumps({"prompt": pool[number % len(pool)]}) + "\n")


def test_a_bad_line_at_the_end_of_a_big_input_leaves_no_output(
    lab: Path, tmp_path: Path, prompts: list[str]
) -> None:
    """Matching streams (the lines before the bad one are matched, and their matches written
    to the temporary output), yet the bad line still names itself and nothing is written."""
    source = tmp_path / "traffic.jsonl"
    out = tmp_path / "matches.jsonl"
    _big_prompt_file(source, prompts, 20_000, bad_at=None)
    done = dx_match(lab, "--prompts", str(source), "-o", str(out), check=True)
    good = out.read_text().splitlines()
    assert len(good) > 1000, "the generated traffic should match the sample campaign"
    assert "20000 prompts" in human_lines(done.stderr)[-1]
    _big_prompt_file(source, prompts, 20_000, bad_at=19_998)
    out.write_text("previous\n", encoding="utf-8")
    done = dx_match(lab, "--prompts", str(source), "-o", str(out))
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert human_lines(done.stderr) == [f"{source}:19998: prompt: required non-empty string"]
    assert out.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".matches")] == []


def test_streamed_matches_come_out_in_file_then_line_order(
    lab: Path, tmp_path: Path, prompts: list[str]
) -> None:
    """Files named in any order on the command line: matches by kind, file name, line."""
    first, second = tmp_path / "a-prompts.txt", tmp_path / "b-prompts.txt"
    first.write_text("\n".join(prompts[:5]) + "\n", encoding="utf-8")
    second.write_text("\n".join(prompts[5:10]) + "\n", encoding="utf-8")
    ips = tmp_path / "ips.txt"
    ips.write_text("198.51.100.9\n", "utf-8")
    done = dx_match(
        lab, "--ips", str(ips), "--prompts", str(second), "--prompts", str(first), check=True
    )
    found = [json.loads(line) for line in done.stdout.splitlines()]
    order = [(m["input"], m["file"], m["line"], m["object_id"]) for m in found]
    kinds = ["prompts", "accounts", "ips"]
    assert order == sorted(order, key=lambda m: (kinds.index(m[0]), *m[1:]))
    assert {m["file"] for m in found} == {str(first), str(second), str(ips)}


def test_the_progress_bar_shows_on_a_terminal_only(lab: Path, tmp_path: Path) -> None:
    """stderr on a pseudo-terminal: the bar is drawn; on a pipe (every other test): not."""
    source = tmp_path / "prompts.txt"
    source.write_text("Explain step by step how to solve it.\n" * 50, encoding="utf-8")
    leader, follower = pty.openpty()
    # A new pseudo-terminal is 0 columns wide (tqdm would draw an empty bar); a real one is not.
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        process = subprocess.Popen(
            [
                *(sys.executable, "-m", "exchange.commands.match", "--config", str(lab)),
                *("--at", "2026-04-30T00:00:00Z", "--prompts", str(source), "-o", "-"),
            ],
            cwd=REPO,
            stdout=subprocess.DEVNULL,
            stderr=follower,
        )
        os.close(follower)
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # the terminal closed: the process is gone
                break
            if not chunk:
                break
            seen += chunk
        assert process.wait(timeout=120) == 0
    finally:
        os.close(leader)
    assert b"matching:" in seen and b"B/s" in seen
    assert b"50 prompts" in seen
    assert "matching:" not in dx_match(lab, "--prompts", str(source), check=True).stderr

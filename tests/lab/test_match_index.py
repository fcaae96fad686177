"""The persistent prompt-match index: kept in the lab store, caught up incrementally, opened
by ``dx match`` with the same answers as matching against the current feed directly.

The feed is real STIX converted by the mappings from ``dx fingerprint`` records
(``p2`` template signatures) and the lab-a samples, in a real SQLite feed
store; the reference answer is ``run_match`` over ``current_feed`` (the path
that builds its index from the objects), independent of the stored index.
"""

from __future__ import annotations

import json
import math
import random
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

import pytest

from exchange.commands.fingerprint import (
    RecordSettings,
    build_fingerprint_records,
    read_prompt_groups,
)
from exchange.feed.current import current_feed
from exchange.feed.store import FeedStore, ReceivedVersion
from exchange.match import MatchInputs, run_match
from exchange.match.containment_index import ContainmentIndex
from exchange.match.containment_probe import ContainmentProbe
from exchange.match.index import open_prompt_index, sync_prompt_index
from exchange.privacy import load_key
from exchange.privacy.fingerprint import fingerprint_template_set_p1
from exchange.privacy.template_signature import ContainmentHasher
from mappings.convert import records_to_objects
from mappings.producer import Producer
from mappings.records import FingerprintValue
from tests.lab.local_feed import fill_store, local_lab_config
from tests.support.exchange import DEMO_KEY, SAMPLES, run_dx

LAB_A = Producer("lab-a.example", "Lab A")
LAB_C = Producer("lab-c.example", "Lab C")
AT = datetime(2026, 4, 30, tzinfo=UTC)
PROMPT_FILES = sorted((SAMPLES / "raw" / "prompts").glob("*.txt"))


def _fingerprint_objects(producer: Producer, *, legacy: bool) -> list[dict]:
    """A lab fingerprints every sample prompt file: with today's dx fingerprint (p2), or as
    records published before p2 were (p1 exact hashes, MinHash and SimHash)."""
    key = load_key(DEMO_KEY)
    records = []
    for path in PROMPT_FILES:
        settings = RecordSettings(
            scope="user_prefix",
            confidence=80,
            benign_fp_rate=0.01,
            updated=datetime(2026, 4, 29, tzinfo=UTC),
            id_prefix=f"{producer.key}-{path.stem}",
            first_seen=datetime(2026, 4, 1, tzinfo=UTC),
            last_seen=datetime(2026, 4, 28, tzinfo=UTC),
            distinct_accounts=12,
        )
        (record,) = build_fingerprint_records(read_prompt_groups(path), settings, key, path.name)
        if legacy:
            (group,) = read_prompt_groups(path)
            payload = fingerprint_template_set_p1(group.prompts, key)
            record = record.model_copy(
                update={
                    "normalization": "p1",
                    "fingerprints": [
                        FingerprintValue.model_validate(f.to_dict()) for f in payload.fingerprints
                    ],
                }
            )
        records.append(record)
    return records_to_objects(records, producer)


@pytest.fixture(scope="module")
def objects() -> list[dict]:
    return _fingerprint_objects(LAB_A, legacy=True) + _fingerprint_objects(LAB_C, legacy=False)


@pytest.fixture
def lab(tmp_path: Path, objects: list[dict]) -> Path:
    fill_store(tmp_path / "feed.sqlite3", objects)
    return local_lab_config(tmp_path)


def _prompts_file(tmp_path: Path) -> Path:
    lines = [line for path in PROMPT_FILES for line in path.read_text().splitlines() if line]
    lines += ["What is the capital of France? Please answer briefly."]
    target = tmp_path / "prompts.txt"
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return target


def _reference(objects: list[dict], prompts: Path) -> list[tuple]:
    run = run_match(
        current_feed(objects, AT),
        MatchInputs(prompts=[prompts]),
        load_key(DEMO_KEY),
        seen_at=AT,
    )
    return sorted((m.line, m.object_id, m.rule, m.similarity) for m in run.matches)


def test_dx_match_with_the_stored_index_answers_as_the_feed_does(
    lab: Path, tmp_path: Path, objects: list[dict]
) -> None:
    prompts = _prompts_file(tmp_path)
    out = tmp_path / "matches.jsonl"
    run_dx(
        "match",
        "--config",
        str(lab),
        "--at",
        "2026-04-30T00:00:00Z",
        "--seen-at",
        "2026-04-30T00:00:00Z",
        "--prompts",
        str(prompts),
        "-o",
        str(out),
        check=True,
    )
    found = [json.loads(line) for line in out.read_text().splitlines()]
    got = sorted((m["line"], m["object_id"], m["rule"], m["similarity"]) for m in found)
    assert got == _reference(objects, prompts)
    rules = {m["rule"] for m in found}
    assert {"template-containment", "exact-template", "minhash-jaccard"} <= rules
    # Lab C's p2 signatures match by containment; lab A's p1 records by MinHash.
    producers = {m["producer_name"] for m in found if m["rule"] == "template-containment"}
    assert producers == {"Lab C"}


def test_the_index_is_caught_up_not_rebuilt(tmp_path: Path, objects: list[dict]) -> None:
    store_path = tmp_path / "feed.sqlite3"
    fill_store(store_path, objects)
    key = load_key(DEMO_KEY)
    indicators = sum(1 for obj in objects if obj["type"] == "indicator")
    assert sync_prompt_index(store_path) == indicators
    assert sync_prompt_index(store_path) == 0  # nothing new: nothing re-read
    before = open_prompt_index(store_path, key, AT)
    assert len(before) == len(current_feed(objects, AT).fingerprints) - before.simhash_unused

    # A newer version revokes one containment indicator: one more version is read.
    target = next(
        obj
        for obj in objects
        if obj["type"] == "indicator" and "containment-keyed" in obj.get("pattern", "")
    )
    revoked = {**target, "revoked": True, "modified": "2026-04-29T12:00:00.000Z"}
    with FeedStore(store_path) as store:
        store.store_page(
            "http://127.0.0.1:9/exchange/",
            "test-collection",
            [
                ReceivedVersion(
                    revoked["id"], revoked["modified"], "2026-05-02T00:00:00.000Z", revoked
                )
            ],
            "2026-05-02T00:00:00.000Z",
        )
    assert sync_prompt_index(store_path) == 1
    after = open_prompt_index(store_path, key, AT)
    assert len(after.containment_entries) == len(before.containment_entries) - 1
    assert target["id"] not in {e.indicator_id for e in after.containment_entries}

    # An older version arriving later changes nothing (the latest version wins).
    older = {**target, "modified": "2026-04-01T00:00:00.000Z"}
    older.pop("revoked", None)
    with FeedStore(store_path) as store:
        store.store_page(
            "http://127.0.0.1:9/exchange/",
            "other-collection",
            [ReceivedVersion(older["id"], older["modified"], "2026-05-03T00:00:00.000Z", older)],
            "2026-05-03T00:00:00.000Z",
        )
    assert sync_prompt_index(store_path) == 1
    assert len(open_prompt_index(store_path, key, AT).containment_entries) == len(
        after.containment_entries
    )


def test_expiry_is_judged_when_the_index_is_opened(tmp_path: Path, objects: list[dict]) -> None:
    store_path = tmp_path / "feed.sqlite3"
    fill_store(store_path, objects)
    key = load_key(DEMO_KEY)
    feed_later = current_feed(objects, datetime(2030, 1, 1, tzinfo=UTC))
    later = open_prompt_index(store_path, key, datetime(2030, 1, 1, tzinfo=UTC))
    assert len(later) == len(feed_later.fingerprints) - later.simhash_unused


def test_a_store_without_index_tables_is_caught_up_on_open(
    tmp_path: Path, objects: list[dict]
) -> None:
    store_path = tmp_path / "feed.sqlite3"
    fill_store(store_path, objects)
    with sqlite3.connect(store_path) as conn:  # as left by a dx older than the index
        conn.execute("DROP TABLE IF EXISTS prompt_match_entries")
        conn.execute("DROP TABLE IF EXISTS prompt_match_state")
    index = open_prompt_index(store_path, load_key(DEMO_KEY), AT)
    assert len(index.containment_entries) == len(PROMPT_FILES)


def _linear_scan(
    signatures: list[tuple[frozenset[int], float]], prompt: set[int]
) -> set[tuple[int, float]]:
    return {
        (position, len(values & prompt) / len(values))
        for position, (values, threshold) in enumerate(signatures)
        if len(values & prompt) >= max(1, math.ceil(threshold * len(values) - 1e-9))
    }


def test_the_containment_index_returns_what_checking_every_signature_would() -> None:
    """Prefix filtering must be exact: compare with a linear scan on random, overlapping data,
    with thresholds so low that some signatures need fewer hits than the prefix requirement,
    and with signatures added after the index was first queried."""
    rng = random.Random(1307)
    universe = list(range(3000))
    common = universe[:40]  # values many signatures share, as stock phrases are
    index = ContainmentIndex()
    signatures: list[tuple[frozenset[int], float]] = []

    def add(count: int) -> None:
        for _ in range(count):
            size = rng.randint(10, 64)
            values = set(rng.sample(common, rng.randint(0, size // 2)))
            values |= set(rng.sample(universe, size - len(values)))
            threshold = rng.choice([0.05, 0.2, 0.3, 0.5, 0.6, 0.9, 1.0])
            signatures.append((frozenset(values), threshold))
            index.add(sorted(values), threshold)

    add(300)
    assert set(index.query(set(universe[:100]))) == _linear_scan(signatures, set(universe[:100]))
    add(100)
    for _ in range(300):
        base = signatures[rng.randrange(len(signatures))][0]
        prompt = set(rng.sample(sorted(base), rng.randint(0, len(base))))
        prompt |= set(rng.sample(universe, rng.randint(0, 200)))
        assert set(index.query(prompt)) == _linear_scan(signatures, prompt)


def test_the_probe_answers_as_the_index_does_and_forgets_when_the_index_changes() -> None:
    """``ContainmentProbe`` caches each word pair's hash and posting lists: same answers as
    hashing and querying, and none from stale posting lists once a signature is added."""
    key = load_key(DEMO_KEY)
    hasher = ContainmentHasher(key)
    rng = random.Random(1308)
    words = [f"w{n}" for n in range(60)]
    texts = [" ".join(rng.choice(words) for _ in range(rng.randint(1, 40))) for _ in range(300)]
    index = ContainmentIndex()
    probe = ContainmentProbe(index, hasher, limit=50)  # small: the cache is emptied often
    for text in texts[:40]:
        index.add(sorted(hasher.hashes(text)), 0.5)
    for text in texts:
        assert sorted(probe.query(text)) == sorted(index.query(hasher.hashes(text)))
    index.add(sorted(hasher.hashes(texts[-1])), 0.9)
    found = probe.query(texts[-1])
    assert (len(index) - 1, 1.0) in found
    assert sorted(found) == sorted(index.query(hasher.hashes(texts[-1])))

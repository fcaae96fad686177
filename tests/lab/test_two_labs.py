"""The whole loop between two labs, over a real exchange server and the `dx` commands.

Lab A publishes the sample detections; lab B polls and acts on them; lab A
withdraws a range and updates a cluster; lab B's next poll follows; lab B
matches its own (synthetic) traffic, reports sightings and disputes a range;
lab A polls and sees that feedback. Every expectation is computed from the
sample records and raw files, never written down by hand.

One module-scoped exchange; the steps are one test because each depends on
the state the previous one left (that dependency is the point of the test).
"""

from __future__ import annotations

import csv
import ipaddress
import json
from datetime import datetime
from pathlib import Path

import pytest

from exchange.feed.store import FeedStore
from exchange.privacy import (
    ALGORITHM_CONTAINMENT,
    ALGORITHM_SIMHASH,
    ContainmentHasher,
    Fingerprint,
    containment,
    exact_template_hash,
    fingerprint_prompt,
    load_key,
    matches,
    normalise_prompt_p2,
    pseudonymise,
)
from exchange.readers import read_records
from mappings.convert import records_to_objects
from mappings.record_kinds import record_key
from mappings.records import AccountCluster, IpRange, PromptFingerprint
from mappings.timestamps import stix_timestamp
from mappings.vocab import to_stix_term
from tests.support.exchange import DEMO_KEY, SAMPLES, Exchange, Lab, log_events

LAB_A_DETECTIONS = SAMPLES / "lab-a" / "detections.jsonl"
LAB_A_UPDATES = SAMPLES / "lab-a" / "updates.jsonl"
LAB_B_PROMPTS = SAMPLES / "raw" / "prompts" / "lab-b-step-by-step.txt"
LAB_B_UNRELATED_TEMPLATE = SAMPLES / "raw" / "prompts" / "lab-b-tool-schema.txt"
LAB_B_ACCOUNTS = SAMPLES / "raw" / "lab-b-accounts.csv"
ACCOUNT_COLUMNS = {"email": "email", "phone": "phone", "device": "device_fingerprint"}
BLOCK_ACTIONS = ("block", "rate_limit")
UNRELATED_PROMPTS = [
    "What is the capital of France? Please answer briefly.",
    "Write a haiku about autumn leaves falling on a quiet pond.",
    "Summarise the plot of a detective novel you like in three sentences.",
    "Translate 'good morning, how are you' into Spanish and Italian.",
]


# -- expectations from the sample records ---------------------------------------------


def merged(records: list, updates: list) -> list:
    """The producer's current records: a later version replaces the earlier one."""
    by_key = {(r.kind, record_key(r)): r for r in records}
    for update in updates:
        by_key[(update.kind, record_key(update))] = update
    return list(by_key.values())


def expected_blocklist(records: list) -> set[str]:
    return {
        r.cidr
        for r in records
        if isinstance(r, IpRange) and not r.withdrawn and r.recommended_action in BLOCK_ACTIONS
    }


def expected_watchlist(records: list) -> set[tuple[str, str]]:
    """(hash, kind) pairs; the feed spells kinds the STIX way (device-fingerprint)."""
    return {
        (member.hash, to_stix_term(member.kind))
        for r in records
        if isinstance(r, AccountCluster) and not r.withdrawn
        for member in r.members
    }


def expected_fingerprints(records: list) -> set[tuple[str, str, str]]:
    return {
        (fp.algorithm, fp.key_id, fp.value)
        for r in records
        if isinstance(r, PromptFingerprint) and not r.withdrawn
        for fp in r.fingerprints
    }


def latest_update_time(*groups: list) -> datetime:
    return max(r.updated for group in groups for r in group)


def expected_prompt_lines(records: list, prompts: list[str], key) -> set[int]:
    """Lines whose prompt matches a shared fingerprint by its own rule, checked pair by pair:
    p1 exact and MinHash with the privacy package's ``matches``; p2 exact hashes and
    template signatures recomputed directly. SimHash never decides a match."""
    shared = []
    for record in records:
        if not isinstance(record, PromptFingerprint) or record.withdrawn:
            continue
        for value in record.fingerprints:
            if value.algorithm == ALGORITHM_SIMHASH:
                continue
            rule = value.match_rule.model_dump(exclude_none=True)
            shared.append(
                Fingerprint(
                    value.algorithm,
                    {**value.parameters, "key_id": value.key_id},
                    value.value,
                    rule,
                )
            )
    hasher = ContainmentHasher(key)
    found = set()
    for number, prompt in enumerate(prompts, start=1):
        local = {fp.algorithm: fp for fp in fingerprint_prompt(prompt, key)}
        normal = normalise_prompt_p2(prompt)
        hashes = hasher.hashes(normal)
        for ref in shared:
            if ref.normalization == "p1":
                hit = matches(local[ref.algorithm], ref)
            elif ref.algorithm == ALGORITHM_CONTAINMENT:
                hit = containment(ref.containment_values, hashes) >= ref.match_rule["threshold"]
            else:
                hit = exact_template_hash(normal, key, "p2") == ref.value
            if hit:
                found.add(number)
                break
    return found


def expected_account_lines(records: list, key) -> set[tuple[int, str]]:
    members = {
        (m.kind, m.hash)
        for r in records
        if isinstance(r, AccountCluster) and not r.withdrawn
        for m in r.members
    }
    found = set()
    with LAB_B_ACCOUNTS.open(newline="", encoding="utf-8") as handle:
        for number, row in enumerate(csv.DictReader(handle), start=2):
            for column, kind in ACCOUNT_COLUMNS.items():
                raw = row[column].strip()
                if raw and (kind, pseudonymise(kind, raw, key)) in members:
                    found.add((number, column))
    return found


def current_networks(records: list) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    return [r.network for r in records if isinstance(r, IpRange) and not r.withdrawn]


# -- reading what the commands wrote ----------------------------------------------------


def blocklist(lab: Lab) -> set[str]:
    text = (lab.artifacts / "blocklist.txt").read_text(encoding="utf-8")
    return {line for line in text.splitlines() if line and not line.startswith("#")}


def watchlist(lab: Lab) -> list[dict[str, str]]:
    with (lab.artifacts / "watchlist.csv").open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def fingerprints(lab: Lab) -> set[tuple[str, str, str]]:
    lines = (lab.artifacts / "fingerprints.jsonl").read_text(encoding="utf-8").splitlines()
    return {(r["algorithm"], r["key_id"], r["value"]) for r in map(json.loads, lines)}


def published(lab: Lab, *args: str) -> dict:
    done = lab.dx("publish", *args, "--json", "--quiet")
    return json.loads(done.stdout)


def poll_and_act(lab: Lab, at: datetime) -> None:
    lab.dx("poll", "--once", "--quiet")
    lab.dx("act", "--at", stix_timestamp(at), "--block-actions", ",".join(BLOCK_ACTIONS))


@pytest.mark.slow
def test_two_labs_publish_poll_act_revoke_match_and_feed_back(
    exchange: Exchange, tmp_path: Path
) -> None:
    key = load_key(DEMO_KEY)
    lab_a = exchange.lab("lab-a", "lab-a")
    lab_b = exchange.lab("lab-b", "lab-b")
    records = read_records([LAB_A_DETECTIONS])
    updates = read_records([LAB_A_UPDATES])
    current = merged(records, updates)
    # Judge expiry at the producer's latest version time: the samples are dated in the past.
    at = latest_update_time(records, updates)

    # 1. Lab A publishes its detections; the ready-made sample bundle is the same objects.
    objects = records_to_objects(records, lab_a.producer)
    first = published(lab_a, str(LAB_A_DETECTIONS))
    assert first["refused"] == [] and first["pending"] == []
    assert first["sent"] == first["accepted"] == len(objects)
    again = published(lab_a, str(SAMPLES / "bundle.json"))
    assert again["already_present"] == len(objects) and again["accepted"] == 0

    # 2. Lab B polls and acts: blocklist, watchlist and fingerprint set as published.
    poll_and_act(lab_b, at)
    assert blocklist(lab_b) == expected_blocklist(records)
    assert {(r["hash"], r["kind"]) for r in watchlist(lab_b)} == expected_watchlist(records)
    assert fingerprints(lab_b) == expected_fingerprints(records)
    withdrawn_ranges = {r.cidr for r in updates if isinstance(r, IpRange) and r.withdrawn}
    assert withdrawn_ranges and withdrawn_ranges <= blocklist(lab_b)

    # 3. Lab A withdraws a range and a cluster and updates another cluster.
    update_objects = records_to_objects(updates, lab_a.producer)
    report = published(lab_a, str(LAB_A_UPDATES))
    assert report["refused"] == []
    poll_and_act(lab_b, at)
    assert blocklist(lab_b) == expected_blocklist(current)
    assert not withdrawn_ranges & blocklist(lab_b)
    rows = watchlist(lab_b)
    assert {(r["hash"], r["kind"]) for r in rows} == expected_watchlist(current)
    assert fingerprints(lab_b) == expected_fingerprints(current)
    updated_clusters = {
        r.cluster_id: r for r in updates if isinstance(r, AccountCluster) and not r.withdrawn
    }
    assert updated_clusters
    cluster_objects = [o for o in update_objects if o["type"] == "account-cluster"]
    with FeedStore(lab_b.store) as store:
        held = store.latest_by_id([o["id"] for o in cluster_objects])
    for obj in cluster_objects:
        assert held[obj["id"]].obj == obj  # the new version, exactly as published
        if obj["cluster_id"] in updated_clusters:
            record = updated_clusters[obj["cluster_id"]]
            assert held[obj["id"]].version == stix_timestamp(record.updated)
            assert {r["enforcement"] for r in rows if r["cluster_key"] == record.cluster_id} == {
                obj["enforcement"]
            }

    # 4. Lab B matches its own traffic locally.
    template_prompts = LAB_B_PROMPTS.read_text(encoding="utf-8").splitlines()
    other_template = LAB_B_UNRELATED_TEMPLATE.read_text(encoding="utf-8").splitlines()
    prompts = template_prompts + UNRELATED_PROMPTS + other_template
    prompts_file = tmp_path / "prompts.txt"
    prompts_file.write_text("\n".join(prompts) + "\n", encoding="utf-8")
    inside = [net.network_address + 1 for net in current_networks(current)]
    withdrawn = [ipaddress.ip_network(c).network_address + 2 for c in withdrawn_ranges]
    outside = [ipaddress.ip_address("192.0.2.77"), ipaddress.ip_address("2001:db8:ffff::1")]
    every_range = [r.network for r in records if isinstance(r, IpRange)]
    assert not any(a in net for a in outside for net in every_range)
    addresses = inside + withdrawn + outside
    ips_file = tmp_path / "ips.txt"
    ips_file.write_text("".join(f"{a}\n" for a in addresses), encoding="utf-8")
    matches_file = tmp_path / "matches.jsonl"
    seen_at = "2026-05-07T08:00:00Z"
    columns = [f"--column={c}:{k}" for c, k in ACCOUNT_COLUMNS.items()]
    lab_b.dx(
        "match",
        "--prompts", str(prompts_file),
        "--accounts", str(LAB_B_ACCOUNTS), *columns,
        "--ips", str(ips_file),
        "--at", stix_timestamp(at),
        "--seen-at", seen_at,
        "-o", str(matches_file),
    )  # fmt: skip
    found = [json.loads(line) for line in matches_file.read_text(encoding="utf-8").splitlines()]
    by_input = {
        kind: [m for m in found if m["input"] == kind] for kind in ("prompts", "accounts", "ips")
    }
    expected_prompts = expected_prompt_lines(current, prompts, key)
    assert expected_prompts and max(expected_prompts) <= len(template_prompts)
    assert {m["line"] for m in by_input["prompts"]} == expected_prompts
    expected_accounts = expected_account_lines(current, key)
    assert expected_accounts
    assert {(m["line"], m["column"]) for m in by_input["accounts"]} == expected_accounts
    assert {m["line"] for m in by_input["ips"]} == set(range(1, len(inside) + 1))
    lab_a_identity = lab_a.producer.identity_id
    assert {m["producer"] for m in found} == {lab_a_identity}
    assert {m["producer_name"] for m in found} == {"Lab A"}
    report_text = matches_file.read_text(encoding="utf-8")
    for prompt in prompts:
        assert prompt not in report_text
    assert "@example" not in report_text.lower()

    # 5. Lab B reports sightings (idempotent) and disputes one range.
    sighted = {m["object_id"] for m in found}
    first_feedback = lab_b.dx("feedback sighting", "--matches", str(matches_file), "--json")
    summary = json.loads(first_feedback.stdout)
    assert summary["refused"] == []
    assert summary["accepted"] >= len(sighted)  # plus Lab B's identity, unless already there
    repeat = json.loads(
        lab_b.dx("feedback sighting", "--matches", str(matches_file), "--json", "--quiet").stdout
    )
    assert repeat["accepted"] == 0 and repeat["already_present"] == summary["sent"]
    envelope_logs = log_events(first_feedback.stderr, "envelope")
    assert envelope_logs and sum(e["objects"] for e in envelope_logs) == summary["sent"]

    disputed = next(m for m in by_input["ips"] if m["detail"]["action"] == "block")
    explanation = "This range also carries a university's NAT; we see mostly students there."
    opinion_args = ("--object", disputed["object_id"], "--opinion", "disagree")
    lab_b.dx("feedback opinion", *opinion_args, "--explanation", explanation, "--quiet")
    unchanged = lab_b.dx("feedback opinion", *opinion_args, "--explanation", explanation)
    assert "nothing to publish" in unchanged.stderr

    # 6. Lab A polls and sees who sighted its objects and who disputes them.
    lab_a.dx("poll", "--once", "--quiet")
    shown = lab_a.dx("feedback show", "--json")
    rows = [json.loads(line) for line in shown.stdout.splitlines()]
    sightings = [r for r in rows if r["feedback"] == "sighting"]
    assert {r["object_id"] for r in sightings} == sighted
    assert {r["by_name"] for r in rows} == {"Lab B"}
    lines_per_object: dict[str, set] = {}
    for m in found:
        lines_per_object.setdefault(m["object_id"], set()).add((m["input"], m["file"], m["line"]))
    assert {r["object_id"]: r["count"] for r in sightings} == {
        k: len(v) for k, v in lines_per_object.items()
    }
    opinions = [r for r in rows if r["feedback"] == "opinion"]
    assert [(o["object_id"], o["opinion"], o["explanation"]) for o in opinions] == [
        (disputed["object_id"], "disagree", explanation)
    ]
    listing = lab_a.dx("feedback show").stdout
    assert "sighted by Lab B" in listing and "opinion of Lab B: disagree" in listing

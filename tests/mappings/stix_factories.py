"""Small, realistic detection records for the mapping tests.

Member hashes are real HMAC-SHA256 values of raw identifiers under a test
key, so the privacy tests can search the output for the raw identifiers.
Addresses and AS numbers are documentation space (RFC 5737, 3849, 5398).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime

from mappings.producer import Producer
from mappings.records import (
    AccountCluster,
    FingerprintValue,
    HashingScheme,
    IpRange,
    LinkingSignal,
    MatchRule,
    MemberHash,
    PromptFingerprint,
    RequestVolume,
)

TEST_KEY = b"mapping-tests-consortium-key-0000000000"
KEY_ID = "test-2026"

LAB_A = Producer("lab-a.example", "Lab A")
LAB_B = Producer("lab-b.example", "Lab B")

RAW_EMAILS = ("alice.distiller@example.com", "bob+batch7@example.org", "carol@example.net")
RAW_PHONES = ("+1 555 0100 123",)
RAW_PROMPTS = (
    "Solve the following problem step by step and show all reasoning: 17 * 23",
    "You are a strict grader. Score this answer from 1 to 10 with a rubric: ...",
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def keyed_hash(raw: str) -> str:
    """What the lab's pseudonymiser would publish for ``raw`` (normalised: lower-case, stripped)."""
    return hmac.new(TEST_KEY, raw.strip().lower().encode(), hashlib.sha256).hexdigest()


def cluster(**changes: object) -> AccountCluster:
    fields: dict[str, object] = {
        "updated": at("2026-05-02T10:00:00"),
        "first_seen": at("2026-04-01T08:30:00"),
        "last_seen": at("2026-05-01T23:59:59.250000"),
        "confidence": 85,
        "tlp": "amber",
        "campaign": "op-lantern",
        "cluster_id": "cluster-0001",
        "member_count": 240,
        "members": [MemberHash(kind="email", hash=keyed_hash(e)) for e in RAW_EMAILS]
        + [MemberHash(kind="phone", hash=keyed_hash(p)) for p in RAW_PHONES],
        "hashing": HashingScheme(key_id=KEY_ID, normalization="n1"),
        "linking_signals": [
            LinkingSignal(signal="shared_payment_instrument", count=31),
            LinkingSignal(signal="signup_burst", count=240),
        ],
        "volume": RequestVolume(
            requests=1_250_000,
            tokens=910_000_000,
            window_start=at("2026-04-01T00:00:00"),
            window_end=at("2026-05-01T00:00:00"),
            peak_requests_per_account_per_minute=41.5,
        ),
        "targeted_capabilities": ["reasoning_traces", "agentic_coding"],
        "enforcement": "banned",
        "prompt_fingerprint_refs": ["tmpl-step-by-step"],
        "ip_range_refs": ["198.51.100.0/24", "2001:db8:4400::/40"],
    }
    fields.update(changes)
    return AccountCluster.model_validate(fields)


def exact_value(raw_prompt: str) -> FingerprintValue:
    digest = hmac.new(TEST_KEY, raw_prompt.encode(), hashlib.sha256).hexdigest()
    return FingerprintValue(
        algorithm="hmac-sha256-template",
        key_id=KEY_ID,
        value=digest,
        parameters={"key_id": KEY_ID, "normalization": "p1"},
        match_rule=MatchRule(metric="equal"),
    )


def fingerprint(**changes: object) -> PromptFingerprint:
    fields: dict[str, object] = {
        "updated": at("2026-05-02T10:00:00.123456"),
        "first_seen": at("2026-04-03T12:00:00"),
        "last_seen": at("2026-05-01T12:00:00"),
        "confidence": 70,
        "tlp": "green",
        "campaign": "op-lantern",
        "fingerprint_id": "tmpl-step-by-step",
        "scope": "user_prefix",
        "normalization": "p1",
        "fingerprints": [
            exact_value(RAW_PROMPTS[0]),
            FingerprintValue(
                algorithm="minhash-keyed",
                key_id=KEY_ID,
                value="AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
                parameters={
                    "key_id": KEY_ID,
                    "normalization": "p1",
                    "shingle_size": 3,
                    "num_perm": 128,
                    "value_bits": 32,
                },
                match_rule=MatchRule(metric="jaccard", threshold=0.5),
            ),
            FingerprintValue(
                algorithm="simhash-keyed",
                key_id=KEY_ID,
                value="9f3a2c4d5e6f7081",
                parameters={"shingle_size": 3, "bits": 64},
                match_rule=MatchRule(metric="hamming", threshold=16),
            ),
        ],
        "sample_count": 5120,
        "distinct_accounts": 198,
        "elicitation_features": ["step_by_step_reasoning", "answer_only_format"],
        "benign_fp_rate": 0.0004,
    }
    fields.update(changes)
    return PromptFingerprint.model_validate(fields)


def ip_range(**changes: object) -> IpRange:
    fields: dict[str, object] = {
        "updated": at("2026-05-02T10:00:00"),
        "first_seen": at("2026-04-02T00:00:00"),
        "last_seen": at("2026-05-01T18:00:00"),
        "confidence": 60,
        "tlp": "amber",
        "campaign": "op-lantern",
        "cidr": "198.51.100.0/24",
        "asn": 64500,
        "as_name": "EXAMPLE-RESIDENTIAL-PROXY",
        "provider_type": "residential_proxy",
        "traffic_share": 0.37,
        "benign_accounts_seen": 3,
        "recommended_action": "step_up",
    }
    fields.update(changes)
    return IpRange.model_validate(fields)


def ipv6_range(**changes: object) -> IpRange:
    fields: dict[str, object] = {
        "cidr": "2001:db8:4400::/40",
        "asn": 64501,
        "as_name": "EXAMPLE-HOSTING",
        "provider_type": "hosting",
        "traffic_share": 0.12,
        "recommended_action": "block",
        "tlp": "red",
        "valid_until": at("2026-06-15T00:00:00"),
        "campaign": None,
    }
    fields.update(changes)
    return ip_range(**fields)


def campaign_records() -> list[AccountCluster | PromptFingerprint | IpRange]:
    """One of each kind plus an IPv6 range without a campaign: every code path once."""
    return [cluster(), fingerprint(), ip_range(), ipv6_range()]

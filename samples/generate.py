"""Regenerate every file under samples/ from a fixed seed: ``python samples/generate.py``.

The samples are a small, realistic, entirely SYNTHETIC distillation campaign
seen by two labs. The generator plays each lab's detection pipeline end to
end, through the same code the ``dx`` commands run:

1. lab-private raw inputs (``samples/raw/``): account identifiers (emails in
   the reserved example.* domains, phone numbers from ranges set aside for
   fiction) and the raw prompts of each detected template;
2. ``dx pseudonymise`` turns the accounts into keyed hashes
   (``samples/<lab>/accounts-hashed.csv``), which become cluster members;
3. ``dx fingerprint`` turns each prompt file into a PromptFingerprint record;
4. the detection records are written in every input format
   (``samples/lab-a/detections.json``, ``.jsonl``, one CSV per kind);
5. ``dx convert`` turns them into ``samples/bundle.json`` (Lab A),
   ``samples/lab-b-bundle.json`` and ``samples/updates-bundle.json`` (Lab A's
   next version: updated and withdrawn records).

Addresses and AS numbers come only from documentation space: RFC 5737
(192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24), RFC 3849 (2001:db8::/32)
and RFC 5398 (AS64496-64511, AS65536-65551). The consortium key is a public
demo key derived from a fixed phrase: never use it for real data.

Running the generator twice gives byte-identical files (tests check that the
committed bundle is what ``dx convert`` makes of the committed records).
"""

from __future__ import annotations

import base64
import csv
import hashlib
import io
import json
import random
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from exchange.commands.convert import convert_files
from exchange.commands.fingerprint import (
    RecordSettings,
    build_fingerprint_records,
    read_prompt_groups,
    records_jsonl,
)
from exchange.commands.pseudonymise import ColumnSpec, pseudonymise_csv
from exchange.id_secret import id_secret_json
from exchange.privacy import ConsortiumKey, key_to_json
from exchange.readers import LAYOUTS, Record
from mappings.producer import Producer
from mappings.records import AccountCluster, IpRange, PromptFingerprint

SAMPLES = Path(__file__).resolve().parent
SEED = 20260415

DEMO_KEY_ID = "demo-consortium-2026"
DEMO_KEY = ConsortiumKey(
    DEMO_KEY_ID, hashlib.sha256(b"distill-exchange public demo consortium key v1").digest()
)
"""Public on purpose: anyone can recompute it, so it protects nothing. Demos only."""


def demo_id_secret(producer_key: str) -> bytes:
    """A sample lab's id secret, from a published phrase: public on purpose, demos only."""
    return hashlib.sha256(
        f"distill-exchange public demo id secret v1 {producer_key}".encode()
    ).digest()


KIND_ORDER = ("account-cluster", "prompt-fingerprint", "ip-range")
CSV_FILES = {
    "account-cluster": "account-clusters.csv",
    "prompt-fingerprint": "prompt-fingerprints.csv",
    "ip-range": "ip-ranges.csv",
}


def ts(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


# --- writing files --------------------------------------------------------------------------


def write_text(relative: str, text: str) -> Path:
    path = SAMPLES / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="")
    return path


def write_bytes(relative: str, data: bytes) -> Path:
    path = SAMPLES / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def csv_text(rows: Iterable[Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerows(rows)
    return buffer.getvalue()


def record_json(record: Record) -> dict[str, Any]:
    return record.model_dump(mode="json", exclude_none=True)


def write_detections(lab: str, records: Sequence[Record], *, formats: Sequence[str]) -> None:
    """The same records as JSON (array), JSON Lines and one CSV file per kind."""
    if "json" in formats:
        items = [record_json(record) for record in records]
        write_text(f"{lab}/detections.json", json.dumps(items, indent=2, sort_keys=True) + "\n")
    if "jsonl" in formats:
        write_bytes(f"{lab}/detections.jsonl", records_jsonl(records))
    if "csv" in formats:
        for kind, name in CSV_FILES.items():
            layout = LAYOUTS[kind]
            rows = [layout.header()]
            rows += [layout.encode_record(record) for record in records if record.kind == kind]
            write_text(f"{lab}/{name}", csv_text(rows))


# --- raw, lab-private inputs ----------------------------------------------------------------

FIRST = [
    "avery",
    "jordan",
    "riley",
    "morgan",
    "casey",
    "quinn",
    "rowan",
    "sasha",
    "emery",
    "kai",
    "harper",
    "devon",
    "marlo",
    "skyler",
    "tatum",
    "reese",
    "lennox",
    "arden",
    "blair",
    "corin",
]
LAST = [
    "lindqvist",
    "okonkwo",
    "ferreira",
    "nakamura",
    "petrov",
    "haddad",
    "moreau",
    "castillo",
    "brennan",
    "ivanova",
    "achterberg",
    "delacroix",
    "kowalczyk",
    "sorensen",
    "valdivia",
]
DOMAINS = ["example.com", "example.net", "example.org", "mail.example.com", "inbox.example.net"]


def synthetic_email(rng: random.Random) -> str:
    name = f"{rng.choice(FIRST)}.{rng.choice(LAST)}{rng.randint(10, 9999)}"
    return f"{name}@{rng.choice(DOMAINS)}"


def synthetic_phone(rng: random.Random) -> str:
    """US 555-01xx and UK 07700 900xxx numbers are reserved for fiction."""
    if rng.random() < 0.5:
        return f"+1 202-555-01{rng.randint(0, 99):02d}"
    return f"+44 7700 900{rng.randint(0, 999):03d}"


def synthetic_device(rng: random.Random) -> str:
    return "".join(rng.choice("0123456789abcdef") for _ in range(32))


@dataclass(frozen=True)
class RawAccount:
    cluster_id: str
    account_id: str
    email: str
    phone: str
    device: str


def make_accounts(
    rng: random.Random, lab: str, clusters: dict[str, int], shared: Sequence[str] = ()
) -> list[RawAccount]:
    """Listed accounts per cluster; ``shared`` emails also appear at the other lab."""
    accounts = []
    shared_left = list(shared)
    for cluster_id, listed in clusters.items():
        device = synthetic_device(rng)  # one device fingerprint shared across the cluster
        for number in range(listed):
            email = shared_left.pop(0) if shared_left else synthetic_email(rng)
            phone = synthetic_phone(rng) if rng.random() < 0.6 else ""
            accounts.append(
                RawAccount(
                    cluster_id,
                    f"{lab}-acct-{rng.randint(100000, 999999)}",
                    email,
                    phone,
                    device if number % 3 == 0 else "",
                )
            )
    return accounts


def write_accounts(relative: str, accounts: Sequence[RawAccount]) -> Path:
    rows: list[Sequence[str]] = [["cluster_id", "account_id", "email", "phone", "device"]]
    rows += [[a.cluster_id, a.account_id, a.email, a.phone, a.device] for a in accounts]
    return write_text(relative, csv_text(rows))


def hashed_members(hashed_csv: Path) -> dict[str, list[dict[str, str]]]:
    """Cluster members (kind + hash) from ``dx pseudonymise`` output, per cluster."""
    columns = {"email_hash": "email", "phone_hash": "phone", "device_hash": "device_fingerprint"}
    members: dict[str, list[dict[str, str]]] = {}
    seen: set[tuple[str, str, str]] = set()
    with hashed_csv.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            for column, kind in columns.items():
                value = row[column]
                if value and (row["cluster_id"], kind, value) not in seen:
                    seen.add((row["cluster_id"], kind, value))
                    members.setdefault(row["cluster_id"], []).append({"kind": kind, "hash": value})
    return members


# --- raw prompts: templated distillation prompts ----------------------------------------------

SUBJECTS = ["algebra", "probability", "organic chemistry", "thermodynamics"]
CITIES = ["Montevideo", "Tromsø", "Ulaanbaatar", "Windhoek", "Paramaribo", "Reykjavík"]
REASONING_SUFFIXES = [
    "",
    " Double-check every calculation before answering.",
    " Keep the explanation under 200 words.",
    " Think carefully.",
]


def _courier_problem(rng: random.Random) -> str:
    return (
        f'A courier leaves "{rng.choice(CITIES)}" at {rng.randint(6, 11)}:{rng.randint(10, 59)} '
        f"driving {rng.randint(40, 120)} km/h; a second leaves {rng.randint(20, 90)} minutes "
        f"later at {rng.randint(50, 130)} km/h. When does the second overtake the first?"
    )


def _quadrilateral_problem(rng: random.Random) -> str:
    sides = [rng.randint(3, 19) for _ in range(4)]
    return (
        f"A quadrilateral has sides {sides[0]}, {sides[1]}, {sides[2]} and {sides[3]} "
        "centimetres. What is its largest possible area?"
    )


def _urn_problem(rng: random.Random) -> str:
    return (
        f"An urn holds {rng.randint(3, 12)} crimson and {rng.randint(3, 12)} turquoise "
        f"marbles. Drawing {rng.randint(2, 4)} without replacement, what is the probability "
        "all match?"
    )


def step_by_step_prompt(rng: random.Random) -> str:
    # Most campaign prompts share one problem scaffold; a few use others.
    (make_problem,) = rng.choices(
        [_courier_problem, _quadrilateral_problem, _urn_problem], weights=[0.7, 0.15, 0.15]
    )
    return (
        f"You are an expert {rng.choice(SUBJECTS)} tutor. Solve the following problem step "
        "by step, explaining every intermediate result before giving the final answer. "
        f"Problem: {make_problem(rng)} Format your reply as 'Reasoning:' followed by "
        f"'Final answer:'.{rng.choice(REASONING_SUFFIXES)}"
    )


QUESTIONS = [
    "Why does ice float on water?",
    "Explain how a Merkle tree detects tampering.",
    "What causes the seasons on Earth?",
    "How does a bloom filter trade memory for error?",
    "Why do hummingbirds hover?",
]
ANSWERS = [
    "Because the lattice is less dense than the liquid.",
    "Each parent hashes its children, so any change alters the root.",
    "The axial tilt changes the angle of sunlight over the year.",
    "It sets several bits per item and tolerates false positives.",
    "They rotate their wings in a figure-eight stroke.",
]


def rubric_prompt(rng: random.Random) -> str:
    scale = rng.choice([5, 7, 10])
    return (
        f'Grade the following answer to the question "{rng.choice(QUESTIONS)}" on a scale from 1 '
        f"to {scale} using this rubric: correctness, completeness, clarity and concision. Justify "
        "each criterion in exactly two sentences, then output a JSON object with the keys "
        f'"scores" and "overall". Answer to grade: "{rng.choice(ANSWERS)}"'
        + rng.choice(["", " Be a strict grader.", " Penalise hallucinated citations."])
    )


LANGUAGES = ["Python", "TypeScript", "Rust", "Go"]
TASKS = [
    "add pagination to the `list_invoices` endpoint",
    "fix the flaky test `test_retry_backoff`",
    "replace the hand-written CSV parser in `ingest/loader`",
    "add a `--dry-run` flag to the deploy script",
    "make `cache.get` thread-safe",
]


def agentic_coding_prompt(rng: random.Random) -> str:
    return (
        f"Act as a senior {rng.choice(LANGUAGES)} engineer working inside a repository checkout. "
        f"Task: {rng.choice(TASKS)}. First write a numbered plan, then show every tool call you "
        "would make (read_file, search_code, run_tests, apply_patch) with its exact arguments "
        "and the observed output, and finish with the complete unified diff."
        + rng.choice(["", " Do not skip any tool call.", " Narrate your reasoning between calls."])
    )


TOOLS = [
    '{"name": "get_weather", "parameters": {"city": "string"}}',
    '{"name": "convert_currency", "parameters": {"amount": "number", "to": "string"}}',
    '{"name": "lookup_flight", "parameters": {"flight_no": "string"}}',
]


def tool_schema_prompt(rng: random.Random) -> str:
    tools = ", ".join(rng.sample(TOOLS, 2))
    return (
        f"You have access to these tools: [{tools}]. Answer the user's request by emitting "
        "each tool call as JSON on its own line, then the tool result, then your final reply. "
        f"User request: what is {rng.randint(20, 900)} euros in yen, and will it rain in "
        f'"{rng.choice(CITIES)}" tomorrow? Show the full transcript.'
    )


def write_prompts(
    relative: str, make: Callable[[random.Random], str], count: int, rng: random.Random
) -> Path:
    return write_text(relative, "".join(make(rng) + "\n" for _ in range(count)))


# --- records ----------------------------------------------------------------------------------


def fingerprint_record(
    prompt_file: Path, fingerprint_id: str, **settings: Any
) -> PromptFingerprint:
    """What ``dx fingerprint PROMPT_FILE --id ID ...`` writes for one template."""
    groups = read_prompt_groups(prompt_file)
    record_settings = RecordSettings(id_prefix=fingerprint_id, **settings)
    (record,) = build_fingerprint_records(groups, record_settings, DEMO_KEY, str(prompt_file))
    return record


def hashing() -> dict[str, str]:
    return {"algorithm": "hmac-sha256", "key_id": DEMO_KEY_ID, "normalization": "n1"}


def cluster(**fields: Any) -> AccountCluster:
    return AccountCluster.model_validate(
        {"kind": "account-cluster", "hashing": hashing(), **fields}
    )


def ip_range(**fields: Any) -> IpRange:
    return IpRange.model_validate({"kind": "ip-range", **fields})


def lab_a_records(rng: random.Random, shared_emails: Sequence[str]) -> list[Record]:
    accounts = make_accounts(
        rng, "lab-a", {"lab-a-cl-0001": 9, "lab-a-cl-0002": 7, "lab-a-cl-0003": 5}, shared_emails
    )
    raw_accounts = write_accounts("raw/lab-a-accounts.csv", accounts)
    members = pseudonymised_members(raw_accounts, "lab-a/accounts-hashed.csv")

    prompts = {
        "step-by-step": write_prompts(
            "raw/prompts/lab-a-step-by-step.txt", step_by_step_prompt, 60, rng
        ),
        "rubric": write_prompts("raw/prompts/lab-a-rubric-grading.txt", rubric_prompt, 45, rng),
        "coding": write_prompts(
            "raw/prompts/lab-a-agentic-coding.txt", agentic_coding_prompt, 40, rng
        ),
    }
    updated = ts("2026-04-28T09:00:00Z")
    campaign = "lab-a-campaign-quarry"
    common = {"updated": updated, "campaign": campaign, "tlp": "amber"}
    fingerprints = [
        fingerprint_record(
            prompts["step-by-step"],
            "lab-a-fp-stepwise",
            scope="user_prefix",
            confidence=85,
            benign_fp_rate=0.004,
            distinct_accounts=388,
            first_seen=ts("2026-04-03T06:12:00Z"),
            last_seen=ts("2026-04-27T22:40:00Z"),
            elicitation_features=("step_by_step_reasoning", "answer_only_format"),
            **common,
        ),
        fingerprint_record(
            prompts["rubric"],
            "lab-a-fp-rubric",
            scope="full_prompt",
            confidence=80,
            benign_fp_rate=0.011,
            distinct_accounts=142,
            first_seen=ts("2026-04-05T11:00:00Z"),
            last_seen=ts("2026-04-26T18:05:00Z"),
            elicitation_features=("rubric_grading", "self_critique"),
            **common,
        ),
        fingerprint_record(
            prompts["coding"],
            "lab-a-fp-agentic",
            scope="system_prompt",
            confidence=70,
            benign_fp_rate=0.02,
            distinct_accounts=96,
            first_seen=ts("2026-04-09T02:30:00Z"),
            last_seen=ts("2026-04-27T08:45:00Z"),
            elicitation_features=("tool_call_transcript", "code_generation_scaffold"),
            **common,
        ),
    ]
    life = {"updated": updated, "campaign": campaign}
    ranges = [
        ip_range(
            cidr="198.51.100.0/26",
            asn=64501,
            as_name="EXAMPLE-RESIDENTIAL-PROXY",
            provider_type="residential_proxy",
            traffic_share=0.31,
            benign_accounts_seen=3,
            recommended_action="block",
            confidence=90,
            tlp="green",
            first_seen=ts("2026-04-03T06:00:00Z"),
            last_seen=ts("2026-04-27T23:00:00Z"),
            **life,
        ),
        ip_range(
            cidr="198.51.100.64/26",
            asn=64502,
            as_name="EXAMPLE-MOBILE-GATEWAY",
            provider_type="mobile_proxy",
            traffic_share=0.12,
            benign_accounts_seen=14,
            recommended_action="rate_limit",
            confidence=60,
            tlp="green",
            first_seen=ts("2026-04-04T00:00:00Z"),
            last_seen=ts("2026-04-26T00:00:00Z"),
            **life,
        ),
        ip_range(
            cidr="203.0.113.0/25",
            asn=64510,
            as_name="EXAMPLE-HOSTING-EU",
            provider_type="hosting",
            traffic_share=0.22,
            benign_accounts_seen=0,
            recommended_action="block",
            confidence=85,
            tlp="amber",
            first_seen=ts("2026-04-06T00:00:00Z"),
            last_seen=ts("2026-04-27T00:00:00Z"),
            **life,
        ),
        ip_range(
            cidr="2001:db8:a00::/40",
            asn=65537,
            as_name="EXAMPLE-V6-RESIDENTIAL",
            provider_type="residential_proxy",
            traffic_share=0.18,
            benign_accounts_seen=5,
            recommended_action="step_up",
            confidence=75,
            tlp="amber",
            first_seen=ts("2026-04-08T00:00:00Z"),
            last_seen=ts("2026-04-27T00:00:00Z"),
            **life,
        ),
        ip_range(
            cidr="2001:db8:4400::/48",
            asn=65550,
            as_name="EXAMPLE-VPN-SERVICE",
            provider_type="vpn",
            traffic_share=0.09,
            benign_accounts_seen=21,
            recommended_action="monitor",
            confidence=55,
            tlp="amber",
            first_seen=ts("2026-04-10T00:00:00Z"),
            last_seen=ts("2026-04-25T00:00:00Z"),
            valid_until=ts("2026-05-12T00:00:00Z"),
            **life,
        ),
    ]
    clusters = [
        cluster(
            cluster_id="lab-a-cl-0001",
            member_count=412,
            members=members["lab-a-cl-0001"],
            linking_signals=[
                {"signal": "shared_payment_instrument", "count": 37},
                {"signal": "signup_burst", "count": 5},
                {"signal": "templated_prompts", "count": 388},
            ],
            volume={
                "requests": 1_840_000,
                "tokens": 2_310_000_000,
                "window_start": "2026-04-03T00:00:00Z",
                "window_end": "2026-04-27T23:59:59Z",
                "peak_requests_per_account_per_minute": 41.5,
            },
            targeted_capabilities=["reasoning_traces", "math"],
            enforcement="rate_limited",
            prompt_fingerprint_refs=["lab-a-fp-stepwise", "lab-a-fp-rubric"],
            ip_range_refs=["198.51.100.0/26", "2001:db8:a00::/40"],
            confidence=88,
            first_seen=ts("2026-04-03T06:12:00Z"),
            last_seen=ts("2026-04-27T22:40:00Z"),
            tlp="amber",
            **life,
        ),
        cluster(
            cluster_id="lab-a-cl-0002",
            member_count=157,
            members=members["lab-a-cl-0002"],
            linking_signals=[
                {"signal": "shared_device_fingerprint", "count": 61},
                {"signal": "synchronized_request_timing", "count": 12},
                {"signal": "shared_proxy_infrastructure", "count": 157},
            ],
            volume={
                "requests": 602_000,
                "tokens": 1_120_000_000,
                "window_start": "2026-04-09T00:00:00Z",
                "window_end": "2026-04-27T23:59:59Z",
                "peak_requests_per_account_per_minute": 28.0,
            },
            targeted_capabilities=["agentic_coding", "tool_use", "code_generation"],
            enforcement="step_up",
            prompt_fingerprint_refs=["lab-a-fp-agentic"],
            ip_range_refs=["203.0.113.0/25", "198.51.100.64/26"],
            confidence=76,
            first_seen=ts("2026-04-09T02:30:00Z"),
            last_seen=ts("2026-04-27T08:45:00Z"),
            tlp="amber",
            **life,
        ),
        cluster(
            cluster_id="lab-a-cl-0003",
            member_count=48,
            members=members["lab-a-cl-0003"],
            linking_signals=[
                {"signal": "shared_org_domain", "count": 48},
                {"signal": "signup_burst", "count": 2},
            ],
            volume={
                "requests": 95_500,
                "tokens": 143_000_000,
                "window_start": "2026-04-12T00:00:00Z",
                "window_end": "2026-04-25T23:59:59Z",
                "peak_requests_per_account_per_minute": 12.25,
            },
            targeted_capabilities=["reasoning_traces"],
            enforcement="monitored",
            prompt_fingerprint_refs=["lab-a-fp-rubric"],
            ip_range_refs=["2001:db8:4400::/48"],
            confidence=55,
            first_seen=ts("2026-04-12T10:00:00Z"),
            last_seen=ts("2026-04-25T19:30:00Z"),
            tlp="amber+strict",
            **life,
        ),
    ]
    return [*clusters, *fingerprints, *ranges]


def lab_a_updates(records: Sequence[Record]) -> list[Record]:
    """Lab A's next version: one cluster grew and got banned, one range and one cluster
    turned out to be false positives and are withdrawn. first_seen never moves."""
    by_key = {getattr(r, "cluster_id", None) or getattr(r, "cidr", None): r for r in records}
    updated = ts("2026-05-06T10:00:00Z")
    grown = by_key["lab-a-cl-0001"].model_copy(
        update={
            "member_count": 530,
            "enforcement": "banned",
            "confidence": 95,
            "last_seen": ts("2026-05-05T21:00:00Z"),
            "updated": updated,
        }
    )
    withdrawn_range = by_key["198.51.100.64/26"].model_copy(
        update={"withdrawn": True, "updated": updated}
    )
    withdrawn_cluster = by_key["lab-a-cl-0003"].model_copy(
        update={"withdrawn": True, "updated": updated}
    )
    # model_copy skips validation: validate the results like any input.
    return [
        type(r).model_validate(r.model_dump()) for r in (grown, withdrawn_cluster, withdrawn_range)
    ]


def lab_b_records(rng: random.Random, shared_emails: Sequence[str]) -> list[Record]:
    accounts = make_accounts(
        rng, "lab-b", {"lab-b-cluster-17": 8, "lab-b-cluster-18": 6}, shared_emails
    )
    raw_accounts = write_accounts("raw/lab-b-accounts.csv", accounts)
    members = pseudonymised_members(raw_accounts, "lab-b/accounts-hashed.csv")
    prompts = {
        "step-by-step": write_prompts(
            "raw/prompts/lab-b-step-by-step.txt", step_by_step_prompt, 50, rng
        ),
        "tools": write_prompts("raw/prompts/lab-b-tool-schema.txt", tool_schema_prompt, 35, rng),
    }
    updated = ts("2026-04-30T15:30:00Z")
    campaign = "lab-b-op-harvest"
    common = {"updated": updated, "campaign": campaign, "tlp": "green"}
    fingerprints = [
        fingerprint_record(
            prompts["step-by-step"],
            "lab-b-tmpl-reasoning-01",
            scope="user_prefix",
            confidence=82,
            benign_fp_rate=0.006,
            distinct_accounts=230,
            first_seen=ts("2026-04-07T00:00:00Z"),
            last_seen=ts("2026-04-29T00:00:00Z"),
            elicitation_features=("step_by_step_reasoning",),
            **common,
        ),
        fingerprint_record(
            prompts["tools"],
            "lab-b-tmpl-tools-02",
            scope="tool_schema",
            confidence=74,
            benign_fp_rate=0.015,
            distinct_accounts=77,
            first_seen=ts("2026-04-11T00:00:00Z"),
            last_seen=ts("2026-04-29T00:00:00Z"),
            elicitation_features=("tool_call_transcript",),
            **common,
        ),
    ]
    life = {"updated": updated, "campaign": campaign, "tlp": "green"}
    ranges = [
        ip_range(
            cidr="198.51.100.64/26",
            asn=64502,
            as_name="EXAMPLE-MOBILE-GATEWAY",
            provider_type="mobile_proxy",
            traffic_share=0.27,
            benign_accounts_seen=9,
            recommended_action="rate_limit",
            confidence=65,
            first_seen=ts("2026-04-07T00:00:00Z"),
            last_seen=ts("2026-04-29T00:00:00Z"),
            **life,
        ),
        ip_range(
            cidr="192.0.2.0/26",
            asn=64505,
            as_name="EXAMPLE-PRIVACY-RELAY",
            provider_type="relay",
            traffic_share=0.08,
            benign_accounts_seen=40,
            recommended_action="monitor",
            confidence=50,
            first_seen=ts("2026-04-10T00:00:00Z"),
            last_seen=ts("2026-04-28T00:00:00Z"),
            **life,
        ),
        ip_range(
            cidr="2001:db8:b000::/36",
            asn=65540,
            as_name="EXAMPLE-CLOUD-V6",
            provider_type="hosting",
            traffic_share=0.35,
            benign_accounts_seen=1,
            recommended_action="block",
            confidence=88,
            first_seen=ts("2026-04-07T00:00:00Z"),
            last_seen=ts("2026-04-29T00:00:00Z"),
            **life,
        ),
    ]
    clusters = [
        cluster(
            cluster_id="lab-b-cluster-17",
            member_count=230,
            members=members["lab-b-cluster-17"],
            linking_signals=[
                {"signal": "shared_payment_instrument", "count": 19},
                {"signal": "templated_prompts", "count": 230},
            ],
            volume={
                "requests": 910_000,
                "tokens": 1_050_000_000,
                "window_start": "2026-04-07T00:00:00Z",
                "window_end": "2026-04-29T23:59:59Z",
                "peak_requests_per_account_per_minute": 37.0,
            },
            targeted_capabilities=["reasoning_traces", "math"],
            enforcement="banned",
            prompt_fingerprint_refs=["lab-b-tmpl-reasoning-01"],
            ip_range_refs=["198.51.100.64/26", "2001:db8:b000::/36"],
            confidence=90,
            first_seen=ts("2026-04-07T00:00:00Z"),
            last_seen=ts("2026-04-29T00:00:00Z"),
            **life,
        ),
        cluster(
            cluster_id="lab-b-cluster-18",
            member_count=77,
            members=members["lab-b-cluster-18"],
            linking_signals=[{"signal": "synchronized_request_timing", "count": 77}],
            volume={
                "requests": 210_000,
                "tokens": 260_000_000,
                "window_start": "2026-04-11T00:00:00Z",
                "window_end": "2026-04-29T23:59:59Z",
                "peak_requests_per_account_per_minute": 19.5,
            },
            targeted_capabilities=["tool_use"],
            enforcement="rate_limited",
            prompt_fingerprint_refs=["lab-b-tmpl-tools-02"],
            ip_range_refs=["192.0.2.0/26"],
            confidence=72,
            first_seen=ts("2026-04-11T00:00:00Z"),
            last_seen=ts("2026-04-29T00:00:00Z"),
            **life,
        ),
    ]
    return [*clusters, *fingerprints, *ranges]


def pseudonymised_members(raw_accounts: Path, hashed: str) -> dict[str, list[dict[str, str]]]:
    """``dx pseudonymise RAW --column email:email --column phone:phone
    --column device:device_fingerprint --keep cluster_id -o HASHED``."""
    target = SAMPLES / hashed
    target.parent.mkdir(parents=True, exist_ok=True)
    pseudonymise_csv(
        raw_accounts,
        str(target),
        [
            ColumnSpec("email", "email"),
            ColumnSpec("phone", "phone"),
            ColumnSpec("device", "device_fingerprint"),
        ],
        ["cluster_id"],
        DEMO_KEY,
    )
    return hashed_members(target)


# --- static files -----------------------------------------------------------------------------

RAW_README = """\
# samples/raw: SYNTHETIC lab-private inputs

Everything in this directory is made up by `samples/generate.py` and stands
for data that, at a real lab, NEVER leaves the lab:

* `lab-a-accounts.csv`, `lab-b-accounts.csv`: raw account identifiers
  (emails in the reserved example.com/.net/.org domains, phone numbers from
  the ranges reserved for fiction: +1 202-555-01xx, +44 7700 900xxx);
* `prompts/*.txt`: the raw prompts of each detected template, one per line.

`dx pseudonymise` and `dx fingerprint` turn them into keyed hashes and keyed
fingerprints; only those reach `samples/lab-*/` and the bundles. The test
suite searches every output for every raw value here and fails if one appears.
"""

KEYS_README = """\
# samples/keys: PUBLIC demo key, for demos and tests only

`demo-consortium-key.json` is the consortium key the samples are hashed and
fingerprinted with. It is derived from a published phrase (see
`samples/generate.py`), so anyone can recompute it: it protects nothing.
A real consortium generates its key with

    python3 -c "from exchange.privacy import generate_key, save_key; \\
    save_key(generate_key('consortium-2026'), 'consortium-key.json')"

and shares it between member labs out of band, never in a repository.

`demo-lab-a-id-secret.json` and `demo-lab-b-id-secret.json` are the sample
labs' id secrets (the ids of the objects each lab authors are derived from
its own; see docs/stix-mapping.md, "Identifiers"). They are derived from
published phrases too, so anyone can compute the sample labs' ids: demo only.
A real lab creates its own, keeps it private (never shared, not even with
partners: unlike the consortium key) and backs it up:

    python3 -m exchange.id_secret lab-a.example secrets/lab-a-id-secret.json
"""

SHARED_NETWORKS = """\
# Known-shared networks: ranges where many unrelated people share addresses.
# `dx convert --shared-networks samples/shared-networks.txt` refuses to publish
# an IP range overlapping one of these (unless --allow-shared).
# One CIDR per line; a comment after it is its label. This sample list uses
# the real CGNAT block and documentation ranges standing in for the rest.
100.64.0.0/10        # carrier-grade NAT (RFC 6598 shared address space)
192.0.2.128/25       # example university campus (documentation range, RFC 5737)
203.0.113.128/25     # example privacy relay egress (documentation range, RFC 5737)
2001:db8:ffff::/48   # example university IPv6 (documentation range, RFC 3849)
"""


def producer_toml(lab: str, key: str, name: str) -> str:
    return (
        "# Who publishes: `dx convert --producer-config` reads the [producer] table.\n"
        "# The id secret is the PUBLIC demo one (samples/keys/README.md): a real lab's\n"
        "# is its own, private file.\n"
        f'[producer]\nkey = "{key}"\nname = "{name}"\n'
        f'id_secret_file = "../keys/demo-{lab}-id-secret.json"\n'
    )


PRODUCERS = {
    "lab-a": Producer(key="lab-a.example", name="Lab A", id_secret=demo_id_secret("lab-a.example")),
    "lab-b": Producer(key="lab-b.example", name="Lab B", id_secret=demo_id_secret("lab-b.example")),
}


def convert_to(target: str, files: Sequence[str], producer: Producer) -> None:
    """``dx convert FILES --producer-config ... --shared-networks ... --pretty -o TARGET``."""
    bundle, _ = convert_files(
        [SAMPLES / name for name in files],
        producer,
        shared_networks=SAMPLES / "shared-networks.txt",
        pretty=True,
    )
    write_bytes(target, bundle.data)


def main() -> None:
    rng = random.Random(SEED)
    key_payload = json.loads(key_to_json(DEMO_KEY))
    assert base64.b64decode(key_payload["secret_b64"]) == DEMO_KEY.secret
    write_text("keys/demo-consortium-key.json", key_to_json(DEMO_KEY))
    write_text("keys/README.md", KEYS_README)
    write_text("raw/README.md", RAW_README)
    write_text("shared-networks.txt", SHARED_NETWORKS)
    for lab, producer in PRODUCERS.items():
        assert producer.id_secret is not None
        write_text(f"{lab}/producer.toml", producer_toml(lab, producer.key, producer.name))
        write_text(
            f"keys/demo-{lab}-id-secret.json", id_secret_json(producer.key, producer.id_secret)
        )

    # Accounts seen by both labs, written differently (case, +tag): same hash after n1.
    shared_a = [
        "Rowan.Petrov77@example.com",
        "kai.moreau1203@example.net",
        "sasha.haddad48@example.org",
    ]
    shared_b = [
        "rowan.petrov77@EXAMPLE.com",
        "kai.moreau1203@example.net",
        "sasha.haddad48+signup@example.org",
    ]
    lab_a = lab_a_records(rng, shared_a)
    lab_b = lab_b_records(rng, shared_b)
    write_detections("lab-a", lab_a, formats=("json", "jsonl", "csv"))
    write_detections("lab-b", lab_b, formats=("jsonl",))
    write_bytes("lab-a/updates.jsonl", records_jsonl(lab_a_updates(lab_a)))

    convert_to("bundle.json", ["lab-a/detections.jsonl"], PRODUCERS["lab-a"])
    convert_to("lab-b-bundle.json", ["lab-b/detections.jsonl"], PRODUCERS["lab-b"])
    convert_to("updates-bundle.json", ["lab-a/updates.jsonl"], PRODUCERS["lab-a"])
    print(f"samples regenerated under {SAMPLES}", file=sys.stderr)


if __name__ == "__main__":
    main()

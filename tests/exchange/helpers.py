"""Small valid detection records and a way to run ``dx`` as a user does."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SAMPLES = REPO / "samples"
DEMO_KEY_FILE = SAMPLES / "keys" / "demo-consortium-key.json"
HASH_A = "a" * 64
HASH_B = "0123456789abcdef" * 4

_LIFE = {
    "updated": "2026-05-01T00:00:00Z",
    "first_seen": "2026-04-01T00:00:00Z",
    "last_seen": "2026-04-30T00:00:00Z",
    "confidence": 80,
}


def ip_range(**changes: Any) -> dict[str, Any]:
    record = {
        "kind": "ip-range",
        "cidr": "198.51.100.0/24",
        "asn": 64500,
        "as_name": "EXAMPLE-NET",
        "provider_type": "residential_proxy",
        "traffic_share": 0.25,
        "benign_accounts_seen": 2,
        "recommended_action": "block",
        **_LIFE,
    }
    record.update(changes)
    return record


def cluster(**changes: Any) -> dict[str, Any]:
    record = {
        "kind": "account-cluster",
        "cluster_id": "cl-1",
        "member_count": 10,
        "members": [{"kind": "email", "hash": HASH_A}, {"kind": "phone", "hash": HASH_B}],
        "hashing": {"algorithm": "hmac-sha256", "key_id": "test-key", "normalization": "n1"},
        "linking_signals": [{"signal": "signup_burst", "count": 3}],
        "volume": {
            "requests": 1000,
            "tokens": 50000,
            "window_start": "2026-04-01T00:00:00Z",
            "window_end": "2026-04-30T00:00:00Z",
            "peak_requests_per_account_per_minute": 12.5,
        },
        "targeted_capabilities": ["reasoning_traces", "math"],
        "enforcement": "banned",
        "prompt_fingerprint_refs": ["fp-1"],
        "ip_range_refs": ["198.51.100.0/24"],
        **_LIFE,
    }
    record.update(changes)
    return record


def fingerprint(**changes: Any) -> dict[str, Any]:
    record = {
        "kind": "prompt-fingerprint",
        "fingerprint_id": "fp-1",
        "scope": "user_prefix",
        "normalization": "p1",
        "fingerprints": [
            {
                "algorithm": "hmac-sha256-template",
                "key_id": "test-key",
                "value": HASH_B,
                "parameters": {"key_id": "test-key", "normalization": "p1"},
                "match_rule": {"metric": "equal"},
            }
        ],
        "sample_count": 40,
        "distinct_accounts": 12,
        "elicitation_features": ["step_by_step_reasoning"],
        "benign_fp_rate": 0.01,
        **_LIFE,
    }
    record.update(changes)
    return record


def valid_batch() -> list[dict[str, Any]]:
    return [cluster(), fingerprint(), ip_range()]


def with_path(record: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A deep copy of ``record`` with the dotted ``path`` set to ``value``."""
    result = copy.deepcopy(record)
    target = result
    *parents, last = path.split(".")
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return result


def write_json_array(path: Path, records: list[dict[str, Any]]) -> Path:
    """One record per line inside ``[...]``: record i starts on line i + 2."""
    body = ",\n".join(json.dumps(record) for record in records)
    path.write_text("[\n" + body + "\n]\n", encoding="utf-8")
    return path


def write_jsonl(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def dx_executable() -> str:
    """The installed ``dx`` console script of this interpreter's environment."""
    beside = Path(sys.executable).with_name("dx")
    if beside.exists():
        return str(beside)
    found = shutil.which("dx")
    assert found, "the dx console script is not installed: pip install -e '.[dev]'"
    return found


def run_dx(
    *args: str | Path,
    cwd: Path | None = None,
    stdin: bytes | None = None,
    env: dict[str, str] | None = None,
) -> subprocess.CompletedProcess[bytes]:
    """Run ``dx ARGS`` in a subprocess, as a user would; bounded by a timeout."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [dx_executable(), *map(str, args)],
        cwd=cwd or REPO,
        input=stdin,
        capture_output=True,
        timeout=120,
        env=full_env,
        check=False,
    )

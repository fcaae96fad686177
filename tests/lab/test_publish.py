"""`dx publish` against a real exchange: envelope sizes, refusals, crashes and faults.

The server is real (gunicorn over SQLite, configured with its own admin
commands); what it holds afterwards is read back through TAXII with
taxii2-client. Faults come from a small proxy on 127.0.0.1 in front of it.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import orjson
import pytest
from taxii2client.v21 import Collection, as_pages

from exchange.publish import load_batch, serialise
from tests.lab.faults import FaultyProxy, Stall, status_fault
from tests.lab.records import ranges, write_jsonl
from tests.support.exchange import (
    FAST_RETRIES,
    PRODUCERS,
    REPO,
    SAMPLES,
    Exchange,
    Lab,
    free_port,
    human_lines,
    log_events,
)

LAB_A_DETECTIONS = SAMPLES / "lab-a" / "detections.jsonl"
SMALL_LIMIT = 16_384
QUICK = ("--no-validate", *FAST_RETRIES)  # validation is not what these tests are about


def server_versions(exchange: Exchange, collection_id: str, root: str = "exchange") -> list:
    """Every (id, version) the collection holds, read as lab-a through taxii2-client."""
    collection = Collection(
        f"{exchange.url}/{root}/collections/{collection_id}/",
        user="lab-a",
        password=exchange.keys["lab-a"],
    )
    found = []
    for page in as_pages(collection.get_manifest, per_request=1000, version="all"):
        found += [(entry["id"], entry["version"]) for entry in page.get("objects", [])]
    return found


def expected_versions(objects: list[dict]) -> set[tuple[str, str]]:
    """The versions the server assigns: modified, else created, else its fixed SCO version."""
    result = set()
    for obj in objects:
        version = serialise(obj).version or "1970-01-01T00:00:00.000Z"
        result.add((obj["id"], version))
    return result


def fresh_lab(exchange: Exchange, name: str, **server: object) -> tuple[Lab, str]:
    collection_id = exchange.add_collection(name, name)
    return exchange.lab(name, "lab-a", collections=[collection_id], **server), collection_id


def publish(lab: Lab, *args: str, check: bool = True):
    done = lab.dx("publish", *args, "--json", check=check)
    assert "Traceback" not in done.stderr
    return done, (json.loads(done.stdout) if done.stdout.strip() else None)


def add_small_api_root(exchange: Exchange, tmp_path: Path) -> str:
    """A second API root with a small max_content_length, via a medallion data file."""
    collection_id = str(uuid.uuid4())
    document = {
        "small": {
            "information": {"title": "Small requests", "max_content_length": SMALL_LIMIT},
            "collections": [{"id": collection_id, "title": "small", "alias": "small"}],
        }
    }
    data = tmp_path / "small-root.json"
    data.write_text(json.dumps(document), encoding="utf-8")
    exchange.admin(
        ["import-medallion", str(data)],
        ["grant", "lab-a", collection_id, "--api-root", "small", "--read", "--write"],
    )
    return collection_id


def oversized_bundle(path: Path, size: int) -> dict:
    """A bundle holding one valid lab-a indicator whose description alone is ``size`` bytes."""
    lab_a = PRODUCERS["lab-a"]
    indicator = {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.uuid5(uuid.NAMESPACE_URL, 'oversized')}",
        "created_by_ref": lab_a.identity_id,
        "created": "2026-05-01T00:00:00.000Z",
        "modified": "2026-05-01T00:00:00.000Z",
        "name": "An indicator with a very long description",
        "description": "x" * size,
        "indicator_types": ["malicious-activity"],
        "pattern": "[ipv4-addr:value = '198.51.100.1']",
        "pattern_type": "stix",
        "pattern_version": "2.1",
        "valid_from": "2026-05-01T00:00:00.000Z",
    }
    bundle = {
        "type": "bundle",
        "id": f"bundle--{uuid.uuid4()}",
        "objects": [lab_a.identity_object(), indicator],
    }
    path.write_bytes(orjson.dumps(bundle))
    return indicator


def test_envelopes_fit_max_content_length_and_oversized_objects_are_refused(
    exchange: Exchange, tmp_path: Path
) -> None:
    collection_id = add_small_api_root(exchange, tmp_path)
    lab = exchange.lab(
        "small", "lab-a", api_root=f"{exchange.url}/small/", collections=[collection_id]
    )
    big = oversized_bundle(tmp_path / "big.json", SMALL_LIMIT)
    done, summary = publish(lab, str(LAB_A_DETECTIONS), str(tmp_path / "big.json"), check=False)
    assert done.returncode == 1
    envelopes = log_events(done.stderr, "envelope")
    assert len(envelopes) > 5
    assert all(event["bytes"] <= SMALL_LIMIT for event in envelopes)
    assert max(event["bytes"] for event in envelopes) > SMALL_LIMIT * 0.8  # packed, not sliced thin
    assert [refusal["id"] for refusal in summary["refused"]] == [big["id"]]
    assert "max_content_length of 16384 bytes" in summary["refused"][0]["reason"]
    lines = human_lines(done.stderr)
    assert lines[-1].startswith(f"dx publish: refused: {big['id']}")
    batch = load_batch([LAB_A_DETECTIONS], PRODUCERS["lab-a"], validate=False)
    assert summary["accepted"] == summary["sent"] == len(batch.objects)
    stored = server_versions(exchange, collection_id, root="small")
    assert len(stored) == len(set(stored))
    assert set(stored) == expected_versions(batch.objects)


def test_objects_the_server_refuses_are_listed_with_its_reason(
    exchange: Exchange, tmp_path: Path
) -> None:
    lab, collection_id = fresh_lab(exchange, "forged")
    lab_b_bundle = SAMPLES / "lab-b-bundle.json"
    objects = orjson.loads(lab_b_bundle.read_bytes())["objects"]
    forged = {o["id"] for o in objects if o.get("created_by_ref") == PRODUCERS["lab-b"].identity_id}
    done, summary = publish(lab, str(lab_b_bundle), check=False)
    assert done.returncode == 1
    assert {refusal["id"] for refusal in summary["refused"]} == forged
    assert all("is not your identity" in refusal["reason"] for refusal in summary["refused"])
    refused_lines = [line for line in human_lines(done.stderr) if " refused: " in line]
    assert len(refused_lines) == len(forged)
    assert summary["accepted"] + len(forged) == summary["sent"] == len(objects)
    stored = {stix_id for stix_id, _ in server_versions(exchange, collection_id)}
    assert not stored & forged and len(stored) == len(objects) - len(forged)


def test_bad_input_is_one_line_per_problem_and_nothing_is_sent(
    exchange: Exchange, tmp_path: Path
) -> None:
    lab, collection_id = fresh_lab(exchange, "bad-input")
    records = [json.loads(line) for line in LAB_A_DETECTIONS.read_text().splitlines()]
    records[2]["confidence"] = 101
    bad = tmp_path / "bad.jsonl"
    bad.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    good = write_jsonl(tmp_path / "good.jsonl", ranges(3))
    done, _ = publish(lab, str(good), str(bad), check=False)
    assert done.returncode == 1
    assert human_lines(done.stderr) == [
        f"{bad}:3: confidence: Input should be less than or equal to 100"
    ]
    assert server_versions(exchange, collection_id) == []

    missing = str(uuid.uuid4())
    done, _ = publish(lab, str(LAB_A_DETECTIONS), "--collection", missing, check=False)
    assert done.returncode == 1
    [line] = human_lines(done.stderr)
    assert line.startswith("dx publish: error: collection ") and missing in line


def test_read_only_partner_is_refused_before_sending(exchange: Exchange) -> None:
    collection_id = str(uuid.uuid4())
    exchange.admin(
        ["add-collection", "--id", collection_id, "--title", "read only"],
        ["grant", "lab-b", collection_id, "--read"],
    )
    lab = exchange.lab("read-only", "lab-b", collections=[collection_id])
    done = lab.dx("publish", str(SAMPLES / "lab-b-bundle.json"), check=False)
    assert done.returncode == 1
    assert human_lines(done.stderr) == [
        f"dx publish: error: collection {collection_id}: partner lab-b may read it but not "
        "publish to it (no write grant)"
    ]


@pytest.mark.slow
def test_publisher_killed_mid_run_and_restarted_stores_every_object_once(
    exchange: Exchange, tmp_path: Path
) -> None:
    lab, collection_id = fresh_lab(exchange, "crash")
    detections = write_jsonl(tmp_path / "ranges.jsonl", ranges(400))
    objects = load_batch([detections], PRODUCERS["lab-a"], validate=False).objects
    command = [
        sys.executable, "-m", "exchange.commands.publish", str(detections),
        "--config", str(lab.config), "--no-validate", "--max-objects", "40",
    ]  # fmt: skip
    rng = random.Random(20260507)
    kills = 0
    for _ in range(3):
        wanted = rng.randint(2, 12)
        process = subprocess.Popen(
            command, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
        )
        assert process.stderr is not None
        envelopes = 0
        deadline = time.monotonic() + 60
        for line in process.stderr:
            envelopes += '"event":"envelope"' in line
            if envelopes >= wanted or time.monotonic() > deadline:
                break
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        process.stderr.close()
        kills += process.returncode == -signal.SIGKILL
        stored = server_versions(exchange, collection_id)
        assert len(stored) == len(set(stored))  # never twice, even mid-run
    assert kills == 3
    _, summary = publish(lab, str(detections), "--no-validate", "--max-objects", "40")
    assert summary["refused"] == [] and summary["sent"] == len(objects)
    assert summary["already_present"] > 0
    assert summary["accepted"] + summary["already_present"] == len(objects)
    stored = server_versions(exchange, collection_id)
    assert Counter(stored).most_common(1)[0][1] == 1
    assert set(stored) == expected_versions(objects)


def posts_only(method: str, path: str) -> bool:
    return method == "POST"


@pytest.mark.parametrize(
    ("code", "retry_after"), [(503, "0"), (429, "1"), (500, None), (502, None)]
)
def test_transient_faults_are_retried_and_the_publish_completes(
    exchange: Exchange, tmp_path: Path, code: int, retry_after: str | None
) -> None:
    collection_id = exchange.add_collection(f"faults-{code}", f"faults-{code}")
    proxy = FaultyProxy(exchange.url, status_fault(code, retry_after), applies=posts_only)
    lab = exchange.lab(
        f"faults-{code}",
        "lab-a",
        api_root=f"http://127.0.0.1:{proxy.port}/exchange/",
        collections=[collection_id],
    )
    with proxy.running():
        proxy.faults_left = 2
        done, summary = publish(
            lab, str(SAMPLES / "updates-bundle.json"), "--no-validate", *FAST_RETRIES
        )
    retries = log_events(done.stderr, "retry")
    assert [event["problem"] for event in retries] == [f"HTTP {code}"] * 2
    if retry_after is not None:
        assert {event["delay_s"] for event in retries} == {float(retry_after)}
    assert summary["refused"] == [] and summary["accepted"] == summary["sent"] > 0
    assert len(server_versions(exchange, collection_id)) == summary["sent"]


STALL_TIMEOUT_S = 1.5  # the lab's timeout_seconds in the stall cases
STALL_S = 2.5  # how long the proxy holds a stalled POST: past the client's timeout


def test_a_slow_server_gets_retries_one_clear_line_and_the_data_once(
    exchange: Exchange, tmp_path: Path
) -> None:
    """POSTs reach the server and are stored, but answer only after the client's timeout.

    First the server stays slow: three attempts, then one line naming the timeout
    and saying to run again; what the server stored meanwhile is there once. Then it
    is slow twice: both are retried with a log line each, the retries find the
    objects already present, and the run completes with every object there once.
    """
    collection_id = exchange.add_collection("slow", "slow")
    detections = write_jsonl(tmp_path / "ranges.jsonl", ranges(20))
    objects = load_batch([detections], PRODUCERS["lab-a"], validate=False).objects
    proxy = FaultyProxy(exchange.url, Stall(STALL_S, forward_first=True), applies=posts_only)
    lab = exchange.lab(
        "slow",
        "lab-a",
        api_root=f"http://127.0.0.1:{proxy.port}/exchange/",
        collections=[collection_id],
        timeout_seconds=STALL_TIMEOUT_S,
    )
    command = ("publish", str(detections), *QUICK, "--max-objects", "50")
    with proxy.running():
        proxy.faults_left = 1000
        done = lab.dx(*command, check=False)
        assert done.returncode == 3
        line = one_error_line(done)
        assert "no answer within the timeout" in line and "gave up after 3 attempts" in line
        assert "run the same command again" in line
        assert proxy.stalled == 3  # the first envelope, three times; nothing after it was sent
        first_envelope = server_versions(exchange, collection_id)
        assert len(first_envelope) == len(set(first_envelope)) > 0

        proxy.faults_left, proxy.stalled = 2, 0
        done = lab.dx(*command, "--json")
    summary = json.loads(done.stdout)
    assert "Traceback" not in done.stderr and not [
        line for line in human_lines(done.stderr) if "error" in line
    ], done.stderr
    assert proxy.stalled == 2
    assert [e["problem"] for e in log_events(done.stderr, "retry")][:2] == [
        "no answer within the timeout"
    ] * 2
    assert summary["refused"] == [] and summary["sent"] == len(objects)
    assert summary["already_present"] == len(set(first_envelope))
    assert summary["accepted"] + summary["already_present"] == len(objects)
    stored = server_versions(exchange, collection_id)
    assert Counter(stored).most_common(1)[0][1] == 1
    assert set(stored) == expected_versions(objects)


def test_a_pending_status_is_followed_until_complete(exchange: Exchange) -> None:
    collection_id = exchange.add_collection("pending", "pending")

    def pending(status: dict) -> dict:
        done = status.get("successes", [])
        return {
            **{k: v for k, v in status.items() if k != "successes"},
            "status": "pending",
            "success_count": 0,
            "pending_count": len(done),
            "pendings": done,
        }

    proxy = FaultyProxy(exchange.url, status_fault(500), rewrite=pending)
    lab = exchange.lab(
        "pending",
        "lab-a",
        api_root=f"http://127.0.0.1:{proxy.port}/exchange/",
        collections=[collection_id],
    )
    with proxy.running():
        _, summary = publish(lab, str(SAMPLES / "updates-bundle.json"))
    status_reads = [
        path for method, path, _ in proxy.seen if method == "GET" and "/status/" in path
    ]
    assert status_reads
    assert summary["pending"] == [] and summary["accepted"] == summary["sent"] > 0


def one_error_line(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr
    [line] = human_lines(done.stderr)
    assert line.startswith("dx publish: error: ")
    return line


def test_a_server_that_stays_down_or_failing_ends_in_one_line(
    exchange: Exchange, tmp_path: Path
) -> None:
    down = exchange.lab("down", "lab-a", api_root=f"http://127.0.0.1:{free_port()}/exchange/")
    done = down.dx("publish", str(LAB_A_DETECTIONS), *QUICK, check=False)
    assert done.returncode == 3
    line = one_error_line(done)
    assert "connection refused" in line and "gave up after 3 attempts" in line

    proxy = FaultyProxy(exchange.url, status_fault(500), applies=posts_only)
    failing = exchange.lab("failing", "lab-a", api_root=f"http://127.0.0.1:{proxy.port}/exchange/")
    with proxy.running():
        proxy.faults_left = 1000
        done = failing.dx("publish", str(LAB_A_DETECTIONS), *QUICK, check=False)
    assert done.returncode == 3
    line = one_error_line(done)
    assert "HTTP 500" in line and "gave up after 3 attempts" in line
    sample_objects = len(json.loads((SAMPLES / "bundle.json").read_text("utf-8"))["objects"])
    assert f"0 of {sample_objects} objects were confirmed" in line
    assert "run the same command again" in line

    wrong_key = exchange.lab("wrong-key", "lab-a")
    (wrong_key.directory / "api.key").write_text("not-the-key\n", encoding="utf-8")
    done = wrong_key.dx("publish", str(LAB_A_DETECTIONS), *QUICK, check=False)
    assert done.returncode == 1
    assert "401" in one_error_line(done)


def test_a_413_splits_the_envelope_and_a_422_refuses_only_its_objects(
    exchange: Exchange,
) -> None:
    bundle = SAMPLES / "updates-bundle.json"
    objects = orjson.loads(bundle.read_bytes())["objects"]
    collection_id = exchange.add_collection("split", "split")
    proxy = FaultyProxy(exchange.url, status_fault(413), applies=posts_only)
    lab = exchange.lab(
        "split",
        "lab-a",
        api_root=f"http://127.0.0.1:{proxy.port}/exchange/",
        collections=[collection_id],
    )
    with proxy.running():
        proxy.faults_left = 1
        done, summary = publish(lab, str(bundle), "--no-validate")
    assert summary["envelopes"] == 2 and summary["accepted"] == summary["sent"] == len(objects)
    assert [path for method, path, code in proxy.seen if method == "POST" and code == -1]

    collection_id = exchange.add_collection("unprocessable", "unprocessable")
    proxy = FaultyProxy(exchange.url, status_fault(422), applies=posts_only)
    lab = exchange.lab(
        "unprocessable", "lab-a", api_root=f"http://127.0.0.1:{proxy.port}/exchange/",
        collections=[collection_id],
    )  # fmt: skip
    with proxy.running():
        proxy.faults_left = 1
        done, summary = publish(
            lab, str(bundle), "--no-validate", "--max-objects", "5", check=False
        )
    assert done.returncode == 1
    assert len(summary["refused"]) == 5
    assert all(r["reason"] == "HTTP 422: injected fault" for r in summary["refused"])
    assert summary["accepted"] == len(objects) - 5 == len(server_versions(exchange, collection_id))

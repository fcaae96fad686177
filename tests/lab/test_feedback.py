"""Sightings and opinions: the STIX objects, match reports turned into sightings, and the
producer's view from a local store. The server round trip is in test_two_labs."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import stix2

import mappings  # noqa: F401  (registers the exchange's STIX classes)
from exchange.errors import InputErrors
from exchange.feed.store import FeedStore
from exchange.feedback import feedback_on_own_objects, read_matches, sightings_from_matches
from mappings.feedback import (
    OPINIONS,
    feedback_objects,
    opinion_object,
    sighting_id,
    sighting_object,
)
from mappings.producer import Producer
from mappings.validation import validate_bundle
from tests.lab.local_feed import fill_store, local_lab_config
from tests.support.exchange import human_lines, run_dx

LAB_A = Producer("lab-a.example", "Lab A")
LAB_B = Producer("lab-b.example", "Lab B")
T0 = datetime(2026, 5, 6, 8, 0, tzinfo=UTC)
INDICATOR = "indicator--3b0e58c8-4eb4-5bd4-80f8-20503f7a7caf"
CLUSTER = "account-cluster--5a8358ce-b433-5bf0-a8d7-b0de4667cca1"


def bundle(objects: list[dict]) -> dict:
    return {
        "type": "bundle",
        "id": "bundle--6c3d8f2e-4a86-4d4f-9a3e-2f6b1f0c9d11",
        "objects": objects,
    }


def sighting(**overrides) -> dict:
    arguments = {
        "count": 3,
        "first_seen": T0,
        "last_seen": T0 + timedelta(hours=5),
        "confidence": 70,
        "description": "Matched locally by exact-template in 3 input lines.",
    } | overrides
    return sighting_object(LAB_B, INDICATOR, **arguments)


def test_feedback_objects_are_strictly_valid_standard_stix() -> None:
    objects = [
        sighting(),
        opinion_object(
            LAB_B, [INDICATOR, CLUSTER], "disagree", created=T0, modified=T0, explanation="NAT"
        ),
    ]
    report = validate_bundle(bundle(feedback_objects(LAB_B, objects)))
    assert report.ok, report.errors
    parsed = stix2.parse(bundle(feedback_objects(LAB_B, objects)), allow_custom=False)
    assert {type(o).__name__ for o in parsed.objects} >= {"Sighting", "Opinion", "Identity"}


def test_sighting_ids_are_deterministic_per_reporter_object_and_window_start() -> None:
    assert sighting() == sighting()
    assert sighting(last_seen=T0 + timedelta(days=1), count=9)["id"] == sighting()["id"]
    assert sighting(first_seen=T0 - timedelta(days=1))["id"] != sighting()["id"]
    assert sighting_id(LAB_A, INDICATOR, T0) != sighting_id(LAB_B, INDICATOR, T0)
    first = sighting()
    assert first["created"] == "2026-05-06T08:00:00.000Z"
    assert first["modified"] == first["last_seen"] == "2026-05-06T13:00:00.000Z"
    assert first["where_sighted_refs"] == [LAB_B.identity_id] == [first["created_by_ref"]]


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"count": 0}, "count"),
        ({"last_seen": T0 - timedelta(seconds=1)}, "last_seen"),
        ({"confidence": 101}, "confidence"),
        ({"description": "   "}, "description"),
    ],
)
def test_bad_sighting_arguments_are_refused(overrides: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        sighting(**overrides)


def test_opinions_are_one_object_per_author_and_object_set() -> None:
    a = opinion_object(LAB_B, [INDICATOR, CLUSTER], "agree", created=T0, modified=T0)
    b = opinion_object(
        LAB_B, [CLUSTER, INDICATOR], "disagree", created=T0, modified=T0 + timedelta(1)
    )
    assert a["id"] == b["id"] and a["object_refs"] == sorted([INDICATOR, CLUSTER])
    assert opinion_object(LAB_A, [INDICATOR], "agree", created=T0, modified=T0)["id"] != a["id"]
    with pytest.raises(ValueError, match="opinion"):
        opinion_object(LAB_B, [INDICATOR], "maybe", created=T0, modified=T0)
    with pytest.raises(ValueError, match="object_refs"):
        opinion_object(LAB_B, ["not-an-id"], "agree", created=T0, modified=T0)
    assert OPINIONS[0] == "strongly-disagree" and OPINIONS[-1] == "strongly-agree"


def match_line(object_id: str, line: int, seen: str, **extra) -> dict:
    return {
        "input": "prompts",
        "file": "prompts.txt",
        "line": line,
        "object_id": object_id,
        "producer": LAB_A.identity_id,
        "rule": "exact-template",
        "similarity": 1.0,
        "confidence": 80,
        "seen_at": seen,
    } | extra


def write_matches(path: Path, lines: list[dict]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def test_match_reports_become_one_sighting_per_object(tmp_path: Path) -> None:
    report = write_matches(
        tmp_path / "m.jsonl",
        [
            match_line(INDICATOR, 1, "2026-05-06T08:00:00Z"),
            match_line(
                INDICATOR, 1, "2026-05-06T08:00:00Z", rule="minhash-jaccard", similarity=0.7
            ),
            match_line(INDICATOR, 7, "2026-05-06T09:30:00Z", confidence=55),
            match_line(CLUSTER, 4, "2026-05-06T10:00:00Z", input="accounts", column="email"),
            match_line(
                "indicator--11111111-1111-4111-8111-111111111111",
                9,
                "2026-05-06T10:00:00Z",
                producer=LAB_B.identity_id,
            ),
        ],
    )
    plan = sightings_from_matches(read_matches(report), LAB_B)
    assert plan.own_objects_skipped == 1
    by_ref = {s["sighting_of_ref"]: s for s in plan.sightings}
    assert set(by_ref) == {INDICATOR, CLUSTER}
    assert by_ref[INDICATOR]["count"] == 2
    assert (by_ref[INDICATOR]["first_seen"], by_ref[INDICATOR]["last_seen"]) == (
        "2026-05-06T08:00:00.000Z",
        "2026-05-06T09:30:00.000Z",
    )
    assert by_ref[INDICATOR]["confidence"] == 80
    assert "exact-template, minhash-jaccard" in by_ref[INDICATOR]["description"]
    assert "prompts.txt" not in json.dumps(plan.sightings)
    assert validate_bundle(bundle(feedback_objects(LAB_B, plan.sightings))).ok


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("[1, 2]", ":1: expected a JSON object"),
        (
            json.dumps(
                {
                    k: v
                    for k, v in match_line(INDICATOR, 1, "2026-05-06T08:00:00Z").items()
                    if k != "seen_at"
                }
            ),
            ":1: seen_at: missing",
        ),
        (json.dumps(match_line(INDICATOR, 1, "May 6")), ":1: seen_at: must be a STIX timestamp"),
        (
            json.dumps(match_line("nonsense", 1, "2026-05-06T08:00:00Z")),
            ":1: object_id: must be a STIX id",
        ),
        (
            json.dumps(match_line(INDICATOR, 1, "2026-05-06T08:00:00Z", confidence=300)),
            ":1: confidence:",
        ),
        ("{broken", ":1: not valid JSON"),
    ],
)
def test_bad_match_reports_are_one_line_naming_file_line_and_field(
    tmp_path: Path, line: str, expected: str
) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text(line + "\n", encoding="utf-8")
    with pytest.raises(InputErrors) as caught:
        read_matches(path)
    [message] = list(caught.value.lines())
    assert message.startswith(f"{path}{expected}")


def _stored_feedback(tmp_path: Path) -> Path:
    """A producer's (lab A's) local store: its indicator, Lab B's and Lab C's feedback."""
    lab_c = Producer("lab-c.example", "Lab C")
    indicator = {
        "type": "indicator", "spec_version": "2.1", "id": INDICATOR,
        "created_by_ref": LAB_A.identity_id, "created": "2026-04-01T00:00:00.000Z",
        "modified": "2026-04-01T00:00:00.000Z", "name": "Prompt template x",
        "pattern": "[ipv4-addr:value = '198.51.100.1']", "pattern_type": "stix",
        "valid_from": "2026-04-01T00:00:00.000Z",
    }  # fmt: skip
    foreign = dict(
        indicator,
        id=CLUSTER.replace("account-cluster", "indicator"),
        created_by_ref=lab_c.identity_id,
    )
    old = sighting(count=2)
    newer = sighting(count=5, last_seen=T0 + timedelta(days=1))
    revoked = sighting_object(lab_c, INDICATOR, count=1, first_seen=T0, last_seen=T0)
    revoked_later = dict(revoked, revoked=True, modified="2026-05-07T00:00:00.000Z")
    about_foreign = sighting_object(LAB_B, foreign["id"], count=1, first_seen=T0, last_seen=T0)
    opinion = opinion_object(
        lab_c, [INDICATOR], "disagree", created=T0, modified=T0, explanation="A NAT."
    )
    objects = [
        LAB_A.identity_object(), LAB_B.identity_object(), lab_c.identity_object(), indicator,
        foreign, old, newer, revoked, revoked_later, about_foreign, opinion,
    ]  # fmt: skip
    fill_store(tmp_path / "feed.sqlite3", objects)
    return local_lab_config(tmp_path, producer=(LAB_A.key, LAB_A.name))


def test_the_producer_sees_current_feedback_on_its_own_objects_only(tmp_path: Path) -> None:
    config = _stored_feedback(tmp_path)
    with FeedStore(tmp_path / "feed.sqlite3") as store:
        rows = feedback_on_own_objects(store, LAB_A.identity_id)
    assert [(r.feedback, r.by_name, r.count, r.opinion) for r in rows] == [
        ("opinion", "Lab C", None, "disagree"),
        ("sighting", "Lab B", 5, None),
    ]
    assert {r.object_id for r in rows} == {INDICATOR}
    done = run_dx("feedback", "show", "--config", str(config), check=True)
    assert done.stdout.splitlines() == [
        f"{INDICATOR} (Prompt template x)",
        "  opinion of Lab C: disagree: A NAT.",
        "  sighted by Lab B: 5 times, 2026-05-06T08:00:00.000Z .. 2026-05-07T08:00:00.000Z, "
        "confidence 70",
    ]
    assert human_lines(done.stderr) == [
        f"dx feedback show: 1 sightings and 1 opinions on objects of Lab A ({LAB_A.identity_id})"
    ]


def test_opinion_on_an_unknown_object_and_missing_producer_are_one_line(tmp_path: Path) -> None:
    config = _stored_feedback(tmp_path)
    missing = "indicator--99999999-9999-4999-8999-999999999999"
    done = run_dx(
        "feedback", "opinion", "--config", str(config), "--object", missing, "--opinion", "agree",
        check=False,
    )  # fmt: skip
    assert done.returncode == 1
    [line] = human_lines(done.stderr)
    assert line.startswith(
        f"dx feedback opinion: error: --object {missing}: not in the local store"
    )
    no_producer = tmp_path / "other"
    no_producer.mkdir()
    done = run_dx("feedback", "show", "--config", str(local_lab_config(no_producer)), check=False)
    assert done.returncode == 1
    assert "producer" in human_lines(done.stderr)[0]

"""Each record kind is declared once, in mappings.record_kinds, and everything derives from it.

The proof is behavioural: a new kind registered in one place (a model and one
``register`` call, in a fresh interpreter so every module derives its tables
from the registry as it would for a built-in kind) is read from JSON Lines
and CSV, keyed for the duplicate check by its own key field, offered by
``dx convert --kind`` and converted to STIX, with no other module touched.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import tests.mappings.stix_factories as factories
from mappings.record_kinds import RECORD_KINDS, kind_of, record_key
from mappings.records import AccountCluster, IpRange, PromptFingerprint

REPO = Path(__file__).resolve().parents[2]

NEW_KIND = textwrap.dedent(
    """
    import json, sys
    from datetime import UTC, datetime
    from typing import Literal

    from pydantic import BaseModel, ConfigDict

    from mappings.record_kinds import RecordKind, register

    class Beacon(BaseModel):
        model_config = ConfigDict(extra="forbid")
        kind: Literal["beacon"] = "beacon"
        beacon_id: str
        tlp: Literal["clear", "green", "amber", "amber+strict", "red"] = "amber"
        confidence: int = 50
        updated: datetime = datetime(2026, 4, 1, tzinfo=UTC)  # every kind has a lifecycle

    def to_stix(writer, record):
        return [{"type": "x-beacon", "id": "x-beacon--" + record.beacon_id,
                 "spec_version": "2.1", "confidence": record.confidence}]

    register(RecordKind(model=Beacon, key_field="beacon_id", technique="AML.T0040",
                        extensions=(), to_stix=to_stix))

    # Only now the rest of the project: it must pick the new kind up by itself.
    from click.testing import CliRunner

    from exchange.cli import main
    from exchange.errors import InputErrors
    from exchange.readers import LAYOUTS, read_records
    from mappings.convert import records_to_objects
    from mappings.producer import Producer

    folder = sys.argv[1]
    report = {}
    with open(f"{folder}/b.jsonl", "w") as out:
        out.write('{"kind": "beacon", "beacon_id": "b-1", "confidence": 80}\\n')
        out.write('{"kind": "beacon", "beacon_id": "b-2"}\\n')
    records = read_records([f"{folder}/b.jsonl"])
    report["jsonl"] = [[type(r).__name__, r.beacon_id, r.confidence] for r in records]

    report["csv_header"] = LAYOUTS["beacon"].header()
    with open(f"{folder}/b.csv", "w") as out:
        out.write("beacon_id,tlp,confidence\\nb-3,green,60\\n")
    report["csv"] = [[r.beacon_id, r.tlp] for r in read_records([f"{folder}/b.csv"], kind="beacon")]

    with open(f"{folder}/dup.jsonl", "w") as out:
        out.write('{"kind": "beacon", "beacon_id": "b-1"}\\n' * 2)
    try:
        read_records([f"{folder}/dup.jsonl"])
    except InputErrors as exc:
        report["duplicate"] = list(exc.lines())

    objects = records_to_objects(records, Producer("lab.example", "Lab"))
    report["stix"] = sorted(o["id"] for o in objects if o["type"] == "x-beacon")

    report["convert_help"] = "beacon" in CliRunner().invoke(main, ["convert", "--help"]).output
    print(json.dumps(report))
    """
)


def test_the_registry_lists_each_kind_once_with_its_key_field() -> None:
    assert {name: kind.key_field for name, kind in RECORD_KINDS.items()} == {
        "account-cluster": "cluster_id",
        "prompt-fingerprint": "fingerprint_id",
        "ip-range": "cidr",
    }
    assert [kind.model for kind in RECORD_KINDS.values()] == [
        AccountCluster,
        PromptFingerprint,
        IpRange,
    ]


def test_record_key_reads_the_declared_field() -> None:
    for record, field in (
        (factories.cluster(), "cluster_id"),
        (factories.fingerprint(), "fingerprint_id"),
        (factories.ip_range(), "cidr"),
    ):
        assert kind_of(record).key_field == field
        assert record_key(record) == getattr(record, field)


def test_a_kind_registered_in_one_place_flows_through_readers_and_converter(
    tmp_path: Path,
) -> None:
    done = subprocess.run(
        [sys.executable, "-c", NEW_KIND, str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["jsonl"] == [["Beacon", "b-1", 80], ["Beacon", "b-2", 50]]
    assert report["csv_header"][:2] == ["kind", "beacon_id"]  # the key is the first column
    assert report["csv"] == [["b-3", "green"]]
    assert report["duplicate"] == [
        f"{tmp_path}/dup.jsonl:2: beacon_id: beacon 'b-1' appears twice in this batch "
        f"(first at {tmp_path}/dup.jsonl:1)"
    ]
    assert report["stix"] == ["x-beacon--b-1", "x-beacon--b-2"]
    assert report["convert_help"] is True

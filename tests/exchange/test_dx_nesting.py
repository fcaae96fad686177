"""Deeply nested JSON is one input error line, never a RecursionError traceback (issue 12).

The standard JSON decoder recurses once per level (a ``RecursionError`` near a
thousand levels); orjson reads 1024 levels but writes only 255. Each depth
that used to escape one of them is tried, in JSON, JSON Lines and the JSON
cell of a CSV file, through the installed ``dx`` as a user runs it.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from exchange.readers import LAYOUTS, read_records
from tests.exchange.helpers import fingerprint, ip_range, run_dx, write_jsonl

PRODUCER = ["--producer-key", "lab-test.example", "--producer-name", "Lab Test", "--legacy-ids"]
TOO_DEEP = "malformed JSON: arrays or objects nested too deeply"


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def deep_record_line(depth: int) -> str:
    """A valid IP range record with one extra field nested ``depth`` levels."""
    return json.dumps(ip_range())[:-1] + ', "x": ' + nested(depth) + "}"


def convert_fails_with_one_line(path: Path, tmp_path: Path) -> str:
    out = tmp_path / "out.json"
    done = run_dx("convert", path, *PRODUCER, "-o", out)
    stderr = done.stderr.decode()
    assert done.returncode == 1, stderr
    assert "Traceback" not in stderr and "RecursionError" not in stderr, stderr[-2000:]
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr[-2000:]
    assert not out.exists()
    return lines[0]


@pytest.mark.parametrize("depth", [300, 1000, 2000, 100_000])
def test_deep_json_lines_record_is_one_line(depth: int, tmp_path: Path) -> None:
    path = tmp_path / "deep.jsonl"
    path.write_text(
        json.dumps(ip_range(cidr="192.0.2.0/28")) + "\n" + deep_record_line(depth) + "\n"
    )
    line = convert_fails_with_one_line(path, tmp_path)
    if depth > 255:  # past what the readers follow; shallower is an unknown field
        assert line == f"{path}:2: {TOO_DEEP} (no record nests more than a few levels)"


@pytest.mark.parametrize("depth", [2000, 100_000])
def test_deep_json_document_is_one_line(depth: int, tmp_path: Path) -> None:
    path = tmp_path / "deep.json"
    path.write_text("[\n" + json.dumps(ip_range()) + ",\n" + deep_record_line(depth) + "\n]\n")
    assert convert_fails_with_one_line(path, tmp_path) == (
        f"{path}:3: {TOO_DEEP} (no record nests more than a few levels)"
    )
    whole = tmp_path / "whole.json"
    whole.write_text(nested(depth))
    assert convert_fails_with_one_line(whole, tmp_path).startswith(f"{whole}:1: {TOO_DEEP}")


def test_deep_json_in_a_csv_cell_is_one_line(tmp_path: Path) -> None:
    (record,) = read_records([write_jsonl(tmp_path / "f.jsonl", [fingerprint()])])
    layout = LAYOUTS["prompt-fingerprint"]
    header, row = layout.header(), layout.encode_record(record)
    row[header.index("fingerprints")] = nested(20_000)  # under the CSV field size limit
    path = tmp_path / "deep.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, row])
    line = convert_fails_with_one_line(path, tmp_path)
    assert line.startswith(f"{path}:2: fingerprints: expected a JSON array")
    assert "nested too deeply" in line

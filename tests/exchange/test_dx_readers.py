"""The readers: every format gives the same validated records, errors name file:line: field."""

from __future__ import annotations

import csv
import gc
import io
import json
from pathlib import Path

import pytest

from exchange.errors import InputErrors
from exchange.readers import LAYOUTS, iter_detections, read_detections, read_records
from mappings.records import AccountCluster, IpRange, PromptFingerprint
from tests.exchange.helpers import (
    cluster,
    fingerprint,
    ip_range,
    valid_batch,
    write_json_array,
    write_jsonl,
)


def write_csv(path: Path, records: list[dict], kind: str) -> Path:
    """CSV through the layout's own encoder, as the samples generator writes it."""
    layout = LAYOUTS[kind]
    model = {
        "account-cluster": AccountCluster,
        "prompt-fingerprint": PromptFingerprint,
        "ip-range": IpRange,
    }[kind]
    rows = [layout.header()] + [layout.encode_record(model.model_validate(r)) for r in records]
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def errors_of(paths: list[Path], **options) -> list[str]:
    with pytest.raises(InputErrors) as caught:
        read_records(paths, **options)
    return list(caught.value.lines())


def test_json_jsonl_and_csv_give_equal_records(tmp_path: Path) -> None:
    batch = valid_batch()
    from_json = read_records([write_json_array(tmp_path / "a.json", batch)])
    from_jsonl = read_records([write_jsonl(tmp_path / "a.jsonl", batch)])
    csv_files = [
        write_csv(tmp_path / f"{record['kind']}.csv", [record], record["kind"]) for record in batch
    ]
    from_csv = read_records(csv_files)
    assert [r.kind for r in from_json] == ["account-cluster", "prompt-fingerprint", "ip-range"]
    assert from_json == from_jsonl == from_csv
    assert from_json[0].volume.requests == 1000
    assert from_json[0].members[1].kind == "phone"


def test_single_object_json_document(tmp_path: Path) -> None:
    path = tmp_path / "one.json"
    path.write_text(json.dumps(ip_range(), indent=2), encoding="utf-8")
    (record,) = read_records([path])
    assert isinstance(record, IpRange)
    assert record.cidr == "198.51.100.0/24"


def test_json_array_records_carry_the_line_they_start_on(tmp_path: Path) -> None:
    path = tmp_path / "pretty.json"
    path.write_text(json.dumps(valid_batch(), indent=2), encoding="utf-8")
    located = read_detections([path])
    text_lines = path.read_text(encoding="utf-8").splitlines()
    assert located[0].line == 2
    for item in located:
        # each record is reported at the line of its opening brace
        assert text_lines[item.line - 1].strip() == "{"
    assert located[1].line > located[0].line + 10


def test_jsonl_ignores_blank_lines_and_keeps_line_numbers(tmp_path: Path) -> None:
    path = tmp_path / "gaps.jsonl"
    path.write_text(
        "\n" + json.dumps(ip_range()) + "\n\n   \n" + json.dumps(cluster()) + "\r\n\n",
        encoding="utf-8",
    )
    located = read_detections([path])
    assert [(item.record.kind, item.line) for item in located] == [
        ("ip-range", 2),
        ("account-cluster", 5),
    ]


def test_csv_kind_option_replaces_the_kind_column(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "ranges.csv", [ip_range(), ip_range(cidr="2001:db8::/48")], "ip-range"
    )
    text = path.read_text(encoding="utf-8").splitlines()
    without_kind = "\n".join(line.split(",", 1)[1] for line in text) + "\n"
    path.write_text(without_kind, encoding="utf-8")
    records = read_records([path], kind="ip-range")
    assert [r.cidr for r in records] == ["198.51.100.0/24", "2001:db8::/48"]
    assert errors_of([path]) == [f"{path}:1: kind: no kind column: add one or pass --kind"]


def test_csv_row_spanning_lines_is_reported_at_its_first_line(tmp_path: Path) -> None:
    path = write_csv(
        tmp_path / "r.csv",
        [ip_range(as_name="MULTI\nLINE\nNAME"), ip_range(cidr="203.0.113.0/24")],
        "ip-range",
    )
    text = path.read_text(encoding="utf-8")
    path.write_text(text.replace("203.0.113.0/24", "203.0.113.0/33"), encoding="utf-8")
    lines = errors_of([path])
    assert len(lines) == 1
    assert lines[0].startswith(f"{path}:5: cidr: ")


def test_csv_empty_cells_use_defaults_and_lists_split(tmp_path: Path) -> None:
    header = ",".join(LAYOUTS["account-cluster"].header())
    path = tmp_path / "c.csv"
    base = LAYOUTS["account-cluster"].encode_record(AccountCluster.model_validate(cluster()))
    by_name = dict(zip(LAYOUTS["account-cluster"].header(), base, strict=True))
    by_name.update(
        {
            "tlp": "",
            "withdrawn": "",
            "linking_signals": "signup_burst=3 ; templated_prompts=9",
            "targeted_capabilities": " math ;tool_use;",
        }
    )
    buffer = io.StringIO()
    csv.writer(buffer).writerows([header.split(","), list(by_name.values())])
    path.write_text(buffer.getvalue(), encoding="utf-8")
    (record,) = read_records([path])
    assert record.tlp == "amber" and record.withdrawn is False
    assert record.targeted_capabilities == ["math", "tool_use"]
    assert [(s.signal, s.count) for s in record.linking_signals] == [
        ("signup_burst", 3),
        ("templated_prompts", 9),
    ]


def test_csv_round_trip_of_every_kind(tmp_path: Path) -> None:
    cases = [
        (AccountCluster, cluster()),
        (PromptFingerprint, fingerprint()),
        (IpRange, ip_range(valid_until="2026-06-01T00:00:00Z", withdrawn=True, campaign="c-1")),
    ]
    for model, record in cases:
        path = write_csv(tmp_path / f"{record['kind']}.csv", [record], record["kind"])
        (parsed,) = read_records([path])
        assert parsed == model.model_validate(record)


def test_errors_are_sorted_by_file_then_line_and_capped(tmp_path: Path) -> None:
    bad = [ip_range(cidr=f"198.51.{i}.0/33") for i in range(30)]
    first = write_jsonl(tmp_path / "first.jsonl", bad)
    second = write_jsonl(tmp_path / "second.jsonl", [ip_range(confidence=101)])
    lines = errors_of([first, second], max_errors=5)
    assert lines[:5] == [
        f"{first}:{n}: cidr: '198.51.{n - 1}.0/33' is not a valid CIDR range: "
        f"'198.51.{n - 1}.0/33' does not appear to be an IPv4 or IPv6 network"
        for n in range(1, 6)
    ]
    assert lines[5] == "(stopped after 5 errors; fix these and run again)"


def test_union_failures_are_one_line_and_model_checks_name_a_field(tmp_path: Path) -> None:
    record = fingerprint()
    record["fingerprints"][0]["parameters"]["shingles"] = [3]
    path = write_jsonl(
        tmp_path / "u.jsonl",
        [
            record,
            ip_range(first_seen="2026-05-02T00:00:00Z"),
        ],
    )
    assert errors_of([path]) == [
        f"{path}:1: fingerprints[0].parameters.shingles: Input should be a valid integer, "
        "a valid number or a valid string",
        f"{path}:2: last_seen: last_seen is before first_seen",
    ]


def test_same_record_twice_in_a_batch_is_refused(tmp_path: Path) -> None:
    one = write_jsonl(tmp_path / "one.jsonl", [ip_range()])
    two = write_json_array(tmp_path / "two.json", [cluster(), ip_range(cidr="198.51.100.0/24")])
    assert errors_of([one, two]) == [
        f"{two}:3: cidr: ip-range '198.51.100.0/24' appears twice in this batch (first at {one}:1)"
    ]


def test_empty_inputs(tmp_path: Path) -> None:
    empty_array = tmp_path / "empty.json"
    empty_array.write_text(" [ ] \n", encoding="utf-8")
    assert read_records([empty_array]) == []
    nothing = tmp_path / "nothing.json"
    nothing.write_text("\n", encoding="utf-8")
    assert errors_of([nothing]) == [
        f"{nothing}:1: empty file: expected a record object or an array"
    ]


def test_a_field_given_twice_is_an_error_in_json_and_jsonl(tmp_path: Path) -> None:
    line = json.dumps(ip_range())[:-1] + ', "confidence": 10}'
    jsonl = tmp_path / "dup.jsonl"
    jsonl.write_text(json.dumps(cluster()) + "\n" + line + "\n", encoding="utf-8")
    array = tmp_path / "dup.json"
    array.write_text("[\n" + json.dumps(cluster()) + ",\n" + line + "\n]\n", encoding="utf-8")
    message = "confidence: field 'confidence' given twice in one object"
    assert errors_of([jsonl]) == [f"{jsonl}:2: {message}"]
    assert errors_of([array]) == [f"{array}:3: {message}"]


def test_strings_that_look_like_keys_still_parse(tmp_path: Path) -> None:
    tricky = ip_range(as_name='NET "x": y', campaign=None)
    del tricky["campaign"]
    path = write_jsonl(tmp_path / "t.jsonl", [tricky])
    (record,) = read_records([path])
    assert record.as_name == 'NET "x": y'


@pytest.mark.parametrize(
    "twice",
    [
        ', "confidence": 10}',  # plain '":' marks
        ' , "confidence" : 10}',  # whitespace before the colon: the regex count
        ', "confidence": 10, "as_name": "caf\\u00e9"}',  # \u escape: the careful path
    ],
)
def test_a_field_given_twice_deep_in_a_long_jsonl_file_is_found(twice: str, tmp_path: Path) -> None:
    """The bulk check (one count over the whole file) misses no duplicate on any line."""
    lines = [json.dumps(ip_range(cidr=f"198.51.100.{i}/32")) for i in range(250)]
    lines[217] = lines[217][:-1] + twice
    lines.insert(100, "   ")  # blank lines are skipped but counted
    path = tmp_path / "long.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert errors_of([path]) == [
        f"{path}:219: confidence: field 'confidence' given twice in one object"
    ]
    lines[218] = lines[218].replace(twice, "}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert len(read_records([path])) == 250


def test_iter_detections_yields_records_as_read_and_stops_at_the_first_error(
    tmp_path: Path,
) -> None:
    """Streaming keeps all or nothing: records before the first bad one are yielded
    (the caller throws them away), none after it, and every error is still reported."""
    good = [ip_range(cidr=f"198.51.100.{i}/32") for i in range(4)]
    bad = [ip_range(cidr="198.51.100.0/33"), ip_range(confidence=101, cidr="192.0.2.1/32")]
    path = write_jsonl(tmp_path / "d.jsonl", [*good[:2], bad[0], *good[2:], bad[1]])
    yielded = []
    with pytest.raises(InputErrors) as caught:
        for item in iter_detections([path]):
            yielded.append((item.line, item.record.cidr))
    assert yielded == [(1, "198.51.100.0/32"), (2, "198.51.100.1/32")]
    lines = list(caught.value.lines())
    assert len(lines) == 2
    assert lines[0].startswith(f"{path}:3: cidr:") and lines[1].startswith(f"{path}:6: confidence:")


def test_iter_detections_of_a_clean_batch_is_read_detections(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", valid_batch())
    streamed = [(item.file, item.line, item.record) for item in iter_detections([path])]
    listed = [(item.file, item.line, item.record) for item in read_detections([path])]
    assert streamed == listed and len(listed) == len(valid_batch())


def test_iter_detections_leaves_the_garbage_collector_alone(tmp_path: Path) -> None:
    """A caller that stops early must not be left with the collector paused."""
    path = write_jsonl(tmp_path / "d.jsonl", valid_batch())
    assert gc.isenabled()
    records = iter_detections([path])
    next(records)
    assert gc.isenabled()
    read_detections([path])
    assert gc.isenabled()

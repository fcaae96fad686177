"""Bad inputs: one line naming file, line and field; exit 1; no output file, ever.

Each case writes a real input file, runs ``dx convert`` on it and checks the
exact error lines, the exit status, and that the output file was neither
created nor (when it existed before) touched. A few cases run the installed
``dx`` script in a subprocess, the way a pipeline runs it.
"""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

from exchange.cli import main
from exchange.readers import LAYOUTS, read_records
from tests.exchange.helpers import (
    HASH_A,
    SAMPLES,
    cluster,
    fingerprint,
    ip_range,
    run_dx,
    with_path,
    write_json_array,
    write_jsonl,
)

PRODUCER = ["--producer-key", "lab-test.example", "--producer-name", "Lab Test", "--legacy-ids"]
PREVIOUS = b'{"previous": "bundle"}\n'


@dataclass(frozen=True)
class Case:
    """Inputs to write (returns the paths to convert) and the expected error lines."""

    make: Callable[[Path], list[Path]]
    expected: Callable[[list[Path]], list[str]]
    options: tuple[str, ...] = ()


def _csv(path: Path, header: list[str], rows: list[list[str]]) -> Path:
    lines = [",".join(header)] + [",".join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


_RANGE_HEADER = [
    "kind",
    "cidr",
    "asn",
    "as_name",
    "provider_type",
    "traffic_share",
    "benign_accounts_seen",
    "recommended_action",
    "updated",
    "first_seen",
    "last_seen",
    "confidence",
]
_RANGE_ROW = [
    "ip-range",
    "198.51.100.0/24",
    "64500",
    "EXAMPLE",
    "hosting",
    "0.2",
    "0",
    "block",
    "2026-05-01T00:00:00Z",
    "2026-04-01T00:00:00Z",
    "2026-04-30T00:00:00Z",
    "80",
]


def _malformed_json(tmp: Path) -> list[Path]:
    path = tmp / "detections.json"
    path.write_text(
        "[\n" + json.dumps(cluster()) + ',\n{"kind": "ip-range", "cidr": }\n]\n', encoding="utf-8"
    )
    return [path]


CASES: dict[str, Case] = {
    "malformed-json": Case(
        _malformed_json,
        lambda p: [f"{p[0]}:3: malformed JSON: Expecting value (column 30)"],
    ),
    "malformed-jsonl-line": Case(
        lambda t: [_text(t / "d.jsonl", json.dumps(ip_range()) + "\n{'kind': 'ip-range'}\n")],
        lambda p: [
            f"{p[0]}:2: malformed JSON: Expecting property name enclosed in double quotes "
            "(column 2)"
        ],
    ),
    "wrong-type": Case(
        lambda t: [write_jsonl(t / "d.jsonl", [cluster(), ip_range(confidence="high")])],
        lambda p: [
            f"{p[0]}:2: confidence: Input should be a valid integer, unable to parse string "
            "as an integer"
        ],
    ),
    "wrong-type-nested": Case(
        lambda t: [write_json_array(t / "d.json", [with_path(cluster(), "volume.requests", [1])])],
        lambda p: [f"{p[0]}:2: volume.requests: Input should be a valid integer"],
    ),
    "confidence-out-of-range": Case(
        lambda t: [write_jsonl(t / "d.jsonl", [fingerprint(confidence=101)])],
        lambda p: [f"{p[0]}:1: confidence: Input should be less than or equal to 100"],
    ),
    "invalid-cidr": Case(
        lambda t: [write_jsonl(t / "d.jsonl", [ip_range(cidr="198.51.100.0/33")])],
        lambda p: [
            f"{p[0]}:1: cidr: '198.51.100.0/33' is not a valid CIDR range: '198.51.100.0/33' "
            "does not appear to be an IPv4 or IPv6 network"
        ],
    ),
    "invalid-ipv6-cidr": Case(
        lambda t: [write_jsonl(t / "d.jsonl", [ip_range(cidr="2001:db8::/129")])],
        lambda p: [
            f"{p[0]}:1: cidr: '2001:db8::/129' is not a valid CIDR range: '2001:db8::/129' "
            "does not appear to be an IPv4 or IPv6 network"
        ],
    ),
    "host-bits-set": Case(
        lambda t: [write_jsonl(t / "d.jsonl", [ip_range(cidr="198.51.100.7/24")])],
        lambda p: [
            f"{p[0]}:1: cidr: '198.51.100.7/24' is not a valid CIDR range: "
            "198.51.100.7/24 has host bits set"
        ],
    ),
    "raw-email-for-hash": Case(
        lambda t: [
            write_json_array(
                t / "d.json",
                [ip_range(), with_path(cluster(), "members.1.hash", "Alice.Doe@example.com")],
            )
        ],
        lambda p: [
            f"{p[0]}:3: members[1].hash: raw email where a keyed hash is expected; "
            "pseudonymise it first"
        ],
    ),
    "raw-phone-for-hash": Case(
        lambda t: [
            write_jsonl(t / "d.jsonl", [with_path(cluster(), "members.0.hash", "+1 202-555-0142")])
        ],
        lambda p: [
            f"{p[0]}:1: members[0].hash: raw phone number where a keyed hash is expected; "
            "pseudonymise it first"
        ],
    ),
    "unknown-field": Case(
        lambda t: [write_jsonl(t / "d.jsonl", [ip_range(colour="red")])],
        lambda p: [f"{p[0]}:1: colour: unknown field"],
    ),
    "unknown-nested-field": Case(
        lambda t: [write_jsonl(t / "d.jsonl", [with_path(cluster(), "hashing.pepper", "x")])],
        lambda p: [f"{p[0]}:1: hashing.pepper: unknown field"],
    ),
    "missing-field": Case(
        lambda t: [write_jsonl(t / "d.jsonl", [_without(fingerprint(), "scope")])],
        lambda p: [f"{p[0]}:1: scope: required field missing"],
    ),
    "time-without-zone": Case(
        lambda t: [write_jsonl(t / "d.jsonl", [ip_range(updated="2026-05-01T00:00:00")])],
        lambda p: [f"{p[0]}:1: updated: timestamp needs a time zone, e.g. 2026-05-01T12:00:00Z"],
    ),
    "time-too-late-for-the-default-expiry": Case(
        lambda t: [write_jsonl(t / "d.jsonl", [ip_range(last_seen="9999-12-30T00:00:00Z")])],
        lambda p: [
            f"{p[0]}:1: last_seen: last_seen is too late for the default expiry (last_seen + "
            "14 days would pass year 9999); give valid_until"
        ],
    ),
    "time-past-year-9999-in-utc": Case(
        lambda t: [write_jsonl(t / "d.jsonl", [ip_range(valid_until="9999-12-31T23:00:00-02:00")])],
        lambda p: [f"{p[0]}:1: valid_until: timestamp is out of range once converted to UTC"],
    ),
    "unknown-kind": Case(
        lambda t: [write_jsonl(t / "d.jsonl", [ip_range(kind="domain")])],
        lambda p: [f"{p[0]}:1: kind: must be one of account-cluster, prompt-fingerprint, ip-range"],
    ),
    "not-an-object": Case(
        lambda t: [write_json_array(t / "d.json", [ip_range(), [1, 2]])],  # type: ignore[list-item]
        lambda p: [f"{p[0]}:3: expected a record object, got an array"],
    ),
    "several-errors-one-run": Case(
        lambda t: [
            write_jsonl(
                t / "d.jsonl",
                [ip_range(asn=-1), cluster(), ip_range(cidr="10.0.0.0/8", traffic_share=2)],
            )
        ],
        lambda p: [
            f"{p[0]}:1: asn: Input should be greater than or equal to 0",
            f"{p[0]}:3: traffic_share: Input should be less than or equal to 1",
        ],
    ),
    "csv-bad-row": Case(
        lambda t: [
            _csv(
                t / "r.csv",
                _RANGE_HEADER,
                [_RANGE_ROW, [*_RANGE_ROW[:2], "AS64500", *_RANGE_ROW[3:]]],
            )
        ],
        lambda p: [
            f"{p[0]}:3: asn: Input should be a valid integer, unable to parse string as an integer"
        ],
    ),
    "csv-short-row": Case(
        lambda t: [_csv(t / "r.csv", _RANGE_HEADER, [_RANGE_ROW[:-1]])],
        lambda p: [f"{p[0]}:2: row has 11 cells but the header has 12 columns"],
    ),
    "csv-incomplete-header": Case(
        lambda t: [
            _csv(
                t / "c.csv",
                ["kind", "cluster_id", "members"],
                [["account-cluster", "cl-9", f"email:{HASH_A};email-{HASH_A}"]],
            )
        ],
        lambda p: [
            f"{p[0]}:1: {column}: required column missing from the header"
            for column in (
                "updated",
                "first_seen",
                "last_seen",
                "confidence",
                "member_count",
                "hashing.key_id",
                "hashing.normalization",
                "volume.requests",
                "volume.tokens",
                "volume.window_start",
                "volume.window_end",
                "volume.peak_requests_per_account_per_minute",
                "enforcement",
            )
        ],
    ),
    "csv-missing-required-column": Case(
        lambda t: [
            _csv(
                t / "r.csv",
                [c for c in _RANGE_HEADER if c != "asn"],
                [[v for c, v in zip(_RANGE_HEADER, _RANGE_ROW, strict=True) if c != "asn"]],
            )
        ],
        lambda p: [f"{p[0]}:1: asn: required column missing from the header"],
    ),
    "csv-unknown-column": Case(
        lambda t: [_csv(t / "r.csv", [*_RANGE_HEADER, "notes"], [[*_RANGE_ROW, "x"]])],
        lambda p: [f"{p[0]}:1: notes: unknown column for ip-range records"],
    ),
    "csv-unterminated-quote": Case(
        lambda t: [
            _text(
                t / "r.csv",
                ",".join(_RANGE_HEADER)
                + "\n"
                + ",".join(_RANGE_ROW)
                + '\nip-range,"198.51.100.0/24\n',
            )
        ],
        lambda p: [f"{p[0]}:3: malformed CSV: unexpected end of data"],
    ),
    "one-bad-file-spoils-the-batch": Case(
        lambda t: [
            write_jsonl(t / "good.jsonl", [cluster(), fingerprint()]),
            write_jsonl(t / "bad.jsonl", [ip_range(recommended_action="nuke")]),
        ],
        lambda p: [
            f"{p[1]}:1: recommended_action: Input should be 'monitor', 'step_up', "
            "'rate_limit' or 'block'"
        ],
    ),
    "duplicate-record": Case(
        lambda t: [write_jsonl(t / "d.jsonl", [ip_range(), ip_range(confidence=20)])],
        lambda p: [
            f"{p[0]}:2: cidr: ip-range '198.51.100.0/24' appears twice in this batch "
            f"(first at {p[0]}:1)"
        ],
    ),
    "missing-file": Case(
        lambda t: [t / "nowhere.jsonl"],
        lambda p: [f"{p[0]}: file not found"],
    ),
    "unknown-extension": Case(
        lambda t: [_text(t / "d.txt", "{}\n")],
        lambda p: [
            f"{p[0]}: cannot tell the format from the extension '.txt' (known: .csv, .json, "
            ".jsonl, .ndjson); pass --format json|jsonl|csv"
        ],
    ),
    "not-utf8": Case(
        lambda t: [_bytes(t / "d.jsonl", b'{"kind": "ip-range"}\n{"as_name": "\xff"}\n')],
        lambda p: [f"{p[0]}:2: not UTF-8 text (bad byte at offset 34)"],
    ),
    "shared-network-overlap": Case(
        lambda t: [
            write_jsonl(t / "d.jsonl", [ip_range(), ip_range(cidr="100.64.12.0/24")]),
            _text(t / "shared.txt", "# lab list\n\n100.64.0.0/10   # carrier-grade NAT\n"),
        ][:1],
        lambda p: [
            f"{p[0]}:2: cidr: 100.64.12.0/24 overlaps the shared network 100.64.0.0/10 "
            f"({p[0].parent / 'shared.txt'}:3: carrier-grade NAT); blocking it would hit "
            "unrelated users: pass --allow-shared to publish it anyway"
        ],
        options=("--shared-networks", "{tmp}/shared.txt"),
    ),
    "bad-shared-networks-file": Case(
        lambda t: [
            write_jsonl(t / "d.jsonl", [ip_range()]),
            _text(t / "shared.txt", "100.64.0.0/10\n100.64.0.0/33 # typo\n"),
        ][:1],
        lambda p: [
            f"{p[0].parent / 'shared.txt'}:2: cidr: not a valid CIDR range: '100.64.0.0/33' "
            "does not appear to be an IPv4 or IPv6 network"
        ],
        options=("--shared-networks", "{tmp}/shared.txt"),
    ),
}


def _text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _bytes(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _without(record: dict, field: str) -> dict:
    return {k: v for k, v in record.items() if k != field}


def _run_convert(inputs: list[Path], output: Path, options: tuple[str, ...], tmp: Path):
    args = ["convert", *map(str, inputs), *PRODUCER, "-o", str(output)]
    args += [option.replace("{tmp}", str(tmp)) for option in options]
    return CliRunner().invoke(main, args)


@pytest.mark.parametrize("existing", [False, True], ids=["no-output-yet", "output-exists"])
@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gives_one_line_errors_and_no_output(
    name: str, existing: bool, tmp_path: Path
) -> None:
    case = CASES[name]
    inputs = case.make(tmp_path)
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    output = out_dir / "bundle.json"
    if existing:
        output.write_bytes(PREVIOUS)

    result = _run_convert(inputs, output, case.options, tmp_path)

    assert result.exit_code == 1, result.output
    assert result.stderr.splitlines() == case.expected(inputs)
    assert result.stdout == ""
    if existing:
        assert output.read_bytes() == PREVIOUS
        assert sorted(p.name for p in out_dir.iterdir()) == ["bundle.json"]
    else:
        assert list(out_dir.iterdir()) == []


def test_csv_bad_members_cell_with_full_header(tmp_path: Path) -> None:
    """A complete cluster CSV whose members cell breaks the kind:hash convention."""
    good = write_jsonl(tmp_path / "c.jsonl", [cluster()])
    converted = tmp_path / "c.csv"
    (record,) = read_records([good])
    row = LAYOUTS["account-cluster"].encode_record(record)
    header = LAYOUTS["account-cluster"].header()
    row[header.index("members")] = f"email:{HASH_A};email-{HASH_A}"
    with converted.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows([header, row])
    result = _run_convert([converted], tmp_path / "out.json", (), tmp_path)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{converted}:2: members[1]: expected kind:hash, got 'email-{HASH_A}'"
    ]
    assert not (tmp_path / "out.json").exists()


def test_error_cap_stops_early_and_says_so(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [ip_range(cidr=f"203.0.113.{i}/33") for i in range(9)])
    result = CliRunner().invoke(
        main, ["convert", str(path), *PRODUCER, "--max-errors", "3", "-o", str(tmp_path / "o")]
    )
    lines = result.stderr.splitlines()
    assert result.exit_code == 1
    assert [line.split(": ")[0] for line in lines[:3]] == [f"{path}:{n}" for n in (1, 2, 3)]
    assert lines[3] == "(stopped after 3 errors; fix these and run again)"
    assert len(lines) == 4


def test_allow_shared_publishes_and_still_warns(tmp_path: Path) -> None:
    records = write_jsonl(tmp_path / "d.jsonl", [ip_range(cidr="100.64.12.0/24")])
    output = tmp_path / "bundle.json"
    result = CliRunner().invoke(
        main,
        [
            "convert",
            str(records),
            *PRODUCER,
            "-o",
            str(output),
            "--allow-shared",
            "--shared-networks",
            str(SAMPLES / "shared-networks.txt"),
        ],
    )
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines()[0].startswith(
        f"warning: {records}:1: cidr: 100.64.12.0/24 overlaps the shared network 100.64.0.0/10"
    )
    assert output.exists()


@pytest.mark.parametrize("name", ["malformed-json", "raw-email-for-hash", "csv-bad-row"])
def test_bad_input_through_the_installed_script(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    inputs = case.make(tmp_path)
    output = tmp_path / "bundle.json"
    output.write_bytes(PREVIOUS)
    result = run_dx("convert", *inputs, *PRODUCER, "-o", output)
    assert result.returncode == 1
    assert result.stderr.decode().splitlines() == case.expected(inputs)
    assert b"Traceback" not in result.stderr
    assert output.read_bytes() == PREVIOUS
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [ip_range()])
    no_producer = run_dx("convert", path, "-o", tmp_path / "o.json")
    assert no_producer.returncode == 2
    assert "--producer-key and --producer-name, or --producer-config" in no_producer.stderr.decode()
    bad_format = run_dx("convert", path, *PRODUCER, "--format", "xml", "-o", tmp_path / "o.json")
    assert bad_format.returncode == 2
    assert not (tmp_path / "o.json").exists()


def test_bad_producer_config_is_one_line(tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "d.jsonl", [ip_range()])
    config = _text(tmp_path / "producer.toml", '[producer]\nkey = "lab.example"\n')
    result = CliRunner().invoke(
        main, ["convert", str(path), "--producer-config", str(config), "-o", str(tmp_path / "o")]
    )
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [f"dx convert: error: {config}: producer.name: required"]


def test_a_failed_write_is_one_line_and_leaves_nothing(tmp_path: Path) -> None:
    """A file size limit (as a full disk would) stops the write: one line naming the
    output, exit 1, no bundle and no temporary file left behind."""
    records = write_jsonl(tmp_path / "d.jsonl", [cluster(), fingerprint(), ip_range()])
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    output = out_dir / "bundle.json"
    limited = (
        "import resource, signal, sys;"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN);"
        "resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000));"
        "sys.argv = ['dx', *sys.argv[1:]];"
        "from exchange.cli import main; main()"
    )
    done = subprocess.run(
        [sys.executable, "-c", limited, "convert", str(records), *PRODUCER, "-o", str(output)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"dx convert: error: {output}: cannot write: File too large"
    ]
    assert list(out_dir.iterdir()) == []

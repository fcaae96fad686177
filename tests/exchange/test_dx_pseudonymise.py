"""``dx pseudonymise``: raw identifier columns become keyed hashes; raw values never leave."""

from __future__ import annotations

import csv
import hashlib
import hmac
from pathlib import Path

from click.testing import CliRunner

from exchange.cli import main
from exchange.privacy import load_key
from tests.exchange.helpers import DEMO_KEY_FILE, SAMPLES, run_dx


def _read(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def _write(path: Path, rows: list[list[str]]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        csv.writer(handle).writerows(rows)
    return path


def test_the_installed_command_reproduces_the_sample_hashed_accounts(tmp_path: Path) -> None:
    output = tmp_path / "hashed.csv"
    result = run_dx(
        "pseudonymise",
        SAMPLES / "raw" / "lab-a-accounts.csv",
        "--key-file",
        DEMO_KEY_FILE,
        "--column",
        "email:email",
        "--column",
        "phone:phone",
        "--column",
        "device:device_fingerprint",
        "--keep",
        "cluster_id",
        "-o",
        output,
    )
    assert result.returncode == 0, result.stderr.decode()
    assert output.read_bytes() == (SAMPLES / "lab-a" / "accounts-hashed.csv").read_bytes()


def test_hashes_are_hmac_of_the_normalised_value_and_other_columns_drop(tmp_path: Path) -> None:
    source = _write(
        tmp_path / "accounts.csv",
        [
            ["name", "email", "phone", "cluster"],
            ["Alice", " Alice.Doe+promo@Example.COM ", "+44 (0)7700 900123", "c-1"],
            ["Bob", "bob@example.org", "", "c-1"],
        ],
    )
    output = tmp_path / "out.csv"
    result = CliRunner().invoke(
        main,
        [
            "pseudonymise",
            str(source),
            "--key-file",
            str(DEMO_KEY_FILE),
            "--column",
            "email:email",
            "--column",
            "phone:phone",
            "--keep",
            "cluster",
            "-o",
            str(output),
        ],
    )
    assert result.exit_code == 0, result.output
    rows = _read(output)
    assert list(rows[0]) == ["email_hash", "phone_hash", "cluster"]
    secret = load_key(DEMO_KEY_FILE).secret

    def expected(message: str) -> str:
        return hmac.new(secret, message.encode(), hashlib.sha256).hexdigest()

    assert rows[0]["email_hash"] == expected("email:alice.doe@example.com")
    assert rows[0]["phone_hash"] == expected("phone:+447700900123")
    assert rows[1] == {
        "email_hash": expected("email:bob@example.org"),
        "phone_hash": "",
        "cluster": "c-1",
    }
    text = output.read_text(encoding="utf-8")
    for raw in ("Alice", "alice", "Bob", "bob@", "7700", "Example"):
        assert raw not in text


def _invoke(tmp_path: Path, source: Path, *args: str):
    output = tmp_path / "out.csv"
    result = CliRunner().invoke(
        main,
        ["pseudonymise", str(source), "--key-file", str(DEMO_KEY_FILE), *args, "-o", str(output)],
    )
    return result, output


def test_invalid_identifiers_name_line_and_column_and_write_nothing(tmp_path: Path) -> None:
    source = _write(
        tmp_path / "a.csv",
        [
            ["email", "phone"],
            ["ok@example.com", "+1 202-555-0100"],
            ["not-an-email", "+1 202-555-0101"],
            ["fine@example.org", "call me maybe"],
        ],
    )
    result, output = _invoke(tmp_path, source, "--column", "email:email", "--column", "phone:phone")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert [line.split(": ")[:2] for line in lines] == [
        [f"{source}:3", "email"],
        [f"{source}:4", "phone"],
    ]
    assert "not-an-email" not in result.stderr and "call me maybe" not in result.stderr
    assert not output.exists()


def test_a_kept_column_holding_raw_identifiers_is_refused(tmp_path: Path) -> None:
    source = _write(
        tmp_path / "a.csv",
        [
            ["email", "backup_contact"],
            ["ok@example.com", "ok-too@example.net"],
        ],
    )
    output = tmp_path / "out.csv"
    output.write_text("previous\n", encoding="utf-8")
    result, _ = _invoke(tmp_path, source, "--column", "email:email", "--keep", "backup_contact")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{source}:2: backup_contact: kept column holds what looks like a raw email; hash it "
        "with --column backup_contact:email or leave the column out"
    ]
    assert output.read_text(encoding="utf-8") == "previous\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "out.csv"]


def test_header_problems(tmp_path: Path) -> None:
    source = _write(tmp_path / "a.csv", [["email", "email_hash"], ["a@example.com", "x"]])
    result, output = _invoke(tmp_path, source, "--column", "email:email", "--keep", "nope")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{source}:1: nope: no such column in the header",
        f"{source}:1: email: output column email_hash already exists",
    ]
    assert not output.exists()
    bad_spec, _ = _invoke(tmp_path, source, "--column", "email:fax")
    assert bad_spec.exit_code == 2
    assert "KIND must be one of email, phone" in bad_spec.stderr

"""`dx convert` ids: derived from the lab's own id secret, so no partner can compute them.

Lab A's committed sample bundle is lab A's real output (its producer.toml names
its id secret). Lab B knows lab A's producer key (it is in every bundle) but
not that secret: whatever B runs, it gets none of A's ids, so it cannot post
A's future objects first. The same secret and records always give the same ids.
"""

from __future__ import annotations

import json
import stat
import sys
from pathlib import Path

import pytest

from tests.exchange.helpers import REPO, SAMPLES, run_dx

LAB_A_RECORDS = SAMPLES / "lab-a" / "detections.jsonl"
SHARED = ("--shared-networks", SAMPLES / "shared-networks.txt")


def authored_ids(path: Path) -> set[str]:
    """Ids of the objects the producer authored (created_by_ref), its identity excepted."""
    objects = json.loads(path.read_bytes())["objects"]
    lab_identity = next(o["id"] for o in objects if o["type"] == "identity" and "Lab" in o["name"])
    return {o["id"] for o in objects if o.get("created_by_ref") == lab_identity} - {lab_identity}


def new_secret(path: Path, producer_key: str) -> Path:
    done = run_dx_module("exchange.id_secret", producer_key, str(path))
    assert done.returncode == 0, done.stderr
    return path


def run_dx_module(module: str, *args: str):  # type: ignore[no-untyped-def]
    import subprocess

    return subprocess.run(
        [sys.executable, "-m", module, *args], cwd=REPO, capture_output=True, text=True, timeout=60
    )


def convert(tmp_path: Path, name: str, *options: str | Path) -> Path:
    out = tmp_path / name
    done = run_dx("convert", LAB_A_RECORDS, *SHARED, "--pretty", *options, "-o", out)
    assert done.returncode == 0, done.stderr.decode()
    return out


def test_another_lab_cannot_compute_lab_a_ids(tmp_path: Path) -> None:
    a_ids = authored_ids(SAMPLES / "bundle.json")
    assert len(a_ids) > 20
    as_a = ("--producer-key", "lab-a.example", "--producer-name", "Lab A")
    # B with the public (legacy) derivation, as anyone could before id secrets:
    public = convert(tmp_path, "public.json", *as_a, "--legacy-ids")
    # B with a secret of its own, made out for lab A's producer key:
    guess = new_secret(tmp_path / "b-guess.json", "lab-a.example")
    guessed = convert(tmp_path, "guessed.json", *as_a, "--id-secret-file", guess)
    assert a_ids.isdisjoint(authored_ids(public))
    assert a_ids.isdisjoint(authored_ids(guessed))
    # Lab A itself, with its secret given as an option: exactly its committed bundle.
    own = convert(
        tmp_path,
        "own.json",
        *as_a,
        "--id-secret-file",
        SAMPLES / "keys" / "demo-lab-a-id-secret.json",
    )
    assert own.read_bytes() == (SAMPLES / "bundle.json").read_bytes()


def test_same_secret_and_records_give_the_same_ids_on_every_run(tmp_path: Path) -> None:
    secret = new_secret(tmp_path / "lab-c.json", "lab-c.example")
    as_c = ("--producer-key", "lab-c.example", "--producer-name", "Lab C")
    first = convert(tmp_path, "first.json", *as_c, "--id-secret-file", secret)
    second = convert(tmp_path, "second.json", *as_c, "--id-secret-file", secret)
    assert first.read_bytes() == second.read_bytes()
    other = convert(
        tmp_path,
        "other.json",
        *as_c,
        "--id-secret-file",
        new_secret(tmp_path / "c2.json", "lab-c.example"),
    )
    assert authored_ids(first).isdisjoint(authored_ids(other))


def test_the_secret_file_is_private_and_never_overwritten(tmp_path: Path) -> None:
    path = new_secret(tmp_path / "secret.json", "lab-a.example")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    before = path.read_bytes()
    again = run_dx_module("exchange.id_secret", "lab-a.example", str(path))
    assert again.returncode == 1 and "refusing to overwrite" in again.stderr
    assert path.read_bytes() == before


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ([], "dx convert: error: --id-secret-file: required"),
        (
            ["--id-secret-file", SAMPLES / "keys" / "demo-consortium-key.json"],
            "this is a consortium key file, which every partner holds",
        ),
        (
            ["--id-secret-file", SAMPLES / "keys" / "demo-lab-b-id-secret.json"],
            "producer_key: the file is for 'lab-b.example'",
        ),
        (["--id-secret-file", "no-such-file.json"], "cannot read the id secret file"),
    ],
)
def test_a_missing_or_wrong_secret_is_one_line_and_nothing_written(
    tmp_path: Path, options: list, message: str
) -> None:
    out = tmp_path / "out.json"
    done = run_dx(
        "convert",
        LAB_A_RECORDS,
        "--producer-key",
        "lab-a.example",
        "--producer-name",
        "Lab A",
        *options,
        "-o",
        out,
    )
    lines = done.stderr.decode().strip().splitlines()
    assert done.returncode == 1 and len(lines) == 1, done.stderr
    assert message in lines[0]
    assert not out.exists()


def test_a_config_without_an_id_secret_says_how_to_get_one(tmp_path: Path) -> None:
    config = tmp_path / "producer.toml"
    config.write_text('[producer]\nkey = "lab-a.example"\nname = "Lab A"\n', encoding="utf-8")
    done = run_dx("convert", LAB_A_RECORDS, "--producer-config", config, "-o", tmp_path / "o")
    line = done.stderr.decode().strip()
    assert done.returncode == 1 and "\n" not in line
    assert line.startswith(f"dx convert: error: {config}: producer: id_secret_file: required")
    assert "python3 -m exchange.id_secret lab-a.example FILE" in line
    config.write_text(
        '[producer]\nkey = "lab-a.example"\nname = "Lab A"\nid_scheme = "legacy"\n',
        encoding="utf-8",
    )
    legacy = convert(tmp_path, "legacy.json", "--producer-config", config)
    assert authored_ids(legacy).isdisjoint(authored_ids(SAMPLES / "bundle.json"))

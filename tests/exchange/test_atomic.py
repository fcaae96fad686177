"""The lab side's one file writer (exchange.atomic): all or nothing, `-` is stdout.

Observable guarantees, on real files: a failure at any step leaves the old
file exactly as it was and no temporary file behind; success replaces the
content in one rename, keeping the old file's mode (or the one asked for).
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from exchange.atomic import (
    AtomicOutput,
    OutputError,
    OutputExists,
    write_atomically,
    write_chunks_atomically,
)
from exchange.cli import main
from tests.exchange.helpers import cluster, ip_range, write_jsonl

PRODUCER = ["--producer-key", "lab-test.example", "--producer-name", "Lab Test", "--legacy-ids"]


def test_a_write_replaces_the_content_and_leaves_nothing_else(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_bytes(b"old")
    write_chunks_atomically(target, [b"new ", memoryview(b"content")])
    assert target.read_bytes() == b"new content"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_a_failure_while_writing_keeps_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "out.txt"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), AtomicOutput(target) as out:
        out.write(b"half of the new")
        raise RuntimeError("the producer failed half-way")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_a_failed_rename_keeps_the_old_content_and_no_temporary(tmp_path: Path) -> None:
    """The last step failing (the target became a directory) still changes nothing."""
    target = tmp_path / "out"
    target.mkdir()
    (target / "inside").write_bytes(b"kept")
    with pytest.raises(OutputError, match=f"^{target}: cannot write: "):
        write_atomically(target, b"new")
    assert (target / "inside").read_bytes() == b"kept"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_an_unwritable_directory_is_one_line(tmp_path: Path) -> None:
    target = tmp_path / "no-such-dir" / "out.txt"
    with pytest.raises(OutputError) as raised:
        write_atomically(target, b"x")
    assert str(raised.value) == f"{target}: cannot write: No such file or directory"


def test_modes_kept_or_given(tmp_path: Path) -> None:
    kept = tmp_path / "kept"
    kept.write_bytes(b"old")
    kept.chmod(0o640)
    write_atomically(kept, b"new")
    assert stat.S_IMODE(kept.stat().st_mode) == 0o640
    private = tmp_path / "private"
    write_atomically(private, b"secret", mode=0o600)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    fresh = tmp_path / "fresh"
    write_atomically(fresh, b"x")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(fresh.stat().st_mode) == 0o666 & ~umask


def test_dash_is_standard_output_and_nothing_on_failure(capfdbinary) -> None:
    write_atomically("-", b"to stdout\n")
    assert capfdbinary.readouterr().out == b"to stdout\n"
    with pytest.raises(RuntimeError), AtomicOutput("-") as out:
        out.write(b"never shown")
        raise RuntimeError("failed before commit")
    assert capfdbinary.readouterr().out == b""


def test_convert_dash_o_writes_the_same_bytes_to_stdout(tmp_path: Path, monkeypatch) -> None:
    """`dx convert -o -`: the bundle on stdout is byte for byte the file's; no file named -."""
    records = write_jsonl(tmp_path / "d.jsonl", [cluster(), ip_range()])
    monkeypatch.chdir(tmp_path)
    to_file = CliRunner().invoke(main, ["convert", str(records), *PRODUCER, "-o", "b.json"])
    assert to_file.exit_code == 0, to_file.output
    to_stdout = CliRunner().invoke(main, ["convert", str(records), *PRODUCER, "-o", "-"])
    assert to_stdout.exit_code == 0, to_stdout.output
    assert to_stdout.stdout_bytes == (tmp_path / "b.json").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.json", "d.jsonl"]


def test_an_exclusive_write_never_replaces_and_leaves_nothing(tmp_path: Path) -> None:
    """Key files are created this way: the whole file appears, or the old one stays."""
    target = tmp_path / "key.json"
    write_atomically(target, b"first", mode=0o600, exclusive=True)
    assert target.read_bytes() == b"first"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    with pytest.raises(OutputExists, match="already exists"):
        write_atomically(target, b"second", exclusive=True)
    assert target.read_bytes() == b"first"
    assert [p.name for p in tmp_path.iterdir()] == ["key.json"]

"""Every `dx` command fails the same way (docs/formats.md, "Errors and exit statuses").

- A value of the wrong form on the command line (a bad time, an unknown
  option) is a usage error: exit status 2, one line
  ``dx COMMAND: error: MESSAGE (see dx COMMAND --help)``.
- A file that cannot be used (a missing config, input or key) exits 1 with one
  line ``dx COMMAND: error: FILE: MESSAGE``; a bad record inside an input is
  ``FILE:LINE: FIELD: MESSAGE``.
- Nothing is written when a command fails, and never a traceback.

The commands run in-process through the real `dx` group (click's runner), with
real files.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from exchange.cli import main

BAD_TIME = "yesterday"
TIME_REFUSED = re.compile(
    r"^dx (?P<command>[a-z ]+): error: Invalid value for '(?P<option>--[a-z-]+)': "
    r"'yesterday' is not a timestamp such as 2026-05-01T12:00:00Z "
    r"\(see dx (?P=command) --help\)$"
)


def dx(*args: str | Path) -> Result:
    return CliRunner().invoke(main, [str(arg) for arg in args])


def one_line(result: Result) -> str:
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("summarise this text\n", encoding="utf-8")
    return {
        "missing": tmp_path / "missing.toml",
        "prompts": prompts,
        "out": tmp_path / "out.json",
    }


def _time_cases(files: dict[str, Path]) -> list[tuple[str, list[str | Path]]]:
    config, out = files["missing"], files["out"]
    return [
        ("--at", ["act", "--config", config, "--at", BAD_TIME]),
        ("--since", ["export", "--from-store", config, "--since", BAD_TIME, "-o", out]),
        ("--until", ["export", "--from-store", config, "--until", BAD_TIME, "-o", out]),
        ("--at", ["match", "--config", config, "--ips", config, "--at", BAD_TIME]),
        ("--seen-at", ["match", "--config", config, "--ips", config, "--seen-at", BAD_TIME]),
        ("--first-seen", ["fingerprint", files["prompts"], "--first-seen", BAD_TIME, "-o", out]),
        ("--updated", ["fingerprint", files["prompts"], "--updated", BAD_TIME, "-o", out]),
    ]


def test_a_bad_time_is_a_usage_error_in_every_command(files: dict[str, Path]) -> None:
    """Same refusal, same status (2), whichever command and time option."""
    for option, args in _time_cases(files):
        result = dx(*args)
        assert result.exit_code == 2, (args, result.output)
        match = TIME_REFUSED.match(one_line(result))
        assert match is not None, (args, result.stderr)
        assert match["command"] == str(args[0]) and match["option"] == option
        assert not files["out"].exists()


def test_every_spelling_of_a_time_with_a_zone_is_accepted_and_naive_ones_refused(
    files: dict[str, Path],
) -> None:
    """The one time type: STIX timestamps and ISO 8601 with an offset pass; no zone fails."""
    config = files["missing"]
    spellings = ("2026-05-01T00:00:00Z", "2026-05-01T00:00:00.123456789Z", "2026-05-01T02:00+02:00")
    for good in spellings:
        result = dx("act", "--config", config, "--at", good)
        assert result.exit_code == 1, result.output  # past the option: the config is missing
        assert one_line(result).startswith(f"dx act: error: {config}: cannot read")
    naive = dx("act", "--config", config, "--at", "2026-05-01T00:00:00")
    assert naive.exit_code == 2
    assert "needs a time zone" in one_line(naive)


def test_a_missing_config_is_one_line_and_status_1_in_every_command(
    files: dict[str, Path],
) -> None:
    config, out = files["missing"], files["out"]
    cases: list[tuple[str, list[str | Path]]] = [
        ("act", ["act", "--config", config]),
        ("poll", ["poll", "--config", config, "--once"]),
        ("export", ["export", "--from-store", config, "-o", out]),
        ("match", ["match", "--config", config, "--ips", files["prompts"]]),
        ("publish", ["publish", "--config", config, files["prompts"]]),
        ("feedback show", ["feedback", "show", "--config", config]),
        ("convert", ["convert", files["prompts"], "--producer-config", config, "-o", out]),
    ]
    for command, args in cases:
        result = dx(*args)
        assert result.exit_code == 1, (args, result.output)
        expected = f"dx {command}: error: {config}: cannot read: No such file or directory"
        assert one_line(result) == expected, args
        assert not out.exists()


def test_a_missing_input_or_key_file_is_one_line_and_status_1(
    files: dict[str, Path], tmp_path: Path
) -> None:
    out = files["out"]
    missing_input = tmp_path / "nope.jsonl"
    converted = dx(
        "convert", missing_input, "--producer-key", "lab.example", "--producer-name", "Lab",
        "--legacy-ids", "-o", out,
    )  # fmt: skip
    assert converted.exit_code == 1
    assert one_line(converted).startswith(f"{missing_input}: ")  # an input problem: FILE: ...
    key = tmp_path / "no-key.json"
    fingerprinted = dx(
        "fingerprint", files["prompts"], "--id", "t", "--key-file", key, "-o", out,
        "--scope", "full_prompt", "--confidence", "5", "--benign-fp-rate", "0",
        "--distinct-accounts", "1",
        "--first-seen", "2026-04-01T00:00:00Z", "--last-seen", "2026-04-01T00:00:00Z",
    )  # fmt: skip
    assert fingerprinted.exit_code == 1, fingerprinted.output
    assert one_line(fingerprinted) == f"dx fingerprint: error: {key}: key file not found"
    assert not out.exists()


def test_unknown_commands_and_options_are_one_line_usage_errors() -> None:
    unknown = dx("nosuch")
    assert unknown.exit_code == 2
    assert one_line(unknown) == "dx: error: No such command 'nosuch'. (see dx --help)"
    option = dx("act", "--zzz")
    assert option.exit_code == 2
    assert one_line(option) == "dx act: error: No such option '--zzz'. (see dx act --help)"
    nested = dx("feedback", "show", "--bogus")
    assert nested.exit_code == 2
    assert one_line(nested).startswith("dx feedback show: error: No such option '--bogus'.")

"""``dx fingerprint``: raw prompts in, PromptFingerprint records out, and nothing raw."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from exchange.cli import main
from exchange.privacy import ConsortiumKey, Fingerprint, generate_key, load_key
from exchange.privacy.normalise_p2 import normalise_prompt_p2
from exchange.privacy.template_signature import ContainmentHasher, containment
from exchange.readers import read_records
from mappings.records import PromptFingerprint
from tests.exchange.helpers import DEMO_KEY_FILE, SAMPLES, run_dx

COMMON = [
    "--key-file",
    str(DEMO_KEY_FILE),
    "--confidence",
    "70",
    "--benign-fp-rate",
    "0.02",
    "--updated",
    "2026-05-02T00:00:00Z",
]


def _sample_record(fingerprint_id: str) -> PromptFingerprint:
    records = read_records([SAMPLES / "lab-a" / "detections.jsonl"])
    (record,) = [r for r in records if getattr(r, "fingerprint_id", None) == fingerprint_id]
    assert isinstance(record, PromptFingerprint)
    return record


def _iso(value) -> str:
    return value.isoformat().replace("+00:00", "Z")


def test_the_installed_command_reproduces_a_sample_record(tmp_path: Path) -> None:
    record = _sample_record("lab-a-fp-rubric")
    output = tmp_path / "rubric.jsonl"
    args = [
        "fingerprint",
        SAMPLES / "raw" / "prompts" / "lab-a-rubric-grading.txt",
        "--key-file",
        DEMO_KEY_FILE,
        "--id",
        record.fingerprint_id,
        "--scope",
        record.scope,
        "--confidence",
        str(record.confidence),
        "--benign-fp-rate",
        str(record.benign_fp_rate),
        "--first-seen",
        _iso(record.first_seen),
        "--last-seen",
        _iso(record.last_seen),
        "--updated",
        _iso(record.updated),
        "--distinct-accounts",
        str(record.distinct_accounts),
        "--tlp",
        record.tlp,
        "--campaign",
        str(record.campaign),
        "-o",
        output,
    ]
    for feature in record.elicitation_features:
        args += ["--feature", feature]
    result = run_dx(*args)
    assert result.returncode == 0, result.stderr.decode()
    (produced,) = read_records([output])
    assert produced == record
    assert result.stderr.decode().strip() == f"{output}: 1 fingerprint record(s) from 45 prompts"


def test_jsonl_input_groups_templates_and_counts_accounts_and_times(tmp_path: Path) -> None:
    lines = []
    for i in range(12):
        lines.append(
            {
                "template_id": "grader",
                "account": f"acct-{i % 5}",
                "seen_at": f"2026-04-{10 + i:02d}T08:00:00Z",
                "prompt": f"Grade this answer from 1 to {5 + i} using the rubric: "
                f'"answer number {i}". Explain briefly.',
            }
        )
        lines.append(
            {
                "template_id": "stepper",
                "account": f"other-{i % 3}",
                "seen_at": f"2026-03-{10 + i:02d}T00:00:00+02:00",
                "prompt": f"Solve step by step:\nwhat is {i} + {i * 7}?\nShow reasoning.",
            }
        )
    source = tmp_path / "detected.jsonl"
    source.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    output = tmp_path / "fp.jsonl"
    result = CliRunner().invoke(
        main,
        [
            "fingerprint",
            str(source),
            *COMMON,
            "--id",
            "lab-x",
            "--scope",
            "full_prompt",
            "-o",
            str(output),
        ],
    )
    assert result.exit_code == 0, result.output
    records = read_records([output])
    assert [r.fingerprint_id for r in records] == ["lab-x-grader", "lab-x-stepper"]
    grader, stepper = records
    assert (grader.sample_count, grader.distinct_accounts) == (12, 5)
    assert (stepper.sample_count, stepper.distinct_accounts) == (12, 3)
    assert _iso(grader.first_seen) == "2026-04-10T08:00:00Z"
    assert _iso(grader.last_seen) == "2026-04-21T08:00:00Z"
    assert _iso(stepper.first_seen) == "2026-03-09T22:00:00Z"
    assert {r.normalization for r in records} == {"p2"}
    algorithms = [f.algorithm for f in grader.fingerprints]
    assert algorithms[-1] == "containment-keyed"
    assert set(algorithms[:-1]) == {"hmac-sha256-template"}
    # The numbers are masked, so every stepper prompt has the same normalised template; its
    # nine word pairs are too few for a template signature: the exact hash only.
    assert [f.algorithm for f in stepper.fingerprints] == ["hmac-sha256-template"]


def test_fingerprints_match_a_new_prompt_of_the_template_with_the_key_only(
    tmp_path: Path,
) -> None:
    output = tmp_path / "fp.jsonl"
    result = CliRunner().invoke(
        main,
        [
            "fingerprint",
            str(SAMPLES / "raw" / "prompts" / "lab-a-step-by-step.txt"),
            *COMMON,
            "--id",
            "steps",
            "--scope",
            "user_prefix",
            "--distinct-accounts",
            "3",
            "--first-seen",
            "2026-04-01T00:00:00Z",
            "--last-seen",
            "2026-04-02T00:00:00Z",
            "-o",
            str(output),
        ],
    )
    assert result.exit_code == 0, result.output
    (record,) = read_records([output])
    fresh = (
        "You are an expert algebra tutor. Solve the following problem step by step, "
        "explaining every intermediate result before giving the final answer. Problem: A "
        'courier leaves "Lisbon" at 9:05 driving 70 km/h; a second leaves 15 minutes later '
        "at 95 km/h. When does the second overtake the first? Format your reply as "
        "'Reasoning:' followed by 'Final answer:'."
    )
    key = load_key(DEMO_KEY_FILE)
    shared = {
        f.algorithm: Fingerprint.from_dict(f.model_dump(exclude_none=True))
        for f in record.fingerprints
    }
    signature = shared["containment-keyed"]
    assert dict(signature.match_rule) == {"metric": "containment", "threshold": 0.5}

    def share(prompt: str, with_key: ConsortiumKey) -> float:
        hashes = ContainmentHasher(with_key).hashes(normalise_prompt_p2(prompt))
        return containment(signature.containment_values, hashes)

    assert share(fresh, key) >= 0.5
    assert share(fresh, generate_key(key.key_id)) < 0.2  # the right key id is not enough


def _invoke(tmp_path: Path, *args: str):
    output = tmp_path / "out.jsonl"
    result = CliRunner().invoke(main, ["fingerprint", *args, "-o", str(output)])
    return result, output


def test_text_input_needs_an_id_and_times(tmp_path: Path) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text("Solve step by step: 2 + 2\n", encoding="utf-8")
    result, output = _invoke(tmp_path, str(prompts), *COMMON, "--scope", "full_prompt")
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{prompts}:1: template_id: no template id: pass --id",
        f"{prompts}:1: seen_at: first/last seen unknown: give seen_at per prompt (JSONL) "
        "or pass --first-seen and --last-seen",
        f"{prompts}:1: account: distinct accounts unknown: give account per prompt (JSONL) "
        "or pass --distinct-accounts",
    ]
    assert not output.exists()


def test_bad_prompt_lines_are_reported_per_line(tmp_path: Path) -> None:
    source = tmp_path / "p.jsonl"
    source.write_text(
        json.dumps({"template_id": "t", "prompt": "ok prompt here"})
        + "\n"
        + json.dumps({"template_id": "t", "text": "wrong field"})
        + "\n"
        + "not json\n"
        + json.dumps({"template_id": "t", "prompt": "   "})
        + "\n"
        + json.dumps({"prompt": "x", "seen_at": "yesterday"})
        + "\n",
        encoding="utf-8",
    )
    result, output = _invoke(tmp_path, str(source), *COMMON, "--scope", "full_prompt")
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert lines[0] == f"{source}:2: prompt: Field required"
    assert lines[1] == f"{source}:2: text: unknown field"
    assert lines[2].startswith(f"{source}:3: malformed JSON: Expecting value")
    assert lines[3] == f"{source}:4: prompt: nothing left after normalisation"
    assert lines[4].startswith(f"{source}:5: seen_at: Input should be a valid datetime")
    assert not output.exists()


def test_key_file_problems_are_one_line(tmp_path: Path) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text("hello there prompt\n", encoding="utf-8")
    short = tmp_path / "short.json"
    short.write_text('{"key_id": "k", "secret_b64": "AAAA"}', encoding="utf-8")
    args = [
        str(prompts),
        "--id",
        "x",
        "--scope",
        "full_prompt",
        "--confidence",
        "5",
        "--benign-fp-rate",
        "0",
        "--distinct-accounts",
        "1",
        "--first-seen",
        "2026-04-01T00:00:00Z",
        "--last-seen",
        "2026-04-01T00:00:00Z",
    ]
    result, output = _invoke(tmp_path, *args, "--key-file", str(short))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"dx fingerprint: error: {short}: field 'secret_b64': secret is 3 bytes; "
        "at least 32 are required"
    ]
    missing, _ = _invoke(tmp_path, *args, "--key-file", str(tmp_path / "nope.json"))
    assert missing.stderr.splitlines() == [
        f"dx fingerprint: error: {tmp_path / 'nope.json'}: key file not found"
    ]
    assert not output.exists()


def test_out_of_range_options_are_usage_errors(tmp_path: Path) -> None:
    prompts = tmp_path / "p.txt"
    prompts.write_text("hello there prompt\n", encoding="utf-8")
    result, output = _invoke(
        tmp_path,
        str(prompts),
        "--key-file",
        str(DEMO_KEY_FILE),
        "--id",
        "x",
        "--scope",
        "full_prompt",
        "--confidence",
        "120",
        "--benign-fp-rate",
        "0",
    )
    assert result.exit_code == 2
    assert "120 is not in the range 0<=x<=100" in result.stderr
    assert not output.exists()

"""Privacy: no raw value from samples/raw/ appears in anything the project emits.

The outputs searched: the three sample bundles, every file under samples/lab-*
(detection records in all formats, hashed accounts), and fresh outputs of
``dx fingerprint`` and ``dx pseudonymise`` run on the raw inputs. The raw
values searched for: every email, phone number (as written, normalised, and
bare digits), device id and account id; every prompt, whole and normalised;
and every distinctive prompt word (five letters or more, not part of the
exchange's fixed vocabulary: extension definitions, well-known objects, the
record vocabularies, which legitimately say "reasoning" or "rubric", and the
ids and names analysts gave their records, such as "lab-b-tmpl-tools-02").
"""

from __future__ import annotations

import csv
import json
import re
import typing

import pytest

import mappings.records
from exchange.privacy import normalise_identifier, normalise_prompt
from exchange.readers import read_records
from mappings import companions
from mappings.well_known import WELL_KNOWN_OBJECTS
from tests.exchange.helpers import DEMO_KEY_FILE, REPO, SAMPLES, run_dx

RAW = SAMPLES / "raw"
_LABELS = ("cluster_id", "fingerprint_id", "campaign", "as_name")
"""Record fields an analyst writes by hand (ids, names): public by choice, not from prompts."""
_WORD = re.compile(r"[A-Za-z\u00c0-\u024f]+")


def _words(text: str) -> set[str]:
    return {word.lower() for word in _WORD.findall(text)}


def _fixed_vocabulary() -> set[str]:
    """Words the exchange emits whatever the prompts: its vocabularies and analysts' labels."""
    vocabulary: set[str] = set()
    for path in (SAMPLES / "lab-a" / "detections.jsonl", SAMPLES / "lab-b" / "detections.jsonl"):
        for record in read_records([path]):
            labels = [getattr(record, name, None) or "" for name in _LABELS]
            vocabulary |= _words(" ".join(labels))
    for path in (REPO / "mappings" / "data").rglob("*.json"):
        vocabulary |= _words(path.read_text(encoding="utf-8"))
    vocabulary |= _words(json.dumps(WELL_KNOWN_OBJECTS))
    vocabulary |= _words(companions.CLUSTER_INDICATOR_DESCRIPTION + companions.REPORT_DESCRIPTION)
    for name in dir(mappings.records):
        value = getattr(mappings.records, name)
        if typing.get_origin(value) is typing.Literal:
            vocabulary |= _words(" ".join(map(str, typing.get_args(value))).replace("_", " "))
    return vocabulary


def _raw_identifiers() -> set[str]:
    values: set[str] = set()
    for path in RAW.glob("*.csv"):
        with path.open(encoding="utf-8", newline="") as handle:
            for row in csv.DictReader(handle):
                for column in ("account_id", "email", "phone", "device"):
                    if row[column]:
                        values.add(row[column])
                if row["email"]:
                    values.add(normalise_identifier("email", row["email"]))
                if row["phone"]:
                    e164 = normalise_identifier("phone", row["phone"])
                    values |= {e164, e164.lstrip("+")}
    return values


def _prompts() -> list[str]:
    lines = []
    for path in sorted((RAW / "prompts").glob("*.txt")):
        lines += [line for line in path.read_text(encoding="utf-8").splitlines() if line]
    return lines


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Every emitted file's text, by name; fresh CLI outputs are produced here."""
    texts = {p.name: p.read_text(encoding="utf-8") for p in SAMPLES.glob("*bundle.json")}
    for lab in ("lab-a", "lab-b"):
        for path in (SAMPLES / lab).iterdir():
            if path.suffix not in (".json", ".jsonl", ".csv"):
                continue  # the producer config is the lab's own settings, not output
            texts[f"{lab}/{path.name}"] = path.read_text(encoding="utf-8")
    tmp = tmp_path_factory.mktemp("privacy")
    for prompts in sorted((RAW / "prompts").glob("*.txt")):
        output = tmp / f"{prompts.stem}.jsonl"
        result = run_dx(
            "fingerprint",
            prompts,
            "--key-file",
            DEMO_KEY_FILE,
            "--id",
            prompts.stem,
            "--scope",
            "full_prompt",
            "--confidence",
            "50",
            "--benign-fp-rate",
            "0.1",
            "--distinct-accounts",
            "1",
            "--first-seen",
            "2026-04-01T00:00:00Z",
            "--last-seen",
            "2026-04-02T00:00:00Z",
            "-o",
            output,
        )
        assert result.returncode == 0, result.stderr.decode()
        texts[f"fingerprint:{prompts.name}"] = output.read_text(encoding="utf-8")
    for accounts in sorted(RAW.glob("*.csv")):
        output = tmp / f"{accounts.stem}-hashed.csv"
        result = run_dx(
            "pseudonymise",
            accounts,
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
        texts[f"pseudonymise:{accounts.name}"] = output.read_text(encoding="utf-8")
    assert len(texts) >= 15
    return texts


def test_no_raw_identifier_appears_in_any_output(outputs: dict[str, str]) -> None:
    identifiers = _raw_identifiers()
    assert len(identifiers) > 60
    for name, text in outputs.items():
        lowered = text.lower()
        leaked = sorted(value for value in identifiers if value.lower() in lowered)
        assert leaked == [], f"{name} contains raw identifiers"


def test_no_prompt_text_appears_in_any_output(outputs: dict[str, str]) -> None:
    prompts = _prompts()
    assert len(prompts) >= 200
    normalised = {normalise_prompt(prompt) for prompt in prompts}
    for name, text in outputs.items():
        lowered = text.lower()
        assert [p for p in prompts if p.lower() in lowered] == [], name
        assert [n for n in normalised if n in lowered] == [], name


def test_no_distinctive_prompt_word_appears_in_any_output(outputs: dict[str, str]) -> None:
    prompt_words = {w for p in _prompts() for w in _words(p) if len(w) >= 5}
    distinctive = prompt_words - _fixed_vocabulary()
    assert len(distinctive) >= 100
    assert {"quadrilateral", "turquoise", "montevideo", "overtake"} <= distinctive
    for name, text in outputs.items():
        assert sorted(distinctive & _words(text)) == [], name

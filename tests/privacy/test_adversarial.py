"""One small regression per evasion class of the adversarial benchmark, and the key.

The corpus is the benchmark's own (``bench/adversarial_corpus.py``), written
apart from the matcher; signatures are learned with ``fingerprint_template_set``
(what ``dx fingerprint`` shares) and prompts matched with
``exchange.match.prompts`` (what ``dx match`` runs). The full figures come from
``python bench/prompt_adversarial.py``; here a dozen templates of every shape
(including short instructions around long slots) and a few held-out prompts
per class keep each class from silently regressing.
"""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path
from types import ModuleType

import pytest

from exchange.feed.current import FingerprintEntry
from exchange.match.prompts import PromptIndex, build_prompt_index, match_prompts
from exchange.privacy import ConsortiumKey, fingerprint_template_set

BENCH = Path(__file__).resolve().parents[2] / "bench" / "adversarial_corpus.py"
TEMPLATE_NAMES = (
    "cot-solve",
    "rubric-grade",
    "pref-judge",
    "translate-explain",
    "qa-context",
    "bug-explain",
    "short-summarise",
    "short-translate",
    "short-math",
    "short-code-fix",
    "short-tldr",
    "short-entities",
)
PER_TEMPLATE = 3


def _load_corpus() -> ModuleType:
    spec = importlib.util.spec_from_file_location("adversarial_corpus", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("adversarial_corpus", module)
    spec.loader.exec_module(module)
    return module


corpus = _load_corpus()


def _entries(key: ConsortiumKey, rng: random.Random) -> list[FingerprintEntry]:
    out = []
    for template in corpus.TEMPLATES:
        if template.name not in TEMPLATE_NAMES:
            continue
        payload = fingerprint_template_set(corpus.campaign_prompts(template, 16, rng), key)
        for position, fingerprint in enumerate(payload.fingerprints):
            data = fingerprint.to_dict()
            out.append(
                FingerprintEntry(
                    algorithm=data["algorithm"],
                    key_id=data["key_id"],
                    value=data["value"],
                    match_rule=data["match_rule"],
                    parameters={k: v for k, v in data["parameters"].items() if k != "key_id"},
                    producer="identity--test",
                    indicator_id=f"indicator--{template.name}-{position}",
                    fingerprint_id=template.name,
                    confidence=80,
                )
            )
    return out


@pytest.fixture(scope="module")
def shared(test_key: ConsortiumKey) -> list[FingerprintEntry]:
    return _entries(test_key, random.Random(20261207))


@pytest.fixture(scope="module")
def index(test_key: ConsortiumKey, shared: list[FingerprintEntry]) -> PromptIndex:
    return build_prompt_index(test_key, shared)


def _found(index: PromptIndex, prompts: list[str]) -> list[set[str]]:
    hits, _ = match_prompts(index, prompts)
    found: list[set[str]] = [set() for _ in prompts]
    for hit in hits:
        found[hit.position].add(hit.entry.fingerprint_id or "")
    return found


def test_every_sampled_template_has_a_signature(shared: list[FingerprintEntry]) -> None:
    with_signature = {e.fingerprint_id for e in shared if e.algorithm == "containment-keyed"}
    assert with_signature == set(TEMPLATE_NAMES)


@pytest.mark.parametrize("evasion", sorted(corpus.EVASIONS))
def test_evasion_class_is_still_matched(index: PromptIndex, evasion: str) -> None:
    rng = random.Random(f"regression-{evasion}")
    prompts, owners = [], []
    for template in corpus.TEMPLATES:
        if template.name in TEMPLATE_NAMES:
            for _ in range(PER_TEMPLATE):
                prompts.append(corpus.test_prompt(template, evasion, rng))
                owners.append(template.name)
    found = _found(index, prompts)
    missed = [
        (owner, p[:80])
        for owner, p, names in zip(owners, prompts, found, strict=True)
        if owner not in names
    ]
    recall = 1 - len(missed) / len(prompts)
    assert recall >= corpus.TARGETS[evasion], missed


def test_benign_prompts_do_not_match(index: PromptIndex) -> None:
    benign = corpus.benign_prompts(240, 99)
    for kind, prompts in benign.items():
        found = _found(index, prompts)
        assert sum(1 for names in found if names) == 0, kind


def test_a_partner_without_the_key_cannot_match(
    test_key: ConsortiumKey,
    shared: list[FingerprintEntry],
    same_id_other_secret: ConsortiumKey,
    other_key: ConsortiumKey,
) -> None:
    template = next(t for t in corpus.TEMPLATES if t.name == "cot-solve")
    prompts = [corpus.fill(template, random.Random(n), "test") for n in range(10)]
    assert all(
        "cot-solve" in names for names in _found(build_prompt_index(test_key, shared), prompts)
    )
    # Same key id, wrong secret: the signatures are noise to it; nothing matches.
    wrong_secret = build_prompt_index(same_id_other_secret, shared)
    assert len(wrong_secret.containment_entries) == len(TEMPLATE_NAMES)
    assert _found(wrong_secret, prompts) == [set()] * len(prompts)
    # Another key id: never compared at all, and said so.
    other = build_prompt_index(other_key, shared)
    assert len(other) == 0 and other.other_keys == len(shared)
    assert _found(other, prompts) == [set()] * len(prompts)

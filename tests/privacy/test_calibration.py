"""The calibration targets and the no-leak guarantee, on a small fixed corpus.

Targets (issue 2): the near-duplicate match finds at least 95% of same-template
pairs and at most 1% of unrelated pairs, for MinHash and SimHash at the
thresholds the fingerprints carry. The full-size figures and the threshold
sweep come from bench/fingerprint_calibration.py (see docs/privacy.md).
"""

from __future__ import annotations

import json
import random
import re

import pytest

from exchange.privacy import (
    DEFAULT_HAMMING_THRESHOLD,
    DEFAULT_JACCARD_THRESHOLD,
    ConsortiumKey,
    fingerprint_prompts,
    fingerprint_template_set,
    matches,
)
from exchange.privacy.calibration import (
    PairSample,
    minhash_rates,
    sample_pairs,
    simhash_rates,
)
from exchange.privacy.calibration_corpus import TEMPLATES, Corpus, generate_corpus
from exchange.privacy.fingerprint import MINHASH_SHINGLE_SIZE, SIMHASH_SHINGLE_SIZE

SEED = 20260501


@pytest.fixture(scope="module")
def corpus() -> Corpus:
    return generate_corpus(SEED, prompts_per_template=10, unrelated=200)


@pytest.fixture(scope="module")
def sample(corpus: Corpus) -> PairSample:
    return sample_pairs(corpus, unrelated_pairs=6000, seed=SEED)


def test_corpus_is_deterministic_and_varied(corpus: Corpus) -> None:
    assert len(TEMPLATES) >= 30
    assert generate_corpus(SEED, prompts_per_template=10, unrelated=200) == corpus
    assert generate_corpus(SEED + 1, prompts_per_template=10, unrelated=200) != corpus
    templated = [text for _, text in corpus.templated]
    assert len(set(templated)) > 0.95 * len(templated)  # slots really vary
    assert len(set(corpus.unrelated)) == len(corpus.unrelated)


def test_sample_has_every_kind_of_pair(sample: PairSample) -> None:
    assert len(sample.same_template) == len(TEMPLATES) * 45
    assert len(sample.cross_template) == 3000 and len(sample.free_form) == 3000


def test_minhash_meets_the_targets(sample: PairSample, test_key: ConsortiumKey) -> None:
    (row,) = minhash_rates(sample, test_key, MINHASH_SHINGLE_SIZE, [DEFAULT_JACCARD_THRESHOLD])
    assert row.same_template >= 0.95, row
    assert row.unrelated <= 0.01, row


def test_simhash_meets_the_targets(sample: PairSample, test_key: ConsortiumKey) -> None:
    (row,) = simhash_rates(sample, test_key, SIMHASH_SHINGLE_SIZE, [DEFAULT_HAMMING_THRESHOLD])
    assert row.same_template >= 0.95, row
    assert row.unrelated <= 0.01, row


def test_public_matches_agrees_with_the_rates(sample: PairSample, test_key: ConsortiumKey) -> None:
    """The rates above use raw scores; the published rule via ``matches`` gives the same."""
    fingerprints = fingerprint_prompts(list(sample.prompts), test_key)
    rng = random.Random(SEED)
    same = rng.sample(sample.same_template, 300)
    unrelated = rng.sample(sample.unrelated, 1000)
    for algorithm in (1, 2):
        same_rate = sum(
            matches(fingerprints[i][algorithm], fingerprints[j][algorithm]) for i, j in same
        )
        unrelated_rate = sum(
            matches(fingerprints[i][algorithm], fingerprints[j][algorithm]) for i, j in unrelated
        )
        assert same_rate >= 0.95 * len(same)
        assert unrelated_rate <= 0.01 * len(unrelated)


_TOKEN = re.compile(r"[A-Za-z0-9+/=_.:-]+")


def _tokens(text: str) -> set[str]:
    return {token.lower() for token in _TOKEN.findall(text)}


def test_no_prompt_text_in_serialised_fingerprints(corpus: Corpus, test_key: ConsortiumKey) -> None:
    """No raw prompt, and no word of a prompt longer than 3 letters, appears in the output.

    The serialisation is cut into tokens the way values are written (base64,
    hex, identifiers), so a word can only be found if it is a whole value;
    the fixed vocabulary of the format itself (field names, algorithm names)
    is taken from fingerprints of a meaningless prompt and set aside.
    """
    templated = [text for _, text in corpus.templated]
    prompts = templated + list(corpus.unrelated)
    per_prompt = fingerprint_prompts(prompts, test_key)
    sets = [
        fingerprint_template_set(templated[i : i + 10], test_key)
        for i in range(0, len(templated), 10)
    ]
    output = json.dumps(
        {
            "prompts": [[f.to_dict() for f in fps] for fps in per_prompt],
            "sets": [s.to_dict() for s in sets],
        },
        ensure_ascii=False,
    )
    baseline = _tokens(
        json.dumps(
            [f.to_dict() for f in fingerprint_prompts(["zq"], test_key)[0]]
            + [fingerprint_template_set(["zq"], test_key).to_dict()]
        )
    )
    words = {word.lower() for text in prompts for word in re.findall(r"[^\W\d_]{4,}", text)}
    leaked = (_tokens(output) - baseline) & words
    assert not leaked, sorted(leaked)[:20]
    lowered = output.lower()
    for text in prompts:
        assert text.lower() not in lowered
    # And the check is not vacuous: a raw prompt placed in the output would be caught.
    assert _tokens(output + " " + prompts[0]) & words - baseline

"""Matching: similarity, the match rules, refusing other keys, and the LSH index."""

from __future__ import annotations

import statistics

import pytest

from exchange.privacy import (
    ConsortiumKey,
    Fingerprint,
    IncompatibleFingerprintsError,
    KeyMismatchError,
    MinHashLSHIndex,
    fingerprint_prompt,
    fingerprint_prompts,
    matches,
    similarity,
)
from exchange.privacy.calibration_corpus import generate_corpus
from exchange.privacy.lsh import candidate_probability
from exchange.privacy.minhash import estimated_jaccard
from exchange.privacy.simhash import hamming_distance

SCAFFOLD = (
    "Act as a senior {job} with many years of experience. I will ask you questions about "
    "{topic} and you will answer in detail, explaining your reasoning step by step as you "
    "would to a junior colleague."
)


def test_same_template_matches_and_other_text_does_not(test_key: ConsortiumKey) -> None:
    a = fingerprint_prompt(SCAFFOLD.format(job="tax lawyer", topic="trusts"), test_key)
    b = fingerprint_prompt(SCAFFOLD.format(job="chemist", topic="polymer aging"), test_key)
    c = fingerprint_prompt("What is a good recipe for vegetable soup with lentils?", test_key)
    assert not matches(a[0], b[0])  # exact hashes differ: the slots are words
    assert matches(a[1], b[1]) and matches(a[2], b[2])
    assert not matches(a[1], c[1]) and not matches(a[2], c[2])
    assert similarity(a[1], a[1]) == 1.0 and similarity(a[0], a[0]) == 1.0
    assert 0.0 <= similarity(a[2], c[2]) <= 1.0


def test_the_reference_rule_decides(test_key: ConsortiumKey) -> None:
    a = fingerprint_prompt(SCAFFOLD.format(job="tax lawyer", topic="trusts"), test_key)[1]
    b = fingerprint_prompt(SCAFFOLD.format(job="chemist", topic="polymer aging"), test_key)[1]
    score = similarity(a, b)
    strict = Fingerprint(
        b.algorithm, b.parameters, b.value, {"metric": "jaccard", "threshold": 1.0}
    )
    loose = Fingerprint(
        b.algorithm, b.parameters, b.value, {"metric": "jaccard", "threshold": score}
    )
    assert not matches(a, strict)
    assert matches(a, loose)


def test_comparison_across_key_ids_is_refused(test_key, other_key) -> None:
    mine = fingerprint_prompt("the same prompt text for both labs", test_key)
    theirs = fingerprint_prompt("the same prompt text for both labs", other_key)
    for a, b in zip(mine, theirs, strict=True):
        with pytest.raises(KeyMismatchError, match="different keys"):
            similarity(a, b)
        with pytest.raises(KeyMismatchError):
            matches(a, b)
    index = MinHashLSHIndex(test_key.key_id)
    with pytest.raises(KeyMismatchError):
        index.add("x", theirs[1])
    with pytest.raises(KeyMismatchError):
        index.query(theirs[1])


def test_incompatible_fingerprints_are_refused(test_key) -> None:
    exact, minhash, simhash = fingerprint_prompt("some text to fingerprint here", test_key)
    with pytest.raises(IncompatibleFingerprintsError, match="cannot compare"):
        similarity(minhash, simhash)
    other_params = Fingerprint(
        minhash.algorithm, {**minhash.parameters, "shingle_size": 4}, minhash.value
    )
    with pytest.raises(IncompatibleFingerprintsError, match="shingle_size"):
        matches(minhash, other_params)
    with pytest.raises(ValueError, match="MinHash"):
        MinHashLSHIndex(test_key.key_id).add("e", exact)


def test_without_the_key_signatures_are_chance_level(
    test_key, other_key, same_id_other_secret
) -> None:
    """The same prompts under another secret: MinHash agrees on ~0 slots, SimHash on ~half
    the bits. A lab with the right key id but the wrong secret matches nothing."""
    corpus = generate_corpus(5, prompts_per_template=1, unrelated=0)
    prompts = [text for _, text in corpus.templated]
    ours = fingerprint_prompts(prompts, test_key)
    for foreign_key in (other_key, same_id_other_secret):
        theirs = fingerprint_prompts(prompts, foreign_key)
        jaccards = [
            estimated_jaccard(a[1].minhash_signature, b[1].minhash_signature)
            for a, b in zip(ours, theirs, strict=True)
        ]
        distances = [
            hamming_distance(a[2].simhash_value, b[2].simhash_value)
            for a, b in zip(ours, theirs, strict=True)
        ]
        assert max(jaccards) <= 1 / 128  # at most one slot equal by chance
        assert 28 <= statistics.mean(distances) <= 36  # coin flips: 32 on average
        assert min(distances) > 20  # none within the match threshold
        assert all(a[0].value != b[0].value for a, b in zip(ours, theirs, strict=True))
    misconfigured = fingerprint_prompts(prompts, same_id_other_secret)
    assert not any(
        matches(mine[i], theirs_[i])
        for mine, theirs_ in zip(ours, misconfigured, strict=True)
        for i in range(3)
    )


def test_lsh_index_finds_template_mates(test_key) -> None:
    corpus = generate_corpus(11, prompts_per_template=4, unrelated=40)
    fingerprints = fingerprint_prompts([text for _, text in corpus.templated], test_key)
    free = fingerprint_prompts(list(corpus.unrelated), test_key)
    index = MinHashLSHIndex(test_key.key_id)
    for position, ((template, _), fps) in enumerate(
        zip(corpus.templated, fingerprints, strict=True)
    ):
        if position % 4 == 0:  # the first prompt of each template is "published"
            index.add(f"template-{template}", fps[1])
    assert len(index) == len({t for t, _ in corpus.templated})
    found = 0
    for position, ((template, _), fps) in enumerate(
        zip(corpus.templated, fingerprints, strict=True)
    ):
        if position % 4:
            hits = [item for item, _ in index.query(fps[1])]
            found += hits[:1] == [f"template-{template}"]
            assert all(item == f"template-{template}" for item in hits)
    assert found >= 0.9 * 3 * len(index)
    assert all(index.query(fps[1]) == [] for fps in free)


def test_lsh_index_maintenance(test_key) -> None:
    a, b = (fingerprint_prompt(t, test_key)[1] for t in ("one two three four", "five six seven"))
    index = MinHashLSHIndex(test_key.key_id, bands=32, rows=4)
    index.add("a", a)
    index.add("a", b)  # replaces
    assert len(index) == 1 and "a" in index and list(index) == ["a"]
    assert index.query(b) == [("a", 1.0)]
    assert index.query(a) == []
    index.remove("a")
    assert len(index) == 0 and index.candidates(b) == set()
    with pytest.raises(ValueError, match="bands x rows"):
        MinHashLSHIndex("k", bands=65, rows=2)


def test_candidate_probability_at_the_threshold() -> None:
    assert candidate_probability(0.35) > 0.999
    assert candidate_probability(0.03) < 0.1

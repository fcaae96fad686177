"""Measuring how well the near-duplicate signatures separate templates from the rest.

Used by ``bench/fingerprint_calibration.py`` (full corpus, threshold sweep,
speed) and by the tests (small corpus, the targets asserted). A pair of
prompts is *same-template* when both fill the same scaffold, *unrelated*
otherwise (two different scaffolds, a scaffold and a free-form prompt, or two
free-form prompts). Targets from the issue: at least 95% of same-template
pairs match and at most 1% of unrelated pairs do.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

from exchange.privacy.calibration_corpus import Corpus
from exchange.privacy.keys import ConsortiumKey
from exchange.privacy.minhash import MinHashSignature, estimated_jaccard, minhasher_for
from exchange.privacy.normalise import normalise_prompt
from exchange.privacy.shingles import prompt_shingles
from exchange.privacy.simhash import hamming_distance, simhasher_for

Pair = tuple[int, int]


@dataclass(frozen=True)
class PairSample:
    """Prompts (templated first, then unrelated) and index pairs into them."""

    prompts: tuple[str, ...]
    same_template: tuple[Pair, ...]
    cross_template: tuple[Pair, ...]
    free_form: tuple[Pair, ...]
    """Pairs with at least one free-form prompt."""

    @property
    def unrelated(self) -> tuple[Pair, ...]:
        return self.cross_template + self.free_form


def sample_pairs(corpus: Corpus, *, unrelated_pairs: int, seed: int) -> PairSample:
    """Every same-template pair, and ``unrelated_pairs`` random other pairs.

    Half of the unrelated pairs join two different scaffolds (the hardest
    negatives: scaffolds share phrasing such as "step by step"), half involve
    a free-form prompt.
    """
    rng = random.Random(seed)
    prompts = tuple(text for _, text in corpus.templated) + corpus.unrelated
    by_template: dict[int, list[int]] = {}
    for index, (template, _) in enumerate(corpus.templated):
        by_template.setdefault(template, []).append(index)
    same = tuple(pair for members in by_template.values() for pair in combinations(members, 2))

    templated_count = len(corpus.templated)
    template_of = [template for template, _ in corpus.templated]
    cross: set[Pair] = set()
    free: set[Pair] = set()
    wanted_cross = unrelated_pairs // 2 if len(by_template) > 1 else 0
    wanted_free = unrelated_pairs - wanted_cross if corpus.unrelated else 0
    for _ in range(50 * unrelated_pairs):  # bounded: enough draws even with collisions
        if len(cross) >= wanted_cross:
            break
        i, j = rng.randrange(templated_count), rng.randrange(templated_count)
        if template_of[i] != template_of[j]:
            cross.add((min(i, j), max(i, j)))
    for _ in range(50 * unrelated_pairs):
        if len(free) >= wanted_free:
            break
        i = templated_count + rng.randrange(len(corpus.unrelated))
        j = rng.randrange(len(prompts))
        if i != j:
            free.add((min(i, j), max(i, j)))
    return PairSample(prompts, same, tuple(sorted(cross)), tuple(sorted(free)))


def minhash_signatures(
    prompts: Sequence[str], key: ConsortiumKey, shingle_size: int
) -> list[MinHashSignature]:
    shingle_sets = [set(prompt_shingles(normalise_prompt(p), shingle_size)) for p in prompts]
    return minhasher_for(key).signatures(shingle_sets)


def simhash_values(prompts: Sequence[str], key: ConsortiumKey, shingle_size: int) -> list[int]:
    hasher = simhasher_for(key)
    return [hasher.simhash(prompt_shingles(normalise_prompt(p), shingle_size)) for p in prompts]


def jaccard_scores(signatures: Sequence[MinHashSignature], pairs: Sequence[Pair]) -> list[float]:
    return [estimated_jaccard(signatures[i], signatures[j]) for i, j in pairs]


def hamming_scores(values: Sequence[int], pairs: Sequence[Pair]) -> list[int]:
    return [hamming_distance(values[i], values[j]) for i, j in pairs]


def share_at_least(scores: Sequence[float], threshold: float) -> float:
    return sum(score >= threshold for score in scores) / len(scores) if scores else 0.0


def share_at_most(scores: Sequence[int], threshold: int) -> float:
    return sum(score <= threshold for score in scores) / len(scores) if scores else 0.0


@dataclass(frozen=True)
class RateRow:
    """Match rates at one threshold."""

    threshold: float
    same_template: float
    unrelated: float
    cross_template: float
    free_form: float

    def meets_targets(self) -> bool:
        return self.same_template >= 0.95 and self.unrelated <= 0.01


def minhash_rates(
    sample: PairSample, key: ConsortiumKey, shingle_size: int, thresholds: Sequence[float]
) -> list[RateRow]:
    signatures = minhash_signatures(sample.prompts, key, shingle_size)
    same = jaccard_scores(signatures, sample.same_template)
    cross = jaccard_scores(signatures, sample.cross_template)
    free = jaccard_scores(signatures, sample.free_form)
    return [
        RateRow(
            t,
            share_at_least(same, t),
            share_at_least(cross + free, t),
            share_at_least(cross, t),
            share_at_least(free, t),
        )
        for t in thresholds
    ]


def simhash_rates(
    sample: PairSample, key: ConsortiumKey, shingle_size: int, thresholds: Sequence[int]
) -> list[RateRow]:
    values = simhash_values(sample.prompts, key, shingle_size)
    same = hamming_scores(values, sample.same_template)
    cross = hamming_scores(values, sample.cross_template)
    free = hamming_scores(values, sample.free_form)
    return [
        RateRow(
            t,
            share_at_most(same, t),
            share_at_most(cross + free, t),
            share_at_most(cross, t),
            share_at_most(free, t),
        )
        for t in thresholds
    ]


def format_rows(title: str, rows: Sequence[RateRow], chosen: float) -> str:
    """A plain-text table; the chosen threshold is marked with '*'."""
    lines = [
        title,
        f"  {'threshold':>10} {'same-template':>14} {'unrelated':>10} "
        f"{'cross-tmpl':>10} {'free-form':>10}  targets",
    ]
    for row in rows:
        mark = "*" if row.threshold == chosen else " "
        lines.append(
            f" {mark}{row.threshold:>10g} {row.same_template:>14.2%} {row.unrelated:>10.2%} "
            f"{row.cross_template:>10.2%} {row.free_form:>10.2%}  "
            f"{'met' if row.meets_targets() else '-'}"
        )
    return "\n".join(lines)

"""Matching raw prompts against the shared prompt fingerprints, locally and keyed.

Each prompt is normalised and fingerprinted with the consortium key
(``exchange.privacy.fingerprint_prompts``: exact template hash, MinHash,
SimHash), then compared with the shared fingerprints made under the same key
id and the same parameters:

* exact template hashes: one dictionary probe;
* MinHash: candidates from the LSH index (``MinHashLSHIndex``, banding),
  each verified by the shared fingerprint's own Jaccard threshold;
* SimHash: Hamming distance to each shared SimHash (a XOR and a popcount per
  pair; feeds hold few SimHashes, one per shared template).

Shared fingerprints made under another key id or with other parameters
(shingle size, normalisation version) cannot be compared; they are counted
and reported, never guessed at. A prompt that matches several fingerprints
of one shared template reports only its strongest match for that template:
an exact hash beats a near-duplicate, then the higher similarity wins.

SimHash is only a fallback: a shared template's SimHash is used when the
feed holds no comparable MinHash for that template. The calibration
(docs/privacy.md) shows MinHash separating templates from unrelated prompts
with a wide margin, while SimHash's 64 bits meet the false-positive target
only narrowly; short unrelated prompts come within its Hamming threshold now
and then. It still lets a producer that shares only SimHashes be matched.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from exchange.feed.current import FingerprintEntry
from exchange.match.results import RULE_EXACT_TEMPLATE, RULE_MINHASH, RULE_SIMHASH
from exchange.privacy import (
    ALGORITHM_EXACT,
    ALGORITHM_MINHASH,
    ALGORITHM_SIMHASH,
    ConsortiumKey,
    Fingerprint,
    MinHashLSHIndex,
    fingerprint_prompts,
    normalise_prompt,
)

_BATCH = 2000
_PROBE_PROMPT = "parameter probe for the local fingerprint settings"
_RULE_BY_ALGORITHM = {
    ALGORITHM_EXACT: RULE_EXACT_TEMPLATE,
    ALGORITHM_MINHASH: RULE_MINHASH,
    ALGORITHM_SIMHASH: RULE_SIMHASH,
}
_RULE_RANK = {RULE_EXACT_TEMPLATE: 0, RULE_MINHASH: 1, RULE_SIMHASH: 2}


@dataclass(frozen=True)
class PromptHit:
    """One prompt (by its position in the input list) matched one shared fingerprint."""

    position: int
    entry: FingerprintEntry
    rule: str
    similarity: float
    threshold: float | None

    def template(self) -> tuple[str | None, str]:
        return _template_of(self.entry)

    def strength(self) -> tuple[int, float]:
        return (-_RULE_RANK[self.rule], self.similarity)


@dataclass
class _SimHashRef:
    value: int
    threshold: int
    entry: FingerprintEntry


@dataclass
class PromptIndex:
    """The shared fingerprints comparable with what this lab computes under ``key``."""

    key: ConsortiumKey
    exact: dict[str, list[FingerprintEntry]] = field(default_factory=dict)
    minhash: MinHashLSHIndex | None = None
    minhash_entries: list[FingerprintEntry] = field(default_factory=list)
    simhash: list[_SimHashRef] = field(default_factory=list)
    other_keys: int = 0
    simhash_superseded: int = 0
    incompatible: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return sum(map(len, self.exact.values())) + len(self.minhash_entries) + len(self.simhash)


def build_prompt_index(key: ConsortiumKey, entries: Iterable[FingerprintEntry]) -> PromptIndex:
    """Index the shared fingerprints that can be compared with this lab's (same key, same
    parameters); count and explain the rest."""
    index = PromptIndex(key=key, minhash=MinHashLSHIndex(key.key_id))
    local = {
        fp.algorithm: dict(fp.parameters) for fp in fingerprint_prompts([_PROBE_PROMPT], key)[0]
    }
    simhash_candidates: list[tuple[FingerprintEntry, Fingerprint]] = []
    for entry in entries:
        if entry.key_id != key.key_id:
            index.other_keys += 1
            continue
        expected = local.get(entry.algorithm)
        try:
            shared = Fingerprint(
                entry.algorithm,
                {**entry.parameters, "key_id": entry.key_id},
                entry.value,
                entry.match_rule,
            )
        except ValueError as exc:
            index.incompatible.append((entry.indicator_id, f"unusable fingerprint: {exc}"))
            continue
        if expected is None or dict(shared.parameters) != expected:
            index.incompatible.append(
                (entry.indicator_id, f"{entry.algorithm} parameters differ from this lab's")
            )
            continue
        if shared.algorithm == ALGORITHM_EXACT:
            index.exact.setdefault(shared.value, []).append(entry)
        elif shared.algorithm == ALGORITHM_MINHASH:
            assert index.minhash is not None
            index.minhash.add(len(index.minhash_entries), shared)
            index.minhash_entries.append(entry)
        else:
            simhash_candidates.append((entry, shared))
    with_minhash = {_template_of(entry) for entry in index.minhash_entries}
    for entry, shared in simhash_candidates:
        if _template_of(entry) in with_minhash:
            index.simhash_superseded += 1
            continue
        threshold = int(shared.match_rule["threshold"])
        index.simhash.append(_SimHashRef(shared.simhash_value, threshold, entry))
    return index


def _template_of(entry: FingerprintEntry) -> tuple[str | None, str]:
    """What "one shared template" means: the producer and its fingerprint record."""
    return (entry.producer, entry.fingerprint_id or entry.indicator_id)


def _hits_of_one(
    index: PromptIndex, position: int, computed: Sequence[Fingerprint]
) -> Iterator[PromptHit]:
    for fingerprint in computed:
        if fingerprint.algorithm == ALGORITHM_EXACT:
            for entry in index.exact.get(fingerprint.value, ()):
                yield PromptHit(position, entry, RULE_EXACT_TEMPLATE, 1.0, None)
        elif fingerprint.algorithm == ALGORITHM_MINHASH and index.minhash is not None:
            for item_id, similarity in index.minhash.query(fingerprint):
                entry = index.minhash_entries[int(item_id)]  # type: ignore[call-overload]
                threshold = float(entry.match_rule["threshold"])
                yield PromptHit(position, entry, RULE_MINHASH, similarity, threshold)
        elif fingerprint.algorithm == ALGORITHM_SIMHASH:
            value = fingerprint.simhash_value
            for ref in index.simhash:
                distance = (value ^ ref.value).bit_count()
                if distance <= ref.threshold:
                    similarity = 1.0 - distance / 64
                    yield PromptHit(
                        position, ref.entry, RULE_SIMHASH, similarity, 1.0 - ref.threshold / 64
                    )


def _strongest_per_template(hits: Iterable[PromptHit]) -> list[PromptHit]:
    best: dict[tuple[str | None, str], PromptHit] = {}
    for hit in hits:
        current = best.get(hit.template())
        if current is None or hit.strength() > current.strength():
            best[hit.template()] = hit
    return sorted(best.values(), key=lambda hit: (hit.entry.indicator_id,))


def match_prompts(index: PromptIndex, prompts: Sequence[str]) -> tuple[list[PromptHit], int]:
    """Hits for every prompt (by position), and how many prompts were empty once normalised
    (nothing but numbers, quotes and URLs, say: they carry no template to compare)."""
    hits: list[PromptHit] = []
    usable = [(position, text) for position, text in enumerate(prompts) if normalise_prompt(text)]
    empty = len(prompts) - len(usable)
    if not len(index):
        return hits, empty
    for start in range(0, len(usable), _BATCH):
        chunk = usable[start : start + _BATCH]
        computed = fingerprint_prompts([text for _, text in chunk], index.key)
        for (position, _), fingerprints in zip(chunk, computed, strict=True):
            hits.extend(_strongest_per_template(_hits_of_one(index, position, fingerprints)))
    return hits, empty

"""Matching raw prompts against the shared prompt fingerprints, locally and keyed.

Each prompt is normalised and hashed with the consortium key, then compared
with the shared fingerprints made under the same key id and parameters:

* ``containment-keyed`` template signatures (normalisation ``p2``): the
  prompt's keyed shingle hashes are looked up in an inverted index
  (``ContainmentIndex``); a signature matches when the prompt contains at
  least its threshold of the template's scaffold shingles. Slots, padding
  and wrappers add shingles to the prompt but take none away from the
  scaffold, so they do not dilute the score.
* exact template hashes, ``p1`` or ``p2``: one dictionary probe each;
* ``p1`` MinHash (records shared before ``p2``): candidates from the LSH
  index, each verified by the shared fingerprint's own Jaccard threshold.

SimHash does not decide a match on its own any more: on the adversarial
benchmark (docs/privacy.md) its Hamming rule matched ordinary benign
prompts far above the false-positive target. SimHash fingerprints in the
feed are counted (``PromptIndex.simhash_unused``) and reported, not used.

Shared fingerprints made under another key id or with other parameters
cannot be compared; they are counted and reported, never guessed at. A
prompt that matches several fingerprints of one shared template reports
only its strongest match for that template: an exact hash beats a
containment match, which beats a MinHash one; then the higher similarity.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from exchange.feed.current import FingerprintEntry
from exchange.match.containment_index import ContainmentIndex
from exchange.match.containment_probe import ContainmentProbe
from exchange.match.results import RULE_CONTAINMENT, RULE_EXACT_TEMPLATE, RULE_MINHASH
from exchange.privacy import (
    ALGORITHM_EXACT,
    ALGORITHM_MINHASH,
    ALGORITHM_SIMHASH,
    ConsortiumKey,
    Fingerprint,
    MinHashLSHIndex,
    exact_template_hash,
    normalise_prompt,
)
from exchange.privacy.fingerprint import (
    containment_fingerprint,
    exact_fingerprint,
    minhash_fingerprint,
    minhash_signatures,
)
from exchange.privacy.normalise_p2 import PROMPT_NORMALISATION_P2, normalise_prompt_p2
from exchange.privacy.template_signature import (
    ALGORITHM_CONTAINMENT,
    MIN_SIGNATURE_VALUES,
    containment_hasher_for,
)

BATCH = 2000
_P1 = "p1"
_RULE_RANK = {RULE_EXACT_TEMPLATE: 0, RULE_CONTAINMENT: 1, RULE_MINHASH: 2}


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


def local_parameters(key: ConsortiumKey) -> dict[tuple[str, str], dict[str, int | str]]:
    """The parameters this lab computes, by (algorithm, normalisation)."""
    probe = "parameter probe for the local fingerprint settings"
    minhash = minhash_fingerprint(minhash_signatures([normalise_prompt(probe)], key)[0], key)
    containment = containment_fingerprint(tuple(range(MIN_SIGNATURE_VALUES)), key)
    return {
        (ALGORITHM_EXACT, _P1): dict(exact_fingerprint("x", key).parameters),
        (ALGORITHM_EXACT, PROMPT_NORMALISATION_P2): dict(
            exact_fingerprint("x", key, PROMPT_NORMALISATION_P2).parameters
        ),
        (ALGORITHM_MINHASH, _P1): dict(minhash.parameters),
        (ALGORITHM_CONTAINMENT, PROMPT_NORMALISATION_P2): dict(containment.parameters),
    }


@dataclass
class PromptIndex:
    """The shared fingerprints comparable with what this lab computes under ``key``."""

    key: ConsortiumKey
    exact: dict[tuple[str, str], list[FingerprintEntry]] = field(default_factory=dict)
    minhash: MinHashLSHIndex | None = None
    minhash_entries: list[FingerprintEntry] = field(default_factory=list)
    containment: ContainmentIndex = field(default_factory=ContainmentIndex)
    containment_entries: list[FingerprintEntry] = field(default_factory=list)
    other_keys: int = 0
    simhash_unused: int = 0
    incompatible: list[tuple[str, str]] = field(default_factory=list)
    _local: dict[tuple[str, str], dict[str, int | str]] | None = None
    # Exact hashes per normalisation, counted as they are added: the matcher asks which
    # normal forms it needs once per batch, and walking ``exact`` to find out would cost
    # time in proportion to the feed (measured: a third of the time per prompt at
    # 100,000 templates).
    _exact_by_norm: dict[str, int] = field(default_factory=dict)
    _probe: ContainmentProbe | None = None

    def __len__(self) -> int:
        return (
            sum(self._exact_by_norm.values())
            + len(self.minhash_entries)
            + len(self.containment_entries)
        )

    def containment_matches(self, normalised: str) -> list[tuple[int, float]]:
        """(position in ``containment_entries``, containment) for one ``p2`` normal form."""
        if self._probe is None:
            self._probe = ContainmentProbe(self.containment, containment_hasher_for(self.key))
        return self._probe.query(normalised)

    def has_exact(self, normalization: str) -> bool:
        """Whether any exact template hash of this normalisation is indexed."""
        return normalization in self._exact_by_norm

    @property
    def needs_p1(self) -> bool:
        return bool(self.minhash_entries) or self.has_exact(_P1)

    @property
    def needs_p2(self) -> bool:
        return bool(self.containment_entries) or self.has_exact(PROMPT_NORMALISATION_P2)

    def add(self, entry: FingerprintEntry, values: Sequence[int] | None = None) -> None:
        """Index one shared fingerprint (or count why it cannot be compared).

        ``values``: the decoded containment signature when the caller has it
        already (the persistent index stores them decoded).
        """
        if entry.key_id != self.key.key_id:
            self.other_keys += 1
            return
        if entry.algorithm == ALGORITHM_SIMHASH:
            self.simhash_unused += 1
            return
        if self._local is None:
            self._local = local_parameters(self.key)
        normalization = str(entry.parameters.get("normalization", ""))
        expected = self._local.get((entry.algorithm, normalization))
        parameters = {**entry.parameters, "key_id": entry.key_id}
        if expected is None or parameters != expected:
            self.incompatible.append(
                (entry.indicator_id, f"{entry.algorithm} parameters differ from this lab's")
            )
            return
        if values is None or entry.algorithm != ALGORITHM_CONTAINMENT:
            try:
                shared = Fingerprint(entry.algorithm, parameters, entry.value, entry.match_rule)
            except ValueError as exc:
                self.incompatible.append((entry.indicator_id, f"unusable fingerprint: {exc}"))
                return
            if shared.algorithm == ALGORITHM_CONTAINMENT:
                values = shared.containment_values
        if entry.algorithm == ALGORITHM_EXACT:
            self.exact.setdefault((normalization, entry.value), []).append(entry)
            self._exact_by_norm[normalization] = self._exact_by_norm.get(normalization, 0) + 1
        elif entry.algorithm == ALGORITHM_MINHASH:
            if self.minhash is None:
                self.minhash = MinHashLSHIndex(self.key.key_id)
            self.minhash.add(len(self.minhash_entries), shared)
            self.minhash_entries.append(entry)
        else:
            assert values is not None
            self.containment.add(values, float(entry.match_rule["threshold"]))
            self.containment_entries.append(entry)


def build_prompt_index(key: ConsortiumKey, entries: Iterable[FingerprintEntry]) -> PromptIndex:
    """Index the shared fingerprints comparable with this lab's; count and explain the rest."""
    index = PromptIndex(key=key)
    for entry in entries:
        index.add(entry)
    return index


def _template_of(entry: FingerprintEntry) -> tuple[str | None, str]:
    """What "one shared template" means: the producer and its fingerprint record."""
    return (entry.producer, entry.fingerprint_id or entry.indicator_id)


def _hits_p1(
    index: PromptIndex, positions: Sequence[int], normalised: Sequence[str]
) -> Iterator[PromptHit]:
    key = index.key
    if index.has_exact(_P1):
        for position, text in zip(positions, normalised, strict=True):
            for entry in index.exact.get((_P1, exact_template_hash(text, key)), ()):
                yield PromptHit(position, entry, RULE_EXACT_TEMPLATE, 1.0, None)
    if index.minhash is not None:
        signatures = minhash_signatures(list(normalised), key)
        for position, signature in zip(positions, signatures, strict=True):
            for item_id, similarity in index.minhash.query(minhash_fingerprint(signature, key)):
                entry = index.minhash_entries[int(item_id)]  # type: ignore[call-overload]
                threshold = float(entry.match_rule["threshold"])
                yield PromptHit(position, entry, RULE_MINHASH, similarity, threshold)


def _hits_p2(index: PromptIndex, position: int, normalised: str) -> Iterator[PromptHit]:
    key = index.key
    if index.has_exact(PROMPT_NORMALISATION_P2):
        probe = (PROMPT_NORMALISATION_P2, exact_template_hash(normalised, key, "p2"))
        for entry in index.exact.get(probe, ()):
            yield PromptHit(position, entry, RULE_EXACT_TEMPLATE, 1.0, None)
    if index.containment_entries:
        for item, score in index.containment_matches(normalised):
            entry = index.containment_entries[item]
            threshold = float(entry.match_rule["threshold"])
            yield PromptHit(position, entry, RULE_CONTAINMENT, score, threshold)


def _strongest_per_template(hits: Iterable[PromptHit]) -> list[PromptHit]:
    best: dict[tuple[str | None, str], PromptHit] = {}
    for hit in hits:
        current = best.get(hit.template())
        if current is None or hit.strength() > current.strength():
            best[hit.template()] = hit
    return sorted(best.values(), key=lambda hit: (hit.position, hit.entry.indicator_id))


def match_prompts(index: PromptIndex, prompts: Sequence[str]) -> tuple[list[PromptHit], int]:
    """Hits for every prompt (by position), and how many prompts were empty once normalised
    (no words at all, only punctuation or symbols: they carry no template to compare)."""
    hits: list[PromptHit] = []
    empty = 0
    for start in range(0, len(prompts), BATCH):
        chunk_hits, chunk_empty = _match_chunk(index, prompts[start : start + BATCH], start)
        hits.extend(chunk_hits)
        empty += chunk_empty
    return hits, empty


def _match_chunk(
    index: PromptIndex, prompts: Sequence[str], offset: int
) -> tuple[list[PromptHit], int]:
    p2 = [normalise_prompt_p2(text) for text in prompts]
    empty = sum(1 for text in p2 if not text)
    if not len(index):
        return [], empty
    found: list[PromptHit] = []
    if index.needs_p1:
        usable = [(offset + i, normalise_prompt(raw)) for i, raw in enumerate(prompts) if p2[i]]
        usable = [(position, text) for position, text in usable if text]
        if usable:
            positions, texts = zip(*usable, strict=True)
            found.extend(_hits_p1(index, positions, texts))
    if index.needs_p2:
        for i, normalised in enumerate(p2):
            if normalised:
                found.extend(_hits_p2(index, offset + i, normalised))
    by_position: dict[int, list[PromptHit]] = {}
    for hit in found:
        by_position.setdefault(hit.position, []).append(hit)
    out: list[PromptHit] = []
    for position in sorted(by_position):
        out.extend(_strongest_per_template(by_position[position]))
    return out, empty

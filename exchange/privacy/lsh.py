"""Finding matching MinHash fingerprints among many, without comparing against all.

Locality-sensitive hashing by banding: the 128 signature values are cut into
``bands`` bands of ``rows`` values; two signatures become candidates when any
band is identical, and every candidate is then verified by the stored
fingerprint's match rule. With Jaccard similarity J, a pair becomes a
candidate with probability 1 - (1 - J**rows)**bands. The default 64 bands x 2
rows gives 0.9998 at the calibrated threshold J = 0.35 and 0.998 at J = 0.3,
so pairs that match are practically never missed, while unrelated prompts
(J around 0.03) become candidates about 6% of the time and are then rejected
by the verification.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator

from exchange.privacy.fingerprint import ALGORITHM_MINHASH, Fingerprint
from exchange.privacy.matching import KeyMismatchError, check_comparable, matches, similarity
from exchange.privacy.minhash import NUM_PERM

DEFAULT_BANDS = 64
DEFAULT_ROWS = 2


def candidate_probability(
    jaccard: float, bands: int = DEFAULT_BANDS, rows: int = DEFAULT_ROWS
) -> float:
    """The chance that two signatures of sets with this similarity share a band."""
    return 1.0 - (1.0 - jaccard**rows) ** bands


class MinHashLSHIndex:
    """An in-memory index of MinHash fingerprints made under one key.

    ``add`` fingerprints with an id of your choice (a STIX id, say), then
    ``query`` with a locally computed fingerprint to get the ids it matches.
    Fingerprints under another key id are refused (``KeyMismatchError``).
    """

    def __init__(self, key_id: str, *, bands: int = DEFAULT_BANDS, rows: int = DEFAULT_ROWS):
        if bands < 1 or rows < 1 or bands * rows > NUM_PERM:
            raise ValueError(f"bands x rows must be between 1 and {NUM_PERM}")
        self.key_id = key_id
        self.bands = bands
        self.rows = rows
        self._buckets: list[dict[tuple[int, ...], list[Hashable]]] = [{} for _ in range(bands)]
        self._items: dict[Hashable, Fingerprint] = {}

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, item_id: object) -> bool:
        return item_id in self._items

    def __iter__(self) -> Iterator[Hashable]:
        return iter(self._items)

    def _check(self, fingerprint: Fingerprint) -> None:
        if fingerprint.algorithm != ALGORITHM_MINHASH:
            raise ValueError(f"the index holds MinHash fingerprints, not {fingerprint.algorithm}")
        if fingerprint.key_id != self.key_id:
            raise KeyMismatchError(
                f"fingerprint made under key {fingerprint.key_id!r}; this index is for "
                f"{self.key_id!r}"
            )

    def _band_keys(self, fingerprint: Fingerprint) -> Iterator[tuple[int, tuple[int, ...]]]:
        values = fingerprint.minhash_signature
        rows = self.rows
        for band in range(self.bands):
            yield band, values[band * rows : (band + 1) * rows]

    def add(self, item_id: Hashable, fingerprint: Fingerprint) -> None:
        """Index a fingerprint; adding an id again replaces its fingerprint."""
        self._check(fingerprint)
        if item_id in self._items:
            self.remove(item_id)
        self._items[item_id] = fingerprint
        for band, values in self._band_keys(fingerprint):
            self._buckets[band].setdefault(values, []).append(item_id)

    def remove(self, item_id: Hashable) -> None:
        fingerprint = self._items.pop(item_id)
        for band, values in self._band_keys(fingerprint):
            bucket = self._buckets[band][values]
            bucket.remove(item_id)
            if not bucket:
                del self._buckets[band][values]

    def candidates(self, fingerprint: Fingerprint) -> set[Hashable]:
        """Ids sharing at least one band with ``fingerprint`` (not yet verified)."""
        self._check(fingerprint)
        found: set[Hashable] = set()
        for band, values in self._band_keys(fingerprint):
            found.update(self._buckets[band].get(values, ()))
        return found

    def query(self, fingerprint: Fingerprint) -> list[tuple[Hashable, float]]:
        """Verified matches as (id, estimated Jaccard), most similar first.

        Each candidate is checked with the stored fingerprint's own match rule.
        """
        results = []
        for item_id in self.candidates(fingerprint):
            stored = self._items[item_id]
            check_comparable(fingerprint, stored)
            if matches(fingerprint, stored):
                results.append((item_id, similarity(fingerprint, stored)))
        results.sort(key=lambda pair: (-pair[1], str(pair[0])))
        return results

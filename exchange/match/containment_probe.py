"""Hashing a prompt's word pairs and finding their posting lists with one lookup per pair.

Matching a prompt against the containment index needs, for each of its
word pairs, the keyed hash (``ContainmentHasher``) and the posting lists of
that hash (``ContainmentIndex.postings``): two dictionary lookups in two
large tables. With 100,000 templates in the feed the posting table holds
hundreds of thousands of values, and on a busy machine each lookup in it is
a cache miss: measured, the second lookup was most of what made a prompt
slower against 100,000 templates than against 100.

This cache keeps both answers under the word pair itself, so a pair seen
before (scaffold pairs recur in every prompt of a campaign, common phrases
in ordinary traffic) costs one lookup whatever the size of the feed; a new
pair is hashed and looked up once. The cache is bounded (emptied when
full, as the hasher's own cache is), so memory does not grow with the
input, and it is dropped whenever the index's posting lists change.
"""

from __future__ import annotations

from typing import Final

from exchange.match.containment_index import ContainmentIndex
from exchange.privacy.template_signature import ContainmentHasher

CACHE_LIMIT: Final = 300_000

_Resolved = tuple[int, tuple[int, ...], tuple[int, ...]]


class ContainmentProbe:
    """``query(normalised)``: the containment matches of one ``p2`` normal form."""

    def __init__(
        self, index: ContainmentIndex, hasher: ContainmentHasher, limit: int = CACHE_LIMIT
    ) -> None:
        self._index = index
        self._hasher = hasher
        self._limit = limit
        self._cache: dict[str, _Resolved] = {}
        self._generation = index.generation

    def query(self, normalised: str) -> list[tuple[int, float]]:
        index = self._index
        if index.generation != self._generation:
            self._cache.clear()
            self._generation = index.generation
        get = self._cache.get
        hashes: set[int] = set()
        pairs: list[tuple[int, ...]] = []
        singles: list[tuple[int, ...]] = []
        for shingle in self._hasher.shingles(normalised):
            resolved = get(shingle)
            if resolved is None:
                resolved = self._resolve(shingle)
            hashes.add(resolved[0])
            if resolved[1]:
                pairs.append(resolved[1])
            if resolved[2]:
                singles.append(resolved[2])
        return index.matches(hashes, pairs, singles)

    def _resolve(self, shingle: str) -> _Resolved:
        value = self._hasher.uncached_hash(shingle)
        resolved = (value, *self._index.postings(value))
        if len(self._cache) >= self._limit:
            self._cache.clear()
        self._cache[shingle] = resolved
        return resolved

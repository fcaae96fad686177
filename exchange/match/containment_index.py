"""Finding the template signatures a prompt contains, among many, in time independent of how many.

Each shared ``containment-keyed`` signature is a sorted sample of up to 64
keyed shingle hashes of a template's fixed text; a prompt matches it when
the prompt's own shingle hashes include at least ``needed`` of them
(``needed = ceil(threshold x size)``). Checking every signature for every
prompt costs time in proportion to the feed; this index does not.

**Prefix filtering** (the classic set-similarity-join technique): order each
signature's values by how many signatures hold them, rarest first, and index
only its first ``p = size - needed + k`` values (its *prefix*, ``k =
REQUIRED_PREFIX_HITS``). A prompt that contains ``needed`` of the values
contains at most ``size - p = needed - k`` outside the prefix, hence at
least ``k`` of the prefix (``needed`` itself when that is smaller).
So the candidates are the signatures with at least that many prefix values
among the prompt's hashes, found with one dictionary probe per prompt hash,
and each is then verified exactly (C-level set probes): the index
returns exactly what checking every signature would. Because prefixes hold
the rarest values, their posting lists stay short however large the feed,
and chance hits (two or three stock word pairs in common) never make a
candidate: ``k`` is 4, which costs two more prefix values than the minimum
(2) and, on the benchmark's feed of 100,000 templates, verifies a fraction
of the candidates (measured: time per prompt 1.37x that at 100 templates
with 4, 1.44x with 2).
The cost that remains: word pairs that many scaffolds share *and* that some
scaffold has among its rarest (a scaffold made only of stock phrases) have
long posting lists.

**Where the time goes at scale.** Once the feed is large, most of a
prompt's word pairs are in *some* template's prefix (on the benchmark's
shared-vocabulary feed, 62% of them at 100,000 templates, each in about
three prefixes), although most of the templates hit are hit once.
No choice of prefix avoids that: exactness needs ``size - needed + k``
values per signature, and the rarest of them are all about as rare (a cap
on how many templates may share a probe value would cut nothing there:
the commonest prefix value is in 8). So the per-posting work is kept in C:
the posting lists are tuples, chained and sorted; in sorted order a
signature hit ``k`` times spans ``k`` equal neighbours, found by comparing
the list with itself shifted (``map(eq, ...)``, ``compress``), with no
Python-level loop over the hits; only those signatures are verified. The
posting lists of a prompt's word pairs are found through
``exchange.match.containment_probe``, one lookup per pair. Signatures
are kept as tuples (a fraction of the memory of frozensets) and verified
by probing the prompt's small hash set, which stays in cache. Signatures
with ``needed`` below ``k`` have their own posting lists, counted per
signature, so the test above stays exact.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from itertools import chain, compress, islice
from operator import eq

REQUIRED_PREFIX_HITS = 4

_Postings = dict[int, tuple[int, ...]]
_NONE: tuple[int, ...] = ()


class ContainmentIndex:
    """Signatures (sequences of ints) with thresholds; ``query`` returns (position, containment).

    ``add`` every signature, then ``prepare`` once (``query`` prepares if needed;
    adding after preparing is allowed and prepares again on the next query).
    """

    def __init__(self) -> None:
        self._values: list[tuple[int, ...]] = []
        self._needed: list[int] = []
        self._frequency: dict[int, int] = {}
        self._main_postings: _Postings = {}  # signatures needing REQUIRED_PREFIX_HITS
        self._small_postings: _Postings = {}  # signatures needing fewer (tiny ``needed``)
        self._prepared = True
        self._generation = 0

    def __len__(self) -> int:
        return len(self._values)

    def add(self, values: Sequence[int], threshold: float) -> int:
        """Index a signature; returns its position (the id ``query`` reports)."""
        position = len(self._values)
        unique = tuple(sorted(set(values)))
        self._values.append(unique)
        # Smallest hit count reaching the threshold (guard against float error).
        self._needed.append(max(1, -int(-(threshold * len(unique) - 1e-9) // 1)))
        frequency = self._frequency
        for value in unique:
            frequency[value] = frequency.get(value, 0) + 1
        self._prepared = False
        return position

    def prepare(self) -> None:
        """Choose every signature's prefix (rarest values first) and index the prefixes."""
        frequency = self._frequency
        main: dict[int, list[int]] = {}
        small: dict[int, list[int]] = {}
        for position, values in enumerate(self._values):
            needed = self._needed[position]
            hits = min(needed, REQUIRED_PREFIX_HITS)
            postings = main if hits == REQUIRED_PREFIX_HITS else small
            # Any subset of this size guarantees ``hits`` (exactness); rarest first keeps the
            # posting lists short (speed). Ties keep the signature's own (sorted) order.
            prefix = sorted(values, key=frequency.__getitem__)[: len(values) - needed + hits]
            for value in prefix:
                found = postings.get(value)
                if found is None:
                    postings[value] = [position]
                else:
                    found.append(position)
        self._main_postings = {value: tuple(found) for value, found in main.items()}
        self._small_postings = {value: tuple(found) for value, found in small.items()}
        self._prepared = True
        self._generation += 1

    @property
    def generation(self) -> int:
        """Changes whenever the posting lists do (a cache of ``postings`` must be dropped)."""
        if not self._prepared:
            self.prepare()
        return self._generation

    def postings(self, value: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
        """The signatures whose prefix holds ``value``: (main, small needed)."""
        if not self._prepared:
            self.prepare()
        return (
            self._main_postings.get(value, _NONE),
            self._small_postings.get(value, _NONE),
        )

    def query(self, hashes: set[int] | frozenset[int]) -> list[tuple[int, float]]:
        """Signatures the prompt (its shingle-hash set) contains enough of, with containment."""
        if not self._prepared:
            self.prepare()
        main = list(filter(None, map(self._main_postings.get, hashes)))
        small = list(filter(None, map(self._small_postings.get, hashes)))
        return self.matches(hashes, main, small)

    def matches(
        self,
        hashes: set[int] | frozenset[int],
        main_postings: list[tuple[int, ...]],
        small_postings: list[tuple[int, ...]],
    ) -> list[tuple[int, float]]:
        """What ``query`` returns, given the posting lists of the prompt's hashes already
        looked up (``postings``): candidates from the prefixes, each verified exactly."""
        results: list[tuple[int, float]] = []
        if small_postings:
            needed = self._needed
            for position, count in Counter(chain.from_iterable(small_postings)).items():
                if count >= needed[position]:
                    self._verify(position, hashes, results)
        if len(main_postings) >= REQUIRED_PREFIX_HITS:
            hits = sorted(chain.from_iterable(main_postings))
            # In sorted order a signature hit k times spans k equal neighbours: compare
            # each hit with the one k - 1 places on, all in C.
            shifted = islice(hits, REQUIRED_PREFIX_HITS - 1, None)
            for position in set(compress(hits, map(eq, hits, shifted))):
                self._verify(position, hashes, results)
        return results

    def _verify(
        self, position: int, hashes: set[int] | frozenset[int], results: list[tuple[int, float]]
    ) -> None:
        signature = self._values[position]
        found = sum(map(hashes.__contains__, signature))
        if found >= self._needed[position]:
            results.append((position, found / len(signature)))

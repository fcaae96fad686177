"""Finding the template signatures a prompt contains, among many, in time independent of how many.

Each shared ``containment-keyed`` signature is a sorted sample of up to 64
keyed shingle hashes of a template's fixed text; a prompt matches it when
the prompt's own shingle hashes include at least ``needed`` of them
(``needed = ceil(threshold x size)``). Checking every signature for every
prompt costs time in proportion to the feed; this index does not.

**Prefix filtering** (the classic set-similarity-join technique): order each
signature's values by how many signatures hold them, rarest first, and index
only its first ``p = size - needed + 2`` values (its *prefix*). A prompt that
contains ``needed`` of the values contains at most ``size - p = needed - 2``
outside the prefix, hence at least 2 of the prefix (1 when ``needed`` is 1).
So the candidates are the signatures with at least that many prefix values
among the prompt's hashes, found with one dictionary probe per prompt hash,
and each is then verified exactly (one C-level set intersection): the index
returns exactly what checking every signature would. Because prefixes hold
the rarest values, their posting lists stay short however large the feed,
and a single chance hit (one word pair in common) never makes a candidate.
The cost that remains: word pairs that many scaffolds share *and* that some
scaffold has among its rarest (a scaffold made only of stock phrases) have
long posting lists.
"""

from __future__ import annotations

from collections.abc import Sequence

REQUIRED_PREFIX_HITS = 2


class ContainmentIndex:
    """Signatures (sequences of ints) with thresholds; ``query`` returns (position, containment).

    ``add`` every signature, then ``prepare`` once (``query`` prepares if needed).
    """

    def __init__(self) -> None:
        self._values: list[frozenset[int]] = []
        self._needed: list[int] = []
        self._frequency: dict[int, int] = {}
        self._prefix_postings: dict[int, list[int]] = {}
        self._required: list[int] = []
        self._prepared = True

    def __len__(self) -> int:
        return len(self._values)

    def add(self, values: Sequence[int], threshold: float) -> int:
        """Index a signature; returns its position (the id ``query`` reports)."""
        position = len(self._values)
        unique = frozenset(values)
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
        postings: dict[int, list[int]] = {}
        required = []
        for position, values in enumerate(self._values):
            needed = self._needed[position]
            size = len(values)
            hits = min(needed, REQUIRED_PREFIX_HITS)
            # Any subset of this size guarantees ``hits`` (exactness); rarest first keeps the
            # posting lists short (speed). Ties keep the set's own order.
            prefix = sorted(values, key=frequency.__getitem__)[: size - needed + hits]
            required.append(hits)
            for value in prefix:
                found = postings.get(value)
                if found is None:
                    postings[value] = [position]
                else:
                    found.append(position)
        self._prefix_postings = postings
        self._required = required
        self._prepared = True

    def query(self, hashes: set[int]) -> list[tuple[int, float]]:
        """Signatures the prompt (its shingle-hash set) contains enough of, with containment."""
        if not self._prepared:
            self.prepare()
        postings = self._prefix_postings
        counts: dict[int, int] = {}
        for value in hashes:
            found = postings.get(value)
            if found is not None:
                for position in found:
                    counts[position] = counts.get(position, 0) + 1
        values, needed, required = self._values, self._needed, self._required
        results = []
        for position, count in counts.items():
            if count >= required[position]:
                signature = values[position]
                hits = len(signature & hashes)  # CPython walks the smaller set
                if hits >= needed[position]:
                    results.append((position, hits / len(signature)))
        return results

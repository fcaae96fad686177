"""Finding the template signatures a prompt contains, among many, in time independent of how many.

Each shared ``containment-keyed`` signature is a sorted sample of up to 64
keyed shingle hashes of a template's fixed text; a prompt matches it when
the prompt's own shingle hashes include at least ``threshold`` of them. An
inverted index (hash -> signatures holding it) finds the candidates from the
prompt's hashes, and each candidate is then verified exactly (one C-level set
intersection).

Time per prompt must not grow with the feed. A hash shared by very many
signatures ("step by step" is in many scaffolds) would make every prompt
containing it touch all of them, so a hash held by more than ``common_cap``
signatures is *common* and is not used to find candidates. That can only
lose a signature whose threshold can be reached with common hashes alone;
those few signatures (``always_checked``) are verified against every prompt,
so the index is exact: it returns what checking every signature would.
"""

from __future__ import annotations

from collections.abc import Sequence

DEFAULT_COMMON_CAP = 16


class ContainmentIndex:
    """Signatures (tuples of ints) with thresholds; ``query`` returns (position, containment)."""

    def __init__(self, common_cap: int = DEFAULT_COMMON_CAP) -> None:
        self.common_cap = common_cap
        self._values: list[frozenset[int]] = []
        self._needed: list[int] = []
        self._sizes: list[int] = []
        self._postings: dict[int, list[int]] = {}
        self._always: list[int] | None = None

    def __len__(self) -> int:
        return len(self._values)

    def add(self, values: Sequence[int], threshold: float) -> int:
        """Index a signature; returns its position (the id ``query`` reports)."""
        position = len(self._values)
        unique = frozenset(values)
        self._values.append(unique)
        self._sizes.append(len(unique))
        # Smallest hit count reaching the threshold (guard against float error).
        self._needed.append(max(1, -int(-(threshold * len(unique) - 1e-9) // 1)))
        postings = self._postings
        for value in unique:
            found = postings.get(value)
            if found is None:
                postings[value] = [position]
            else:
                found.append(position)
        self._always = None
        return position

    @property
    def always_checked(self) -> list[int]:
        """Signatures that common hashes alone could satisfy: verified for every prompt."""
        if self._always is None:
            cap = self.common_cap
            postings = self._postings
            always = []
            for position, values in enumerate(self._values):
                common = sum(1 for value in values if len(postings[value]) > cap)
                if common >= self._needed[position]:
                    always.append(position)
            self._always = always
        return self._always

    def query(self, hashes: set[int]) -> list[tuple[int, float]]:
        """Signatures the prompt (its shingle-hash set) contains enough of, with containment."""
        always = self.always_checked
        cap = self.common_cap
        postings = self._postings
        candidates: set[int] = set(always)
        for value in hashes:
            found = postings.get(value)
            if found is not None and len(found) <= cap:
                candidates.update(found)
        results = []
        values, needed, sizes = self._values, self._needed, self._sizes
        for position in candidates:
            hits = len(values[position] & hashes)  # CPython walks the smaller set
            if hits >= needed[position]:
                results.append((position, hits / sizes[position]))
        return results

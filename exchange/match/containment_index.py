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
        self._common: list[int] = []

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

    def prepare(self) -> list[int]:
        """Per signature, how many of its hashes are common; and the always-checked list.

        Done once after the last ``add`` (``query`` does it if needed)."""
        cap = self.common_cap
        postings = self._postings
        common = [
            sum(1 for value in values if len(postings[value]) > cap) for values in self._values
        ]
        self._common = common
        self._always = [p for p, count in enumerate(common) if count >= self._needed[p]]
        return self._always

    @property
    def always_checked(self) -> list[int]:
        """Signatures that common hashes alone could satisfy: verified for every prompt."""
        return self._always if self._always is not None else self.prepare()

    def query(self, hashes: set[int]) -> list[tuple[int, float]]:
        """Signatures the prompt (its shingle-hash set) contains enough of, with containment.

        A signature reached through its rare hashes is verified only if those
        hits plus all of its common hashes could reach its threshold: most
        chance candidates (one shared word pair) stop there.
        """
        always = self.always_checked
        cap = self.common_cap
        postings = self._postings
        counts: dict[int, int] = {}
        for value in hashes:
            found = postings.get(value)
            if found is not None and len(found) <= cap:
                for position in found:
                    counts[position] = counts.get(position, 0) + 1
        values, needed, sizes, common = self._values, self._needed, self._sizes, self._common
        results = []
        for position, count in counts.items():
            if count + common[position] >= needed[position]:
                hits = len(values[position] & hashes)  # CPython walks the smaller set
                if hits >= needed[position]:
                    results.append((position, hits / sizes[position]))
        for position in always:
            if position not in counts:
                hits = len(values[position] & hashes)
                if hits >= needed[position]:
                    results.append((position, hits / sizes[position]))
        return results

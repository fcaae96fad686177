"""Keyed 64-bit SimHash over word shingles, weighted by how often each occurs.

Specification (normative):

* Shingle hash: h = BLAKE2b-64(shingle as UTF-8, key=subkey("simhash-shingle"),
  person=b"dx-simhash"), read big-endian.
* With c(s) the number of times shingle s occurs and W = sum of c(s), bit j of
  the SimHash (value 2**j) is 1 exactly when 2 * sum of c(s) over the shingles
  whose h has bit j set is greater than W (a tie gives 0).
* Encoding: 16 lowercase hexadecimal digits. Two SimHashes are compared by
  the Hamming distance between them.

The shingle hash is keyed for the same reason as MinHash's: without the key,
nobody can compute the SimHash of a guessed prompt to compare.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable
from functools import lru_cache

from exchange.privacy.keys import ConsortiumKey
from exchange.privacy.subkeys import SIMHASH_SHINGLE, derive_subkey

SIMHASH_BITS = 64
SHINGLE_PERSON = b"dx-simhash"
_HEX16 = re.compile(r"^[0-9a-f]{16}$")


class KeyedSimHash:
    """SimHash under one key. Build once per key (``simhasher_for``) and reuse."""

    def __init__(self, key: ConsortiumKey) -> None:
        self.key_id = key.key_id
        self._hasher = hashlib.blake2b(
            digest_size=8, key=derive_subkey(key, SIMHASH_SHINGLE), person=SHINGLE_PERSON
        )

    def shingle_hash(self, shingle: str) -> int:
        hasher = self._hasher.copy()
        hasher.update(shingle.encode("utf-8"))
        return int.from_bytes(hasher.digest(), "big")

    def simhash(self, shingles: Iterable[str]) -> int:
        """The SimHash of a non-empty multiset of shingles."""
        counts = Counter(shingles)
        if not counts:
            raise ValueError("cannot compute a SimHash of an empty shingle set")
        total = sum(counts.values())
        # One string of 64 '0'/'1' characters per occurrence; the count of '1's
        # at a column is that bit's weight. Slicing and str.count keep the
        # 64 x occurrences tally in C instead of a Python loop per bit.
        bits = "".join(
            format(self.shingle_hash(shingle), "064b") * count for shingle, count in counts.items()
        )
        value = 0
        for column in range(SIMHASH_BITS):
            if 2 * bits[column::SIMHASH_BITS].count("1") > total:
                value |= 1 << (SIMHASH_BITS - 1 - column)
        return value


@lru_cache(maxsize=8)
def simhasher_for(key: ConsortiumKey) -> KeyedSimHash:
    return KeyedSimHash(key)


def encode_simhash(value: int) -> str:
    if not 0 <= value < 1 << SIMHASH_BITS:
        raise ValueError("a SimHash is a 64-bit unsigned integer")
    return format(value, "016x")


def decode_simhash(text: str) -> int:
    if not _HEX16.match(text):
        raise ValueError("SimHash value must be 16 lowercase hexadecimal digits")
    return int(text, 16)


def hamming_distance(a: int, b: int) -> int:
    return (a ^ b).bit_count()

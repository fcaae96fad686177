"""Template signatures learned from a campaign, matched by containment (``containment-keyed``).

A campaign's prompts share a scaffold and differ in their slots (a pasted
passage, code, a maths problem), in padding and in wrappers. Comparing whole
prompts (MinHash/Jaccard) lets every slot word dilute the score: a short
instruction around a long passage scores near zero against its own template.
This module instead learns the scaffold from the campaign itself and asks,
of a new prompt, **how much of the scaffold it contains**.

Rules (normative; docs/privacy.md has the rationale and the figures):

* Prompts are normalised with ``p2`` and cut into word shingles of
  ``SHINGLE_SIZE`` words (a prompt with fewer words is one shingle).
* Shingle hash: ``BLAKE2b-64(shingle, key=subkey("containment-shingle"),
  person="dx-contain")``, its first 4 bytes read big-endian (32 bits).
* **Invariant set.** Given n >= ``MIN_CAMPAIGN_PROMPTS`` prompts of one
  campaign, a shingle hash is invariant when it occurs in at least
  ``ceil(INVARIANT_FRACTION * n)`` of them (document frequency). With fewer
  prompts every shingle must occur in all of them (and slot text of a
  single prompt is then part of the signature: give the command a campaign,
  not one prompt).
* **Signature.** The ``SIGNATURE_SIZE`` smallest invariant hashes (all of
  them if fewer), sorted ascending, packed as big-endian uint32 and base64
  encoded. The smallest hashes of a keyed hash are a uniform random sample
  of the invariant set, so the share of them present in a prompt estimates
  the share of the whole scaffold present in it. A template with fewer than
  ``MIN_SIGNATURE_VALUES`` invariant shingles gets no signature: too little
  text to tell apart from ordinary requests, and too little to hide in.
* **Match.** ``containment = |signature ∩ hashes(prompt)| / |signature|``;
  a prompt matches when containment >= the rule's threshold.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import math
import struct
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import pairwise
from typing import Final

from exchange.privacy.keys import ConsortiumKey
from exchange.privacy.subkeys import CONTAINMENT_SHINGLE, derive_subkey

ALGORITHM_CONTAINMENT: Final = "containment-keyed"
SHINGLE_SIZE: Final = 2
SIGNATURE_SIZE: Final = 64
MIN_SIGNATURE_VALUES: Final = 10
VALUE_BITS: Final = 32
INVARIANT_FRACTION: Final = 0.8
MIN_CAMPAIGN_PROMPTS: Final = 5
DEFAULT_CONTAINMENT_THRESHOLD: Final = 0.5
SHINGLE_PERSON: Final = b"dx-contain"
_CACHE_LIMIT: Final = 500_000


class ContainmentHasher:
    """Keyed 32-bit shingle hashes under one key, with a bounded cache.

    Scaffold shingles recur in every prompt of a campaign; caching them makes
    hashing a stream of campaign traffic mostly dictionary lookups.
    """

    def __init__(self, key: ConsortiumKey, shingle_size: int = SHINGLE_SIZE) -> None:
        self.key_id = key.key_id
        self.shingle_size = shingle_size
        self._base = hashlib.blake2b(
            digest_size=8, key=derive_subkey(key, CONTAINMENT_SHINGLE), person=SHINGLE_PERSON
        )
        self._cache: dict[str, int] = {}

    def clear_cache(self) -> None:
        self._cache.clear()

    def shingle_hash(self, shingle: str) -> int:
        value = self._cache.get(shingle)
        if value is None:
            value = self.uncached_hash(shingle)
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[shingle] = value
        return value

    def uncached_hash(self, shingle: str) -> int:
        """The keyed hash, computed (for callers that keep their own cache)."""
        hasher = self._base.copy()
        hasher.update(shingle.encode("utf-8"))
        return int.from_bytes(hasher.digest()[:4], "big")

    def shingles(self, normalised: str) -> list[str]:
        """The word shingles of a ``p2`` normal form (one for a prompt of few words)."""
        words = normalised.split()
        size = self.shingle_size
        if not words:
            return []
        if len(words) <= size:
            return [" ".join(words)]
        if size == 2:
            return [f"{a} {b}" for a, b in pairwise(words)]
        return [" ".join(words[i : i + size]) for i in range(len(words) - size + 1)]

    def hashes(self, normalised: str) -> set[int]:
        """The shingle-hash set of a ``p2`` normal form (empty for an empty prompt)."""
        cache = self._cache
        out = set()
        for shingle in self.shingles(normalised):
            value = cache.get(shingle)
            out.add(value if value is not None else self.shingle_hash(shingle))
        return out


@lru_cache(maxsize=8)
def containment_hasher_for(key: ConsortiumKey) -> ContainmentHasher:
    return ContainmentHasher(key)


def invariant_hashes(hash_sets: Sequence[set[int]]) -> set[int]:
    """The hashes present in at least the documented share of the campaign's prompts."""
    count = len(hash_sets)
    if count == 0:
        return set()
    needed = count if count < MIN_CAMPAIGN_PROMPTS else math.ceil(INVARIANT_FRACTION * count)
    frequency: Counter[int] = Counter()
    for hashes in hash_sets:
        frequency.update(hashes)
    return {value for value, seen in frequency.items() if seen >= needed}


def signature_values(invariant: Iterable[int]) -> tuple[int, ...] | None:
    """The bottom-``SIGNATURE_SIZE`` sample of an invariant set, or None when too small."""
    values = sorted(set(invariant))
    if len(values) < MIN_SIGNATURE_VALUES:
        return None
    return tuple(values[:SIGNATURE_SIZE])


def learn_signature(
    normalised_prompts: Sequence[str], key: ConsortiumKey
) -> tuple[int, ...] | None:
    """Learn a campaign's template signature from its ``p2`` normalised prompts."""
    hasher = containment_hasher_for(key)
    return signature_values(invariant_hashes([hasher.hashes(text) for text in normalised_prompts]))


def encode_values(values: Sequence[int]) -> str:
    if not MIN_SIGNATURE_VALUES <= len(values) <= SIGNATURE_SIZE:
        raise ValueError(
            f"a containment signature has {MIN_SIGNATURE_VALUES}-{SIGNATURE_SIZE} values"
        )
    return base64.b64encode(struct.pack(f">{len(values)}I", *values)).decode("ascii")


def decode_values(text: str) -> tuple[int, ...]:
    """Parse ``encode_values`` output; ValueError on anything else."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("containment signature is not valid base64") from None
    if len(raw) % 4 or not MIN_SIGNATURE_VALUES <= len(raw) // 4 <= SIGNATURE_SIZE:
        raise ValueError(
            f"containment signature decodes to {len(raw)} bytes; expected "
            f"{MIN_SIGNATURE_VALUES}-{SIGNATURE_SIZE} big-endian uint32 values"
        )
    values = struct.unpack(f">{len(raw) // 4}I", raw)
    if any(a >= b for a, b in pairwise(values)):
        raise ValueError("containment signature values must be strictly ascending")
    return values


def containment(values: Sequence[int], prompt_hashes: set[int]) -> float:
    """The share of the signature's values present in a prompt's hash set."""
    return sum(1 for value in values if value in prompt_hashes) / len(values)

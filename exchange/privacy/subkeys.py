"""Purpose-bound sub-keys derived from a consortium key.

The near-duplicate signatures hash shingles with BLAKE2b and draw their
permutations from the key. Giving each use its own derived key (rather than
the raw secret everywhere) keeps the uses independent: nothing learned about
one (say, a MinHash shingle hash) says anything about another.

    subkey(purpose) = HMAC-SHA256(secret, "dx-subkey-v1:" + purpose)   (32 bytes)
"""

from __future__ import annotations

import hashlib
import hmac

from exchange.privacy.keys import ConsortiumKey

MINHASH_SHINGLE = "minhash-shingle"
MINHASH_PERMUTATION = "minhash-permutation"
SIMHASH_SHINGLE = "simhash-shingle"
CONTAINMENT_SHINGLE = "containment-shingle"

_PURPOSES = frozenset({MINHASH_SHINGLE, MINHASH_PERMUTATION, SIMHASH_SHINGLE, CONTAINMENT_SHINGLE})


def derive_subkey(key: ConsortiumKey, purpose: str) -> bytes:
    """The 32-byte sub-key for ``purpose`` (one of the module's constants)."""
    if purpose not in _PURPOSES:
        raise ValueError(f"unknown sub-key purpose {purpose!r}")
    return hmac.new(key.secret, f"dx-subkey-v1:{purpose}".encode(), hashlib.sha256).digest()

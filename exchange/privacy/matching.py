"""Comparing fingerprints: similarity scores and the match decision.

Fingerprints are only comparable when they were made the same way: same
algorithm, same normalisation version, same shingle size and, above all, the
same key. Comparing across keys would give chance-level noise that looks like
an answer, so it is refused with ``KeyMismatchError`` instead.
"""

from __future__ import annotations

from exchange.privacy.fingerprint import (
    ALGORITHM_EXACT,
    ALGORITHM_MINHASH,
    Fingerprint,
)
from exchange.privacy.minhash import estimated_jaccard
from exchange.privacy.simhash import SIMHASH_BITS, hamming_distance


class IncompatibleFingerprintsError(ValueError):
    """The two fingerprints were made differently (algorithm or parameters differ)."""


class KeyMismatchError(IncompatibleFingerprintsError):
    """The two fingerprints were made under different keys: they cannot be compared."""


def check_comparable(a: Fingerprint, b: Fingerprint) -> None:
    """Raise unless ``a`` and ``b`` can be compared (the key id is checked first)."""
    if a.key_id != b.key_id:
        raise KeyMismatchError(
            f"fingerprints made under different keys ({a.key_id!r} and {b.key_id!r}) "
            "cannot be compared"
        )
    if a.algorithm != b.algorithm:
        raise IncompatibleFingerprintsError(
            f"cannot compare a {a.algorithm} fingerprint with a {b.algorithm} one"
        )
    if dict(a.parameters) != dict(b.parameters):
        differing = sorted(
            name for name in a.parameters if a.parameters[name] != b.parameters.get(name)
        )
        raise IncompatibleFingerprintsError(
            f"fingerprints differ in parameters.{differing[0]}; they cannot be compared"
        )


def similarity(a: Fingerprint, b: Fingerprint) -> float:
    """A score in [0, 1]: 1.0/0.0 for exact hashes, estimated Jaccard for MinHash,
    1 - Hamming/64 for SimHash. Raises ``KeyMismatchError`` across keys."""
    check_comparable(a, b)
    if a.algorithm == ALGORITHM_EXACT:
        return 1.0 if a.value == b.value else 0.0
    if a.algorithm == ALGORITHM_MINHASH:
        return estimated_jaccard(a.minhash_signature, b.minhash_signature)
    return 1.0 - hamming_distance(a.simhash_value, b.simhash_value) / SIMHASH_BITS


def matches(candidate: Fingerprint, reference: Fingerprint) -> bool:
    """Whether ``candidate`` matches ``reference`` under the reference's match rule.

    The reference is the published fingerprint (its producer chose the
    threshold); the candidate is the one computed locally. Raises
    ``KeyMismatchError`` across keys rather than answering False, so a key
    rotation is noticed instead of silently matching nothing.
    """
    check_comparable(candidate, reference)
    rule = reference.match_rule
    if rule["metric"] == "equal":
        return candidate.value == reference.value
    if rule["metric"] == "jaccard":
        similarity = estimated_jaccard(candidate.minhash_signature, reference.minhash_signature)
        return similarity >= float(rule["threshold"])
    distance = hamming_distance(candidate.simhash_value, reference.simhash_value)
    return distance <= float(rule["threshold"])

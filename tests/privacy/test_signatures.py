"""MinHash and SimHash against independent re-implementations of their specifications.

The fast MinHash engine packs many values into big integers; these tests
derive the permutations, shingle hashes and minima again from the text of
the specification (docs/privacy.md), one Python integer at a time.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from collections import Counter

import pytest

from exchange.privacy import ConsortiumKey
from exchange.privacy.minhash import (
    decode_signature,
    encode_signature,
    estimated_jaccard,
    minhasher_for,
)
from exchange.privacy.simhash import decode_simhash, encode_simhash, simhasher_for

P = (1 << 61) - 1


def subkey(key: ConsortiumKey, purpose: str) -> bytes:
    return hmac.new(key.secret, f"dx-subkey-v1:{purpose}".encode(), hashlib.sha256).digest()


def spec_permutations(key: ConsortiumKey) -> list[tuple[int, int]]:
    k = subkey(key, "minhash-permutation")

    def draw(label: str) -> int:
        return int.from_bytes(hmac.new(k, label.encode(), hashlib.sha256).digest()[:8], "big")

    return [(1 + draw(f"a:{i}") % (P - 1), draw(f"b:{i}") % P) for i in range(128)]


def spec_shingle_hash(key: ConsortiumKey, shingle: str) -> int:
    digest = hashlib.blake2b(
        shingle.encode(), digest_size=8, key=subkey(key, "minhash-shingle"), person=b"dx-minhash"
    ).digest()
    return int.from_bytes(digest, "big") % P


def spec_minhash_of_hashes(perms: list[tuple[int, int]], xs: list[int]) -> tuple[int, ...]:
    return tuple(min((a * x + b) % P for x in xs) & 0xFFFFFFFF for a, b in perms)


def spec_simhash(key: ConsortiumKey, shingles: list[str]) -> int:
    k = subkey(key, "simhash-shingle")
    weights = [0] * 64
    counts = Counter(shingles)
    for shingle, count in counts.items():
        h = int.from_bytes(
            hashlib.blake2b(shingle.encode(), digest_size=8, key=k, person=b"dx-simhash").digest(),
            "big",
        )
        for bit in range(64):
            weights[bit] += count if (h >> bit) & 1 else -count
    return sum(1 << bit for bit in range(64) if weights[bit] > 0)


def test_minhash_of_shingles_matches_the_spec(test_key: ConsortiumKey) -> None:
    perms = spec_permutations(test_key)
    shingle_sets = [
        {"solve the following", "the following problem", "following problem step"},
        {"only one shingle"},
        {f"word{i} word{i + 1} word{i + 2}" for i in range(75)},
    ]
    engine = minhasher_for(test_key)
    for shingles, signature in zip(shingle_sets, engine.signatures(shingle_sets), strict=True):
        xs = [spec_shingle_hash(test_key, s) for s in shingles]
        assert signature == spec_minhash_of_hashes(perms, xs)


def test_packed_engine_equals_naive_formula_on_many_shapes(test_key: ConsortiumKey) -> None:
    """Many set sizes (odd, even, one, above a batch) and values at the edges of [0, P)."""
    perms = spec_permutations(test_key)
    rng = random.Random(20260501)
    sets = [[rng.randrange(P) for _ in range(rng.randrange(1, 140))] for _ in range(150)]
    sets.append([0, 1, P - 1, P - 2])
    sets.append([rng.randrange(P) for _ in range(2100)])  # wider than one packed batch
    # Inputs whose value under some permutation is 0..6: the rare case where the
    # packed reduction needs its final correction step.
    sets.append([((r - b) * pow(a, -1, P)) % P for r in range(7) for a, b in perms[:40]])
    got = minhasher_for(test_key).signatures_of_hashes(sets)
    assert got == [spec_minhash_of_hashes(perms, xs) for xs in sets]


def test_signature_is_order_and_duplicate_independent(test_key: ConsortiumKey) -> None:
    engine = minhasher_for(test_key)
    a = engine.signature(["x y z", "y z w", "z w v"])
    b = engine.signature(["z w v", "x y z", "y z w", "x y z"])
    assert a == b


def test_minhash_estimates_jaccard(test_key: ConsortiumKey) -> None:
    engine = minhasher_for(test_key)
    base = [f"s{i}" for i in range(200)]
    for overlap in (0, 50, 100, 150, 200):
        other = base[:overlap] + [f"t{i}" for i in range(200 - overlap)]
        true_jaccard = overlap / (400 - overlap)
        estimate = estimated_jaccard(engine.signature(base), engine.signature(other))
        assert abs(estimate - true_jaccard) < 0.15


def test_minhash_encoding_round_trip(test_key: ConsortiumKey) -> None:
    signature = minhasher_for(test_key).signature(["a b c"])
    text = encode_signature(signature)
    assert len(text) == 684
    assert decode_signature(text) == signature
    with pytest.raises(ValueError, match="base64"):
        decode_signature("not base64 !")
    with pytest.raises(ValueError, match="512"):
        decode_signature(text[:-8])
    with pytest.raises(ValueError, match="128 values"):
        encode_signature(signature[:5])


def test_empty_sets_are_refused(test_key: ConsortiumKey) -> None:
    with pytest.raises(ValueError, match="empty"):
        minhasher_for(test_key).signatures([["a"], []])
    with pytest.raises(ValueError, match="empty"):
        simhasher_for(test_key).simhash([])


def test_simhash_matches_the_spec(test_key: ConsortiumKey) -> None:
    cases = [
        ["a b", "b c", "c d", "a b"],
        ["only"],
        [f"w{i % 17} w{i % 5}" for i in range(90)],
    ]
    for shingles in cases:
        assert simhasher_for(test_key).simhash(shingles) == spec_simhash(test_key, shingles)


def test_simhash_encoding() -> None:
    assert encode_simhash(0xDEADBEEF) == "00000000deadbeef"
    assert decode_simhash("00000000deadbeef") == 0xDEADBEEF
    for bad in ("DEADBEEF00000000", "123", "zzzzzzzzzzzzzzzz"):
        with pytest.raises(ValueError):
            decode_simhash(bad)
    with pytest.raises(ValueError):
        encode_simhash(1 << 64)

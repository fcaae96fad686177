"""Keyed MinHash signatures over word shingles, computed fast in pure Python.

Specification (normative; test vectors and an independent re-implementation
in the tests pin it down):

* P = 2**61 - 1 (a Mersenne prime); NUM_PERM = 128.
* Shingle hash: x = BLAKE2b-64(shingle as UTF-8, key=subkey("minhash-shingle"),
  person=b"dx-minhash"), read big-endian, then reduced mod P.
* Permutation i (0 <= i < NUM_PERM), with k = subkey("minhash-permutation"):
  a_i = 1 + int(HMAC-SHA256(k, "a:<i>")[:8], big-endian) mod (P - 1)
  b_i =     int(HMAC-SHA256(k, "b:<i>")[:8], big-endian) mod P
  h_i(x) = (a_i * x + b_i) mod P
* Signature value i = min over the shingle set of h_i(x), keeping its low 32
  bits (a 32-bit value collides by chance with probability 2**-32 per slot,
  far below the estimator's own noise, and halves the encoded size).
* Encoding: standard base64 of the 128 values packed as big-endian uint32.

Why keyed: an unkeyed MinHash leaks its text (most 3-word shingles can be
recovered from one signature with a word list). Here both the shingle hash
and the permutations depend on the secret, so without the key a signature
cannot be matched against guesses, nor compared with anything.

Speed: the naive double loop evaluates 128 x (number of shingles) affine maps
one Python integer at a time. Instead, the shingle hashes of a whole batch of
prompts are packed into one big integer (one 128-bit slot per value) and each
permutation is applied to every slot at once with a handful of big-integer
operations (SWAR: multiply, Mersenne fold with masks and shifts, and a
branch-free minimum that halves the slots at each step). Results are
bit-identical to the naive formula; the tests compare both.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import struct
from array import array
from collections.abc import Collection, Sequence
from functools import lru_cache

from exchange.privacy.keys import ConsortiumKey
from exchange.privacy.subkeys import MINHASH_PERMUTATION, MINHASH_SHINGLE, derive_subkey

MERSENNE_61 = (1 << 61) - 1
NUM_PERM = 128
VALUE_BITS = 32
SHINGLE_PERSON = b"dx-minhash"
ENCODED_BYTES = NUM_PERM * VALUE_BITS // 8

_VALUE_MASK = (1 << VALUE_BITS) - 1
_SLOT_BITS = 128  # a_i * x needs 122 bits; 128 keeps slots byte-aligned
_SLOT_BYTES = _SLOT_BITS // 8
_BATCH_SLOTS = 2048  # slots per packed integer: big enough to amortise, small enough to cache
_MAX_CACHED_LAYOUTS = 16
_MASK_61 = MERSENNE_61
_MASK_62 = (1 << 62) - 1

MinHashSignature = tuple[int, ...]


def permutation_parameters(key: ConsortiumKey) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """The key-derived (a_i, b_i) of the NUM_PERM permutations."""
    perm_key = derive_subkey(key, MINHASH_PERMUTATION)

    def draw(label: str) -> int:
        digest = hmac.new(perm_key, label.encode("ascii"), hashlib.sha256).digest()
        return int.from_bytes(digest[:8], "big")

    a = tuple(1 + draw(f"a:{i}") % (MERSENNE_61 - 1) for i in range(NUM_PERM))
    b = tuple(draw(f"b:{i}") % MERSENNE_61 for i in range(NUM_PERM))
    return a, b


class KeyedMinHash:
    """MinHash signatures under one key. Build once per key (``minhasher_for``) and reuse."""

    def __init__(self, key: ConsortiumKey) -> None:
        self.key_id = key.key_id
        self._hasher = hashlib.blake2b(
            digest_size=8, key=derive_subkey(key, MINHASH_SHINGLE), person=SHINGLE_PERSON
        )
        self._a, self._b = permutation_parameters(key)
        self._replicated_b: dict[int, list[int]] = {}
        self._layouts: dict[tuple[int, int], _Layout] = {}

    def shingle_hash(self, shingle: str) -> int:
        """x for one shingle: keyed 64-bit BLAKE2b, reduced mod P."""
        hasher = self._hasher.copy()
        hasher.update(shingle.encode("utf-8"))
        return int.from_bytes(hasher.digest(), "big") % MERSENNE_61

    def signature(self, shingles: Collection[str]) -> MinHashSignature:
        """The signature of one non-empty shingle set."""
        return self.signatures([shingles])[0]

    def signatures(self, shingle_sets: Sequence[Collection[str]]) -> list[MinHashSignature]:
        """Signatures of many shingle sets; batching them is what makes this fast."""
        hashed: list[list[int]] = []
        for shingles in shingle_sets:
            values = sorted({self.shingle_hash(s) for s in shingles})
            if not values:
                raise ValueError("cannot compute a MinHash of an empty shingle set")
            hashed.append(values)
        return self.signatures_of_hashes(hashed)

    def signatures_of_hashes(self, hashed: Sequence[Sequence[int]]) -> list[MinHashSignature]:
        """Signatures from shingle hashes (each < P), batched by padded set size."""
        results: list[MinHashSignature | None] = [None] * len(hashed)
        by_width: dict[int, list[int]] = {}
        for index, values in enumerate(hashed):
            by_width.setdefault(_padded_width(len(values)), []).append(index)
        for width, indices in by_width.items():
            per_batch = max(1, _BATCH_SLOTS // width)
            for start in range(0, len(indices), per_batch):
                chunk = indices[start : start + per_batch]
                batch = self._batch_signatures([hashed[i] for i in chunk], width)
                for index, signature in zip(chunk, batch, strict=True):
                    results[index] = signature
        return [signature for signature in results if signature is not None]

    def _batch_signatures(self, sets: list[Sequence[int]], width: int) -> list[MinHashSignature]:
        """One packed pass: slot (s, p) holds set p's s-th value, s-major (row s).

        Each set is padded to ``width`` by repeating its own values, which
        leaves its minimum unchanged and lets the halving minimum run in
        lock-step for every set of the batch.
        """
        count = len(sets)
        slots = width * count
        layout = self._layout(width, count)
        column: list[int] = []
        for s in range(width):
            column.extend(values[s % len(values)] for values in sets)
        packed = array("Q", bytes(slots * _SLOT_BYTES))
        packed[0::2] = array("Q", column)
        x = int.from_bytes(packed.tobytes(), "little")

        m61, m62 = layout.mask61, layout.mask62
        pair_ones, pair_m61, pair_m7 = layout.pair_ones, layout.pair_mask61, layout.pair_mask7
        pair_guard, out_mask = layout.pair_guard, layout.pair_out_mask
        pair_low_ones = layout.pair_low_ones
        b_pairs = self._replicated_pairs(slots, layout)
        flat_i: list[array[int]] = []
        flat_j: list[array[int]] = []
        for pair in range(NUM_PERM // 2):
            y = self._a[2 * pair] * x
            y = (y & m61) + ((y >> 61) & m62)
            z = self._a[2 * pair + 1] * x
            z = (z & m61) + ((z >> 61) & m62)
            y = (y | (z << 64)) + b_pairs[pair]  # two lanes per slot, each < 2**64
            # Second fold, plus one: t = value + 1 lies in [1, P + 8), and t >= 2**61
            # exactly when the value is not yet fully reduced (rare), which one AND finds.
            y = (y & pair_m61) + ((y >> 61) & pair_m7) + pair_ones
            if y & pair_guard:
                carry = (y >> 61) & pair_ones
                y = y - (carry << 61) + carry
            for row_bits, half_bits, low_mask, half_guard in layout.halvings:
                if row_bits:  # odd number of rows: repeat the first row to pair it up
                    y |= (y & layout.row_mask) << row_bits
                low = y & low_mask
                high = y >> half_bits
                ge = ((low | half_guard) - high) & half_guard
                y = low ^ ((low ^ high) & (ge - (ge >> 61)))
            y = (y - pair_low_ones) & out_mask  # undo the plus one on the minima only
            lanes = array("Q", y.to_bytes(count * _SLOT_BYTES, "little"))
            flat_i.append(lanes[0::2])
            flat_j.append(lanes[1::2])
        flat = array("Q")
        for first, second in zip(flat_i, flat_j, strict=True):
            flat.extend(first)
            flat.extend(second)
        return [tuple(flat[p::count]) for p in range(count)]

    def _layout(self, width: int, count: int) -> _Layout:
        layout = self._layouts.get((width, count))
        if layout is None:
            layout = _Layout(width, count)
            if len(self._layouts) >= _MAX_CACHED_LAYOUTS:  # about 0.3 MB each: drop the oldest
                del self._layouts[next(iter(self._layouts))]
            self._layouts[(width, count)] = layout
        return layout

    def _replicated_pairs(self, slots: int, layout: _Layout) -> list[int]:
        """(b_2k, b_2k+1) in the two 64-bit lanes of every slot.

        Cached for the full batch size (smaller batches mask it) because building
        it costs as much as a permutation's multiply.
        """
        full = self._replicated_b.get(_BATCH_SLOTS)
        if full is None:
            full_pair_ones = _ones(_BATCH_SLOTS)
            full = [
                (self._b[2 * k] | (self._b[2 * k + 1] << 64)) * full_pair_ones
                for k in range(NUM_PERM // 2)
            ]
            self._replicated_b[_BATCH_SLOTS] = full
        if slots == _BATCH_SLOTS:
            return full
        if slots < _BATCH_SLOTS:
            mask = (1 << (slots * _SLOT_BITS)) - 1
            return [b_rep & mask for b_rep in full]
        return [
            (self._b[2 * k] | (self._b[2 * k + 1] << 64)) * layout.ones
            for k in range(NUM_PERM // 2)
        ]


class _Layout:
    """Masks for one batch shape (width values per set x count sets), built once."""

    def __init__(self, width: int, count: int) -> None:
        slots = width * count
        self.ones = _ones(slots)
        self.mask61 = self.ones * _MASK_61
        self.mask62 = self.ones * _MASK_62
        self.pair_ones = self.ones | (self.ones << 64)
        self.pair_mask61 = self.pair_ones * _MASK_61
        self.pair_mask7 = self.pair_ones * 7
        self.pair_guard = self.pair_ones << 61
        self.pair_low_ones = _ones(count) | (_ones(count) << 64)
        self.pair_out_mask = self.pair_low_ones * _VALUE_MASK
        row_bits = count * _SLOT_BITS
        self.row_mask = (1 << row_bits) - 1
        # Each step halves the rows; an odd count first gets a copy of row 0
        # (a repeated value cannot change a minimum). Steps: (shift to append
        # the copy or 0, bits of the lower half, its mask, its guard bits).
        self.halvings: list[tuple[int, int, int, int]] = []
        rows = width
        while rows > 1:
            append_at = rows * row_bits if rows % 2 else 0
            rows = (rows + 1) // 2
            half_bits = rows * row_bits
            low_mask = (1 << half_bits) - 1
            self.halvings.append((append_at, half_bits, low_mask, self.pair_guard & low_mask))


def _ones(slots: int) -> int:
    """An integer with 1 at the bottom of each of ``slots`` 128-bit slots."""
    return int.from_bytes((b"\x01" + bytes(_SLOT_BYTES - 1)) * slots, "little")


def _padded_width(size: int) -> int:
    """Rows a set is padded to: a power of two up to 8, then a multiple of 8.

    Sets of one width share a batch; coarse widths make batches fuller, fine
    widths waste fewer slots on padding. Multiples of 8 waste under 4 rows on
    average while keeping the number of distinct widths small.
    """
    if size <= 8:
        return 1 << max(0, (size - 1).bit_length())
    return -(-size // 8) * 8


@lru_cache(maxsize=8)
def minhasher_for(key: ConsortiumKey) -> KeyedMinHash:
    """The cached engine for a key (deriving 256 permutation parameters is not free)."""
    return KeyedMinHash(key)


def encode_signature(signature: Sequence[int]) -> str:
    """Base64 of the values packed as big-endian uint32."""
    if len(signature) != NUM_PERM:
        raise ValueError(f"a MinHash signature has {NUM_PERM} values, got {len(signature)}")
    return base64.b64encode(struct.pack(f">{NUM_PERM}I", *signature)).decode("ascii")


def decode_signature(text: str) -> MinHashSignature:
    """Parse ``encode_signature`` output; ValueError on anything else."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("MinHash value is not valid base64") from None
    if len(raw) != ENCODED_BYTES:
        raise ValueError(
            f"MinHash value decodes to {len(raw)} bytes; expected {ENCODED_BYTES} "
            f"({NUM_PERM} x uint32)"
        )
    return struct.unpack(f">{NUM_PERM}I", raw)


def estimated_jaccard(a: Sequence[int], b: Sequence[int]) -> float:
    """The share of equal slots: an unbiased estimate of the sets' Jaccard similarity."""
    if len(a) != len(b):
        raise ValueError("MinHash signatures of different lengths cannot be compared")
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)

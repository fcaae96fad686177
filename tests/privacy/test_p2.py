"""Normalisation ``p2`` and the ``containment-keyed`` template signature: vectors and rules."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import struct
import unicodedata
from typing import Any

import pytest

from exchange.privacy import ConsortiumKey, Fingerprint, fingerprint_template_set
from exchange.privacy.fingerprint import exact_template_hash
from exchange.privacy.normalise_p2 import MAX_QUOTED_SLOT, normalise_prompt_p2
from exchange.privacy.template_signature import (
    MIN_SIGNATURE_VALUES,
    ContainmentHasher,
    containment,
    decode_values,
    invariant_hashes,
)
from exchange.privacy.unicode_folding import (
    DEFAULT_IGNORABLE_RANGES,
    confusable_fold_table,
    is_default_ignorable,
)

BASE = "Solve the following problem step by step and show your reasoning"


def test_p2_vectors_recompute(vectors: dict[str, Any], test_key: ConsortiumKey) -> None:
    hasher = ContainmentHasher(test_key)
    for vector in vectors["prompt_p2"]["vectors"]:
        normal = normalise_prompt_p2(vector["raw"])
        assert normal == vector["normalized"]
        assert exact_template_hash(normal, test_key, "p2") == vector["hmac-sha256-template"]
        assert sorted(hasher.hashes(normal))[:4] == vector["shingle_hashes"]


def test_p2_exact_hash_and_shingle_hash_against_independent_code(vectors: dict[str, Any]) -> None:
    secret = bytes(range(1, 33))
    subkey = hmac.new(secret, b"dx-subkey-v1:containment-shingle", hashlib.sha256).digest()
    for vector in vectors["prompt_p2"]["vectors"][:3]:
        message = ("prompt-template:p2:" + vector["normalized"]).encode()
        expected = hmac.new(secret, message, hashlib.sha256).hexdigest()
        assert vector["hmac-sha256-template"] == expected
        words = vector["normalized"].split()
        hashes = sorted(
            int.from_bytes(
                hashlib.blake2b(
                    f"{a} {b}".encode(), digest_size=8, key=subkey, person=b"dx-contain"
                ).digest()[:4],
                "big",
            )
            for a, b in itertools.pairwise(words)
        )
        assert hashes[:4] == vector["shingle_hashes"]


def test_p2_template_set_vector(vectors: dict[str, Any], test_key: ConsortiumKey) -> None:
    frozen = vectors["prompt_p2"]["template_set"]
    payload = fingerprint_template_set(frozen["prompts"], test_key)
    assert payload.normalization == "p2"
    assert payload.containment is not None
    assert payload.containment.value == frozen["containment-keyed"]
    assert dict(payload.containment.match_rule) == frozen["match_rule"]
    shared = Fingerprint.from_dict(payload.containment.to_dict())
    assert len(shared.containment_values) >= MIN_SIGNATURE_VALUES


def test_every_default_ignorable_code_point_is_dropped() -> None:
    for low, high in DEFAULT_IGNORABLE_RANGES:
        for code in range(low, high + 1):
            text = f"ab{chr(code)}cd ef"
            assert normalise_prompt_p2(text) == "abcd ef", hex(code)
    # Invisible characters that p1 (category Cf only) let through.
    for char in "\u034f\ufe0f\u180b\u17b4\u3164":
        assert is_default_ignorable(char)
        assert normalise_prompt_p2(f"st{char}ep by step") == "step by step"
    assert not is_default_ignorable("a") and not is_default_ignorable(" ")


def test_confusables_fold_from_the_package_data() -> None:
    table = confusable_fold_table()
    assert len(table) > 1000  # real UTS #39 data, not a hand list
    cyrillic = "\u0430\u0435\u043e\u0440\u0441\u0445\u0456"  # Cyrillic a e o r s h i
    greek = "\u03bf\u03b1\u03c1\u03bd"  # Greek omicron alpha rho nu
    assert normalise_prompt_p2(cyrillic) == "aeopcxi"
    assert normalise_prompt_p2(greek) == "oapv"
    assert normalise_prompt_p2("\u0421\u041e\u0420\u0415") == "cope"  # upper-case Cyrillic
    # Letters with no ASCII twin stay as they are (a Russian prompt stays Russian).
    assert normalise_prompt_p2("\u0434\u0430") == "\u0434a"


def test_nfkc_and_case_and_punctuation() -> None:
    fullwidth = "".join(chr(ord(c) + 0xFEE0) for c in "Solve")
    bold = "".join(chr(0x1D41A + ord(c) - ord("a")) for c in "step")
    assert normalise_prompt_p2(f"{fullwidth} the ﬁle {bold}") == "solve the file step"
    assert normalise_prompt_p2("SOLVE,   the   problem!!! Step-by-step...") == (
        "solve the problem step by step"
    )
    assert normalise_prompt_p2("Don\u2019t stop; don't") == "dont stop dont"
    assert unicodedata.is_normalized("NFKC", normalise_prompt_p2("\uff38 \uff59 \uff5a"))


@pytest.mark.parametrize(
    ("left", "right"),
    [('"', '"'), ("\u201c", "\u201d"), ("'", "'"), ("\u00ab", "\u00bb"), ("`", "`")],
)
def test_whole_prompt_quotes_are_packaging_not_a_slot(left: str, right: str) -> None:
    assert normalise_prompt_p2(f"{left}{BASE}{right}") == normalise_prompt_p2(BASE)
    assert normalise_prompt_p2(f"  {left}{left}{BASE}{right}{right} ") == normalise_prompt_p2(BASE)


def test_quoted_literal_is_masked_only_when_it_is_a_slot() -> None:
    assert normalise_prompt_p2(f'{BASE} for "the word of the day" please') == (
        normalise_prompt_p2(BASE) + " for <str> please"
    )
    long_passage = "word " * (MAX_QUOTED_SLOT // 5 + 1)
    kept = normalise_prompt_p2(f'Translate: "{long_passage.strip()}"')
    assert "<str>" not in kept and kept.startswith("translate word word")
    # A quote covering most of the prompt is not a slot either.
    assert normalise_prompt_p2(f'Hi "{BASE}"') == "hi " + normalise_prompt_p2(BASE)


def test_invariant_rule_and_containment(test_key: ConsortiumKey) -> None:
    hasher = ContainmentHasher(test_key)
    template = "summarise the following passage in exactly three sentences for a general reader"
    prompts = [f"{template} {slot}" for slot in ("alpha beta", "gamma delta", "eps zeta", "x y")]
    prompts += [f"{template} alpha beta"]
    sets = [hasher.hashes(normalise_prompt_p2(p)) for p in prompts]
    invariant = invariant_hashes(sets)
    # 5 prompts: a shingle must be in ceil(0.8 * 5) = 4 of them; "reader alpha" is in 2.
    assert invariant == hasher.hashes(template)
    values = sorted(hasher.hashes(template))
    assert containment(values, hasher.hashes("words " + template + " more words")) == 1.0
    assert containment(values, hasher.hashes("nothing in common here")) == 0.0


def test_signature_encoding_is_checked() -> None:
    with pytest.raises(ValueError, match="base64"):
        decode_values("not base64!")
    with pytest.raises(ValueError, match="expected"):
        decode_values("AAAA")
    descending = base64.b64encode(struct.pack(">10I", *range(10, 0, -1))).decode()
    with pytest.raises(ValueError, match="ascending"):
        decode_values(descending)


def test_too_short_a_template_gets_no_signature(test_key: ConsortiumKey) -> None:
    payload = fingerprint_template_set(["Hi there", "Hi there", "Hi there"], test_key)
    assert payload.containment is None
    assert [f.algorithm for f in payload.fingerprints] == ["hmac-sha256-template"]

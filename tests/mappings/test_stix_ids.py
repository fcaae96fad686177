"""The hand-written UUIDv5 and the SCO id cache give exactly what the standard ways give."""

from __future__ import annotations

import random
import uuid

from mappings.ids import (
    PROJECT_NAMESPACE,
    SCO_NAMESPACE,
    canonical_json,
    observable_id,
    uuid5_text,
)


def test_uuid5_text_is_uuid5_for_many_names() -> None:
    rng = random.Random(5)
    alphabet = "abcXYZ019 -_:/.\n\u00e9\u4e2d\U0001f600"
    names = ["", "a", "relationship\nlab-a.example\nip-range\n198.51.100.0/24\nasn"]
    names += ["".join(rng.choices(alphabet, k=rng.randrange(1, 80))) for _ in range(3000)]
    for namespace in (PROJECT_NAMESPACE, SCO_NAMESPACE, uuid.NAMESPACE_DNS):
        for name in names:
            assert uuid5_text(namespace, name) == str(uuid.uuid5(namespace, name)), name


def test_observable_ids_are_the_same_cached_or_not_and_whatever_the_key_order() -> None:
    fields = {"algorithm": "minhash-keyed", "key_id": "k-1", "value": "AAAAAAAAAAAA"}
    expected = f"prompt-fingerprint--{uuid.uuid5(SCO_NAMESPACE, canonical_json(fields))}"
    assert observable_id("prompt-fingerprint", fields) == expected
    assert observable_id("prompt-fingerprint", dict(reversed(fields.items()))) == expected
    assert observable_id("prompt-fingerprint", fields) == expected  # from the cache
    assert observable_id("autonomous-system", {"number": 64500}) != observable_id(
        "autonomous-system", {"number": 64501}
    )

"""The hand-written UUIDv5 and SCO ids give exactly what the standard ways give."""

from __future__ import annotations

import json
import random
import uuid

import pytest

from mappings.ids import (
    PROJECT_NAMESPACE,
    SCO_NAMESPACE,
    canonical_json,
    observable_id,
    single_property_observable_id,
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


def test_observable_ids_do_not_depend_on_the_key_order() -> None:
    fields = {"algorithm": "minhash-keyed", "key_id": "k-1", "value": "AAAAAAAAAAAA"}
    expected = f"prompt-fingerprint--{uuid.uuid5(SCO_NAMESPACE, canonical_json(fields))}"
    assert observable_id("prompt-fingerprint", fields) == expected
    assert observable_id("prompt-fingerprint", dict(reversed(fields.items()))) == expected
    assert observable_id("autonomous-system", {"number": 64500}) != observable_id(
        "autonomous-system", {"number": 64501}
    )


@pytest.mark.parametrize(
    "value",
    [
        "a" * 64,
        "198.51.100.0/24",
        "2001:db8::/48",
        'quote " inside',
        "back\\slash",
        "tab\tand\nnewline",
        "del\x7f",
        "caf\u00e9 \u4e2d \U0001f600",
        "",
    ],
)
def test_canonical_json_escapes_exactly_as_json_does(value: str) -> None:
    expected = json.dumps({"user_id": value}, ensure_ascii=False, separators=(",", ":"))
    assert canonical_json({"user_id": value}) == expected
    assert single_property_observable_id("user-account", "user_id", value) == observable_id(
        "user-account", {"user_id": value}
    )
    assert observable_id("user-account", {"user_id": value}) == (
        f"user-account--{uuid.uuid5(SCO_NAMESPACE, expected)}"
    )

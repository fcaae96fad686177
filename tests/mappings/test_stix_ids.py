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


# -- authored ids come from the producer's id secret (issue 12, item 3) -------------

SECRET_A = bytes(range(32))
SECRET_OTHER = bytes(range(1, 33))


def _authored_ids(bundle: dict) -> set[str]:
    """Ids of the objects the producer authored (not its identity, not shared ones)."""
    return {
        obj["id"]
        for obj in bundle["objects"]
        if obj.get("created_by_ref") and obj["type"] != "identity"
        and not obj["id"].startswith(("extension-definition--", "attack-pattern--"))
    }  # fmt: skip


def _bundle(producer):  # type: ignore[no-untyped-def]
    from mappings.convert import records_to_bundle
    from tests.mappings.stix_factories import cluster, fingerprint, ip_range

    return records_to_bundle([cluster(), fingerprint(), ip_range()], producer)


def test_the_namespace_is_an_hmac_of_the_producer_key_under_the_secret() -> None:
    import hashlib
    import hmac

    from mappings.ids import producer_namespace

    digest = hmac.new(SECRET_A, b"dx authored ids v1\nlab-a.example", hashlib.sha256).digest()
    assert producer_namespace("lab-a.example", SECRET_A) == uuid.UUID(bytes=digest[:16])
    assert producer_namespace("lab-a.example", SECRET_A) != producer_namespace(
        "lab-b.example", SECRET_A
    )
    with pytest.raises(ValueError, match="16 bytes"):
        producer_namespace("lab-a.example", b"short")


def test_same_secret_same_ids_and_nobody_without_it_computes_them() -> None:
    from mappings.producer import Producer

    lab_a = Producer("lab-a.example", "Lab A", SECRET_A)
    again = _bundle(Producer("lab-a.example", "Lab A", bytes(SECRET_A)))
    ids = _authored_ids(_bundle(lab_a))
    assert len(ids) > 5 and ids == _authored_ids(again)
    # Lab B knows lab A's producer key but not its secret: the public (legacy) ids,
    # or any other secret, name none of lab A's objects.
    public = _bundle(Producer("lab-a.example", "Lab A"))
    guessed = _bundle(Producer("lab-a.example", "Lab A", SECRET_OTHER))
    assert ids.isdisjoint(_authored_ids(public))
    assert ids.isdisjoint(_authored_ids(guessed))
    # What partners must be able to name stays public: the identity and the observables.
    assert lab_a.identity_id == Producer("lab-a.example", "Lab A").identity_id
    observables = {o["id"] for o in public["objects"] if "created_by_ref" not in o}
    assert observables <= {o["id"] for o in _bundle(lab_a)["objects"]}
    with pytest.raises(ValueError, match="16 bytes"):
        Producer("lab-a.example", "Lab A", b"too short")
    assert repr(SECRET_A) not in repr(lab_a)  # the secret never reaches a log line


def test_feedback_ids_come_from_the_secret_too() -> None:
    from datetime import UTC, datetime

    from mappings.feedback import opinion_id, sighting_id
    from mappings.producer import Producer

    lab_b = Producer("lab-b.example", "Lab B", SECRET_A)
    public = Producer("lab-b.example", "Lab B")
    when = datetime(2026, 4, 1, tzinfo=UTC)
    target = "indicator--" + str(uuid.uuid4())
    assert sighting_id(lab_b, target, when) != sighting_id(public, target, when)
    assert opinion_id(lab_b, [target]) != opinion_id(public, [target])
    assert sighting_id(lab_b, target, when) == sighting_id(
        Producer("lab-b.example", "Lab B", SECRET_A), target, when
    )

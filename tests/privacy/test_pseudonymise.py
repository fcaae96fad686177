"""Keyed pseudonymisation n1: published vectors, rules, and refusal of non-identifiers."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any, get_args

import pytest
from hypothesis import given
from hypothesis import strategies as st

from exchange.privacy import (
    ConsortiumKey,
    HashingScheme,
    IdentifierKind,
    hash_normalised,
    is_keyed_hash,
    looks_like_raw_identifier,
    normalise_identifier,
    pseudonymise,
)
from mappings.records import IdentifierKind as RecordIdentifierKind


def test_vector_file_uses_the_published_key(vectors: dict[str, Any], test_key) -> None:
    assert vectors["key"]["key_id"] == test_key.key_id
    assert bytes.fromhex(vectors["key"]["secret_hex"]) == test_key.secret
    assert vectors["identifier_normalization"] == "n1"


def test_every_identifier_vector_recomputes(vectors: dict[str, Any], test_key) -> None:
    counts: dict[str, int] = {}
    for vector in vectors["identifier_vectors"]:
        region = vector.get("default_region")
        normalised = normalise_identifier(vector["kind"], vector["raw"], default_region=region)
        assert normalised == vector["normalized"], vector
        assert (
            pseudonymise(vector["kind"], vector["raw"], test_key, default_region=region)
            == (vector["hash"])
        ), vector
        counts[vector["kind"]] = counts.get(vector["kind"], 0) + 1
    assert counts["email"] >= 8 and counts["phone"] >= 8
    assert {"org_domain", "payment_fingerprint", "device_fingerprint"} <= set(counts)


def test_vectors_against_an_independent_hmac(vectors: dict[str, Any]) -> None:
    """Recompute a few vector hashes with hmac directly, so the file is not self-fulfilling."""
    secret = bytes(range(1, 33))
    by_raw = {v["raw"]: v for v in vectors["identifier_vectors"]}
    cases = {
        "  Alice.Smith@Example.COM ": b"email:alice.smith@example.com",
        "J.O.H.N.Doe+x@googlemail.com": b"email:johndoe@gmail.com",
        "+44 (0)20 7946 0958": b"phone:+442079460958",
        "8 (495) 123-45-67": b"phone:+74951234567",
        "WWW.Example.COM.": b"org_domain:example.com",
    }
    for raw, message in cases.items():
        expected = hmac.new(secret, message, hashlib.sha256).hexdigest()
        assert by_raw[raw]["hash"] == expected, raw


def test_invalid_vectors_are_refused(vectors: dict[str, Any]) -> None:
    for vector in vectors["invalid_identifiers"]:
        with pytest.raises(ValueError) as caught:
            normalise_identifier(vector["kind"], vector["raw"])
        assert "\n" not in str(caught.value)
        assert str(caught.value) == vector["reason"]


def test_kinds_are_exactly_the_record_kinds() -> None:
    assert {k.value for k in IdentifierKind} == set(get_args(RecordIdentifierKind))
    assert IdentifierKind("email") is IdentifierKind.EMAIL
    assert IdentifierKind.PHONE == "phone"


def test_kind_separates_domains(test_key: ConsortiumKey) -> None:
    as_payment = pseudonymise("payment_fingerprint", "example.com", test_key)
    as_device = pseudonymise("device_fingerprint", "example.com", test_key)
    as_domain = pseudonymise("org_domain", "example.com", test_key)
    assert len({as_payment, as_device, as_domain}) == 3


def test_hash_depends_on_the_key(test_key, other_key, same_id_other_secret) -> None:
    hashes = {
        pseudonymise("email", "alice@example.com", key)
        for key in (test_key, other_key, same_id_other_secret)
    }
    assert len(hashes) == 3
    assert all(is_keyed_hash(h) for h in hashes)


def test_unknown_kind_is_refused(test_key) -> None:
    with pytest.raises(ValueError, match="unknown identifier kind 'ip'"):
        pseudonymise("ip", "192.0.2.1", test_key)
    with pytest.raises(ValueError, match="unknown identifier kind"):
        hash_normalised("Email", "a@example.com", test_key)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Alice+promo@Example.com", "alice@example.com"),
        ("a.l.i.c.e@gmail.com", "alice@gmail.com"),
        ("alice@googlemail.com", "alice@gmail.com"),
        ("a.lice@other.com", "a.lice@other.com"),  # dots only matter to Gmail
        ("ALICE@EXAMPLE.COM.", "alice@example.com"),
    ],
)
def test_email_rules(raw: str, expected: str) -> None:
    assert normalise_identifier("email", raw) == expected


@pytest.mark.parametrize(
    "raw",
    ["mailto:a@example.com", "a@example", "a@[192.0.2.1]", "a@192.0.2.1", "@example.com", "a@.com"],
)
def test_not_emails(raw: str) -> None:
    with pytest.raises(ValueError):
        normalise_identifier("email", raw)


@pytest.mark.parametrize(
    ("raw", "region", "expected"),
    [
        ("+1 201-555-0123", None, "+12015550123"),
        ("(201) 555.0123", "us", "+12015550123"),
        ("0201 555 0123", "DE", "+492015550123"),
        ("06 1 234 5678", "HU", "+3612345678"),
        ("+39 06 2123 4567", "GB", "+390621234567"),  # international form ignores the region
        (
            "\u0660\u0662\u0660 \u0667\u0669\u0664\u0666 \u0660\u0669\u0665\u0668",
            "GB",
            "+442079460958",
        ),
    ],
)
def test_phone_rules(raw: str, region: str | None, expected: str) -> None:
    assert normalise_identifier("phone", raw, default_region=region) == expected


@pytest.mark.parametrize(
    ("raw", "region", "reason"),
    [
        ("2015550123", None, "no country code"),
        ("2015550123", "XX", "unknown default region"),
        ("+0 123 4567", None, "assigned country calling code"),
        ("+1 201 555 0123 ext 4", None, "letters"),
        ("+1#2015550123", None, "'#'"),
        ("---", None, "no digits"),
        ("", None, "empty"),
    ],
)
def test_phone_garbage(raw: str, region: str | None, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        normalise_identifier("phone", raw, default_region=region)


def test_hashing_scheme(test_key) -> None:
    scheme = HashingScheme.for_key(test_key)
    assert scheme.to_dict() == {
        "algorithm": "hmac-sha256",
        "key_id": "test-vector-key",
        "normalization": "n1",
    }
    assert HashingScheme(key_id="x") == HashingScheme(algorithm="hmac-sha256", key_id="x")


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("alice@example.com", IdentifierKind.EMAIL),
        (" Bob.Smith+x@Example.co.uk ", IdentifierKind.EMAIL),
        ("+1 (201) 555-0123", IdentifierKind.PHONE),
        ("020 7946 0958", IdentifierKind.PHONE),
        ("tel:+442079460958", IdentifierKind.PHONE),
        ("a" * 64, None),
        ("0" * 64, None),
        ("hello world", None),
        ("12345", None),
        ("cluster-42", None),
        ("", None),
    ],
)
def test_looks_like_raw_identifier(value: str, kind: IdentifierKind | None) -> None:
    assert looks_like_raw_identifier(value) == kind


def test_hashes_never_look_raw(test_key) -> None:
    for raw in ("alice@example.com", "+12015550123", "example.com"):
        for kind in ("email", "phone", "org_domain"):
            try:
                value = pseudonymise(kind, raw, test_key)
            except ValueError:
                continue
            assert looks_like_raw_identifier(value) is None


_local = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=20)
_label = st.from_regex(r"\A[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?\Z")


@given(
    local=_local,
    tag=st.text(alphabet="abc123", max_size=5),
    labels=st.lists(_label, min_size=1, max_size=3),
)
def test_email_normalisation_is_idempotent(local: str, tag: str, labels: list[str]) -> None:
    address = f"{local.upper()}+{tag}@{'.'.join([*labels, 'com'])}"
    once = normalise_identifier("email", address)
    assert normalise_identifier("email", once) == once
    assert once == once.lower() and "+" not in once


@given(digits=st.text(alphabet="0123456789", min_size=6, max_size=13), sep=st.sampled_from(" -."))
def test_phone_normalisation_is_idempotent(digits: str, sep: str) -> None:
    raw = "+1" + sep + sep.join(digits[i : i + 3] for i in range(0, len(digits), 3))
    once = normalise_identifier("phone", raw)
    assert normalise_identifier("phone", once) == once
    assert once == "+1" + digits


def test_docs_publish_the_same_vectors(vectors: dict[str, Any]) -> None:
    """docs/privacy.md carries every vector of the JSON file, so the two cannot drift."""
    docs = (Path(__file__).resolve().parents[2] / "docs" / "privacy.md").read_text(encoding="utf-8")
    for vector in vectors["identifier_vectors"]:
        assert f"`{vector['normalized']}` | `{vector['hash']}`" in docs, vector["raw"]
    for vector in vectors["prompt_vectors"]:
        assert vector["hmac-sha256-template"] in docs and vector["simhash-keyed"] in docs

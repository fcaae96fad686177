"""Keyed pseudonymisation of account identifiers: what a lab shares instead of them.

    pseudonymise(kind, raw, key) = hex(HMAC-SHA256(key.secret, f"{kind}:{normalised}"))

* The identifier is normalised first (version ``n1``, see
  ``identifier_normalisation`` and ``phone``) so that two labs holding the same
  address in different spellings produce the same hash.
* The kind is part of the message (domain separation): the same string as an
  e-mail and as an organisation domain gives unrelated hashes.
* The key is the consortium key, so partner labs can match hashes of their
  own accounts, while nobody outside the consortium can test guesses. The key
  id travels with every hash (``HashingScheme``) so keys can be rotated.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import unicodedata
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from exchange.privacy.identifier_normalisation import (
    normalise_email,
    normalise_opaque,
    normalise_org_domain,
)
from exchange.privacy.keys import ConsortiumKey
from exchange.privacy.phone import normalise_phone

IDENTIFIER_NORMALISATION_VERSION = "n1"
HASH_ALGORITHM = "hmac-sha256"


class IdentifierKind(StrEnum):
    """The identifier kinds a keyed hash may be of (docs/privacy.md); values are wire strings."""

    EMAIL = "email"
    PHONE = "phone"
    PAYMENT_FINGERPRINT = "payment_fingerprint"
    DEVICE_FINGERPRINT = "device_fingerprint"
    ORG_DOMAIN = "org_domain"


@dataclass(frozen=True, kw_only=True)
class HashingScheme:
    """How identifiers were hashed, published next to the hashes so partners can match."""

    algorithm: str = HASH_ALGORITHM
    key_id: str
    normalization: str = IDENTIFIER_NORMALISATION_VERSION

    @classmethod
    def for_key(cls, key: ConsortiumKey) -> HashingScheme:
        return cls(key_id=key.key_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "algorithm": self.algorithm,
            "key_id": self.key_id,
            "normalization": self.normalization,
        }


def _kind(kind: str) -> IdentifierKind:
    try:
        return IdentifierKind(kind)
    except ValueError:
        names = ", ".join(k.value for k in IdentifierKind)
        raise ValueError(f"unknown identifier kind {kind!r}; expected one of {names}") from None


def normalise_identifier(kind: str, raw: str, *, default_region: str | None = None) -> str:
    """The ``n1`` normalised form of ``raw``; ValueError (one line) when it is not valid.

    ``default_region`` (ISO 3166 alpha-2) is only used for phone numbers written
    without a country code.
    """
    checked = _kind(kind)
    if not isinstance(raw, str):
        raise ValueError(f"{checked.value} must be a string")
    if checked is IdentifierKind.EMAIL:
        return normalise_email(raw)
    if checked is IdentifierKind.PHONE:
        return normalise_phone(raw, default_region)
    if checked is IdentifierKind.ORG_DOMAIN:
        return normalise_org_domain(raw)
    return normalise_opaque(raw)


def hash_normalised(kind: str, normalised: str, key: ConsortiumKey) -> str:
    """The keyed hash of an already normalised identifier (lowercase hex, 64 digits)."""
    message = f"{_kind(kind).value}:{normalised}".encode()
    return hmac.new(key.secret, message, hashlib.sha256).hexdigest()


def pseudonymise(
    kind: str, raw: str, key: ConsortiumKey, *, default_region: str | None = None
) -> str:
    """Normalise then hash: the only form of an account identifier that leaves the lab."""
    normalised = normalise_identifier(kind, raw, default_region=default_region)
    return hash_normalised(kind, normalised, key)


_KEYED_HASH = re.compile(r"^[0-9a-f]{64}$")
_EMAIL_LIKE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE_LIKE = re.compile(r"^(?:tel:)?\+?[\d\s().\-/]+$")


def is_keyed_hash(value: str) -> bool:
    """Whether ``value`` has the shape of a pseudonym (64 lowercase hex digits)."""
    return bool(_KEYED_HASH.match(value))


def looks_like_raw_identifier(value: str) -> IdentifierKind | None:
    """``EMAIL`` or ``PHONE`` when ``value`` looks like a raw address or number, else None.

    Validators call this where a keyed hash is expected, to refuse the worst
    mistake a pipeline can make (publishing the identifier itself) with a
    message that says so. It only has to be right about plausible raw values;
    anything else is refused anyway for not being a hash.
    """
    text = unicodedata.normalize("NFKC", value).strip()
    if _KEYED_HASH.match(text):
        return None
    if _EMAIL_LIKE.match(text):
        return IdentifierKind.EMAIL
    if _PHONE_LIKE.match(text.lower()) and 7 <= sum(ch.isdigit() for ch in text) <= 15:
        return IdentifierKind.PHONE
    return None

"""HTTP Basic authentication of partners against the store, on every request.

The user name is the partner id and the password its API key. Nothing is
cached: each request asks the store (one indexed query), so a revoked or
rotated key stops working at once in every worker process. Failures are 401
with a ``WWW-Authenticate`` challenge (RFC 7235) and a TAXII error body, and
never say whether the partner id or the key was wrong.
"""

from __future__ import annotations

import base64
import binascii

from server.store import Store
from server.store.types import Partner
from server.taxii.errors import TaxiiError

MAX_CREDENTIAL_CHARS = 1024


def parse_basic_credentials(header: str | None) -> tuple[str, str] | None:
    """(partner_id, api_key) from an ``Authorization: Basic ...`` header, or None."""
    if not header or len(header) > MAX_CREDENTIAL_CHARS:
        return None
    scheme, _, encoded = header.strip().partition(" ")
    if scheme.lower() != "basic" or not encoded.strip():
        return None
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        return None
    partner_id, sep, api_key = decoded.partition(":")
    if not sep or not partner_id or not api_key:
        return None
    return partner_id, api_key


def unauthorized(realm: str, description: str) -> TaxiiError:
    safe_realm = realm.replace('"', "'")
    return TaxiiError(
        401,
        description,
        headers={"WWW-Authenticate": f'Basic realm="{safe_realm}", charset="UTF-8"'},
    )


def authenticate(store: Store, header: str | None, realm: str) -> Partner:
    """The authenticated partner, or raise TaxiiError(401)."""
    credentials = parse_basic_credentials(header)
    if credentials is None:
        raise unauthorized(
            realm,
            "Authenticate with HTTP Basic: your partner id as user name, your API key as password.",
        )
    partner = store.authenticate(*credentials)
    if partner is None or not partner.active:
        raise unauthorized(
            realm, "The partner id or API key is not valid (or the key was revoked)."
        )
    return partner

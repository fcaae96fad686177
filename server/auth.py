"""HTTP Basic authentication of partners against the store, on every request.

The user name is the partner id and the password its API key. Nothing is
cached: each request asks the store (one indexed query), so a revoked or
rotated key stops working at once in every worker process. Failures are 401
with a ``WWW-Authenticate`` challenge (RFC 7235) and a TAXII error body, and
never say whether the partner id or the key was wrong.

Failed logins are counted in the store per partner id and per client address
(every worker and host shares the count); past the configured limit, logins
from that partner id or address get 429 with ``Retry-After`` until the window
ends, whatever key they carry. Requests without credentials are not login
attempts: they get the 401 challenge and count for nothing.
"""

from __future__ import annotations

import base64
import binascii

from server.ratelimit import retry_after_header
from server.store import Store
from server.store.rate_limits import LoginLimits
from server.store.timestamps import now_us
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
    if "\x00" in decoded:  # no partner id or key has one, and PostgreSQL text cannot hold it
        return None
    return partner_id, api_key


def unauthorized(realm: str, description: str) -> TaxiiError:
    safe_realm = realm.replace('"', "'")
    return TaxiiError(
        401,
        description,
        headers={"WWW-Authenticate": f'Basic realm="{safe_realm}", charset="UTF-8"'},
    )


def too_many_failures(blocked_until_us: int) -> TaxiiError:
    return TaxiiError(
        429,
        "Too many failed logins from this address or for this partner id; "
        "retry after the time given in Retry-After.",
        error_code="too-many-failed-logins",
        headers=retry_after_header((blocked_until_us - now_us()) / 1_000_000),
    )


def authenticate(
    store: Store,
    header: str | None,
    realm: str,
    address: str = "unknown",
    limits: LoginLimits | None = None,
) -> Partner:
    """The authenticated partner, or raise TaxiiError(401), or 429 while logins are blocked."""
    credentials = parse_basic_credentials(header)
    if credentials is None:
        raise unauthorized(
            realm,
            "Authenticate with HTTP Basic: your partner id as user name, your API key as password.",
        )
    partner_id, api_key = credentials
    limits = limits or LoginLimits(per_partner=0, per_address=0, window_us=1)
    check = store.check_login(partner_id, api_key, address, limits)
    if check.blocked_until_us:
        raise too_many_failures(check.blocked_until_us)
    if check.partner is not None:
        return check.partner
    if store.record_login_failure(partner_id, address, limits) > 0:
        # This failure raced past the block check of a limit another request just reached.
        raise too_many_failures(store.login_blocked_until(partner_id, address, limits))
    raise unauthorized(realm, "The partner id or API key is not valid (or the key was revoked).")

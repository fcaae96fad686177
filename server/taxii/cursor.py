"""Stateless `next` tokens: a MAC'd position plus the query it belongs to.

medallion keeps `next` snapshots in process memory for 30 s, so they break
with several workers, behind a load balancer and across restarts. Here a token
carries everything needed to resume: where the last page ended (date_added,
seq), which endpoint/collection/object it pages through, and the query's
filters, authenticated with HMAC-SHA256 under the server's ``cursor_secret``.
Any process holding the same secret can continue the listing, and a tampered
or foreign token is a clean 400.

The filters travel inside the token when they are small (almost always), so a
client may follow `next` without repeating them; if the client does repeat
them they must match the token's. Very long filter lists only travel as a
digest, and the client must then repeat them (TAXII clients do).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from dataclasses import dataclass

import orjson

from server.store.types import Position
from server.taxii.errors import TaxiiError
from server.taxii.filters import Filters

TOKEN_FORMAT = 1
MAC_BYTES = 16
MAX_INLINE_FILTER_BYTES = 1024
MAX_TOKEN_CHARS = 8192


@dataclass(frozen=True)
class Scope:
    """What a token pages through; a token is valid only for the same scope."""

    endpoint: str  # "objects", "manifest", "object" or "versions"
    collection_id: str
    object_id: str = ""


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    if not text.isascii():
        raise ValueError("not ascii")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _digest(filters: Filters) -> str:
    return hashlib.sha256(orjson.dumps(filters.canonical())).hexdigest()[:32]


class CursorCodec:
    """Encodes and verifies `next` tokens with one server secret."""

    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"dx-next-token\0" + secret.encode("utf-8")).digest()

    def _mac(self, payload: bytes) -> bytes:
        return hmac.new(self._key, payload, hashlib.sha256).digest()[:MAC_BYTES]

    def encode(self, scope: Scope, filters: Filters, position: Position) -> str:
        canonical = filters.canonical()
        inline = canonical if len(orjson.dumps(canonical)) <= MAX_INLINE_FILTER_BYTES else None
        payload = orjson.dumps(
            [
                TOKEN_FORMAT,
                scope.endpoint,
                scope.collection_id,
                scope.object_id,
                position.date_added_us,
                position.seq,
                _digest(filters),
                inline,
            ]
        )
        return f"{_b64encode(payload)}.{_b64encode(self._mac(payload))}"

    def decode(
        self, token: str, scope: Scope, request_filters: Filters
    ) -> tuple[Position, Filters]:
        """Verify a token for this scope; return where to resume and the filters to apply.

        ``request_filters`` are the filters the client sent along with `next`;
        empty means "use the token's".
        """
        payload = self._verified_payload(token)
        try:
            fmt, endpoint, collection_id, object_id, date_added_us, seq, digest, inline = (
                orjson.loads(payload)
            )
            if fmt != TOKEN_FORMAT:
                raise ValueError("format")
            for number in (date_added_us, seq):
                if not isinstance(number, int) or isinstance(number, bool) or number < 0:
                    raise ValueError("position")
            token_filters = None if inline is None else Filters.from_canonical(inline)
        except (ValueError, TypeError):
            raise _invalid("it is not a token this server issued") from None
        if (endpoint, collection_id, object_id) != (
            scope.endpoint,
            scope.collection_id,
            scope.object_id,
        ):
            raise _invalid("it was issued for a different endpoint, collection or object")
        if not request_filters.is_empty():
            if _digest(request_filters) != digest:
                raise TaxiiError(
                    400,
                    "The filters sent with 'next' differ from those of the query that issued it; "
                    "repeat the original filters or send none.",
                    error_code="next-filters-mismatch",
                )
            filters = request_filters
        elif token_filters is None:
            if digest != _digest(Filters()):
                raise TaxiiError(
                    400,
                    "This 'next' token needs the original filters repeated alongside it.",
                    error_code="next-filters-missing",
                )
            filters = Filters()
        else:
            filters = token_filters
        return Position(date_added_us, seq), filters

    def _verified_payload(self, token: str) -> bytes:
        if len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
            raise _invalid("it is malformed")
        body, mac = token.split(".")
        try:
            payload = _b64decode(body)
            claimed = _b64decode(mac)
        except (ValueError, binascii.Error):
            raise _invalid("it is malformed") from None
        if not hmac.compare_digest(claimed, self._mac(payload)):
            raise _invalid("it was altered or issued by a server with another secret")
        return payload


def _invalid(reason: str) -> TaxiiError:
    return TaxiiError(400, f"The 'next' value is not valid: {reason}.", error_code="invalid-next")

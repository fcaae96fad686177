"""TAXII JSON responses, built fast.

Objects are stored as JSON text, so an envelope is assembled by concatenating
that text between a few bytes of framing: no object is parsed or re-serialised
on the read path. Everything else is small and goes through orjson.

An envelope, manifest or versions resource with nothing to list is the empty
object `{}`, as TAXII 2.1 asks (sections 5.3.1 and 5.8.1; envelopes alike);
clients read a missing `more` as false. The X-TAXII-Date-Added-First/-Last
headers go with every page that has content and are left out of an empty one,
which has no date to give.
"""

from __future__ import annotations

from collections.abc import Sequence

import orjson
from flask import Response

from server.store.timestamps import format_timestamp_us
from server.store.types import StoredVersion
from server.taxii.media import TAXII_CONTENT_TYPE

DATE_ADDED_FIRST = "X-TAXII-Date-Added-First"
DATE_ADDED_LAST = "X-TAXII-Date-Added-Last"


def taxii_json(
    document: object, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        orjson.dumps(document),
        status=status,
        headers={"Content-Type": TAXII_CONTENT_TYPE, **(headers or {})},
    )


def date_added_headers(rows: Sequence[StoredVersion]) -> dict[str, str]:
    """First/last date_added of the page (omitted on an empty page: there is no value)."""
    if not rows:
        return {}
    return {
        DATE_ADDED_FIRST: format_timestamp_us(rows[0].date_added_us),
        DATE_ADDED_LAST: format_timestamp_us(rows[-1].date_added_us),
    }


_EMPTY = b"{}"


def _empty() -> Response:
    return Response(_EMPTY, status=200, headers={"Content-Type": TAXII_CONTENT_TYPE})


def _paging_prefix(more: bool, next_token: str | None) -> bytes:
    prefix = b'{"more":true' if more else b'{"more":false'
    if next_token is not None:
        prefix += b',"next":' + orjson.dumps(next_token)
    return prefix


def envelope(rows: Sequence[StoredVersion], more: bool, next_token: str | None) -> Response:
    """An envelope whose objects are the stored JSON texts, concatenated verbatim."""
    if not rows:
        return _empty()
    parts = [
        _paging_prefix(more, next_token),
        b',"objects":[',
        ",".join(row.body or "null" for row in rows).encode("utf-8"),
        b"]}",
    ]
    return Response(
        b"".join(parts),
        status=200,
        headers={"Content-Type": TAXII_CONTENT_TYPE, **date_added_headers(rows)},
    )


def manifest(rows: Sequence[StoredVersion], more: bool, next_token: str | None) -> Response:
    if not rows:
        return _empty()
    document: dict[str, object] = {"more": more}
    if next_token is not None:
        document["next"] = next_token
    document["objects"] = [
        {
            "id": row.stix_id,
            "date_added": format_timestamp_us(row.date_added_us),
            "version": row.version,
            "media_type": row.media_type,
        }
        for row in rows
    ]
    return taxii_json(document, headers=date_added_headers(rows))


def versions(rows: Sequence[StoredVersion], more: bool, next_token: str | None) -> Response:
    if not rows:
        return _empty()
    document: dict[str, object] = {"more": more}
    if next_token is not None:
        document["next"] = next_token
    document["versions"] = [row.version for row in rows]
    return taxii_json(document, headers=date_added_headers(rows))

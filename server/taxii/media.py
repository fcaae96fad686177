"""TAXII content negotiation: which Accept and Content-Type headers are served.

TAXII 2.1 (sections 1.6.8 and 3.1) defines one media type,
``application/taxii+json``, with an optional ``version`` parameter; without it
the client means "the latest version the server supports", here 2.1. Every
request MUST name a TAXII media range in Accept, so a missing Accept, ``*/*``
alone or ``application/json`` get 406 with an error that says what to send.
POST bodies must be ``application/taxii+json`` (version 2.1 or none): 415 if not.
"""

from __future__ import annotations

from dataclasses import dataclass

TAXII_MEDIA_TYPE = "application/taxii+json"
TAXII_VERSION = "2.1"
TAXII_CONTENT_TYPE = f"{TAXII_MEDIA_TYPE};version={TAXII_VERSION}"
STIX_CONTENT_TYPE = "application/stix+json;version=2.1"


@dataclass(frozen=True)
class MediaRange:
    type: str  # e.g. "application/taxii+json", lower-cased
    params: dict[str, str]


def _parse_params(parts: list[str]) -> dict[str, str] | None:
    params: dict[str, str] = {}
    for part in parts:
        part = part.strip()
        if not part:
            continue
        if "=" not in part:
            return None
        key, _, value = part.partition("=")
        params[key.strip().lower()] = value.strip().strip('"')
    return params


def parse_media_ranges(header: str) -> list[MediaRange]:
    """Split an Accept header into media ranges; malformed entries are dropped."""
    ranges: list[MediaRange] = []
    for item in header.split(","):
        pieces = item.split(";")
        media = pieces[0].strip().lower()
        if not media or "/" not in media:
            continue
        params = _parse_params(pieces[1:])
        if params is None:
            continue
        ranges.append(MediaRange(media, params))
    return ranges


def _quality(params: dict[str, str]) -> float:
    try:
        return float(params.get("q", "1"))
    except ValueError:
        return 0.0


def accepts_taxii(header: str | None) -> bool:
    """True if Accept names application/taxii+json, version 2.1 or unversioned, q > 0."""
    if not header:
        return False
    for media in parse_media_ranges(header):
        if media.type != TAXII_MEDIA_TYPE or _quality(media.params) <= 0:
            continue
        if media.params.get("version", TAXII_VERSION) == TAXII_VERSION:
            return True
    return False


def is_taxii_content_type(header: str | None) -> bool:
    """True for application/taxii+json, version 2.1 or none, and UTF-8 if a charset is given."""
    if not header:
        return False
    ranges = parse_media_ranges(header)
    if len(ranges) != 1 or "," in header:
        return False
    media = ranges[0]
    if media.type != TAXII_MEDIA_TYPE:
        return False
    if media.params.get("version", TAXII_VERSION) != TAXII_VERSION:
        return False
    charset = media.params.get("charset", "utf-8").lower()
    return charset in ("utf-8", "utf8")

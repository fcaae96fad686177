"""Query parameters of the filtering endpoints, parsed and validated up front.

Every value a client can put in the query string is checked here before the
store is touched, so a malformed filter is a clean 400 naming the parameter
(TAXII 2.1 section 3.4: "If any of the URL query parameters are malformed, the
TAXII Server MUST return an HTTP 400"). Decisions where the spec leaves room:

* Unknown parameters and unknown ``match[<field>]`` fields are ignored (section
  3.4 lets servers ignore fields they do not understand).
* A TAXII parameter that the endpoint does not define (e.g. ``match[type]`` on
  the versions endpoint) is a 400, because silently ignoring it would return
  something other than what the client asked for.
* Any TAXII parameter given twice (``limit=1&limit=2``) is a 400.
* ``limit`` must be a whole number from 1 to 2**53-1 (TAXII integer range);
  values above the server maximum are served as the maximum, with ``more``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from werkzeug.datastructures import MultiDict

from server.store.timestamps import stix_timestamp_us, version_key
from server.taxii.errors import TaxiiError

# Canonical forms only, matched with fullmatch: a lower-case UUID and nothing
# after it (``$`` would also match before a final newline). An id in another
# spelling would be stored as a distinct object shadowing the real one.
STIX_ID = re.compile(
    r"[a-z0-9]+(?:-[a-z0-9]+)*--"
    r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}",
    re.ASCII,
)
STIX_TYPE = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*", re.ASCII)
SPEC_VERSION = re.compile(r"[0-9]{1,3}\.[0-9]{1,3}", re.ASCII)
VERSION_KEYWORDS = ("first", "last", "all")
MAX_TAXII_INTEGER = 2**53 - 1
MAX_LIST_VALUES = 1000

ADDED_AFTER = "added_after"
LIMIT = "limit"
NEXT = "next"
MATCH_ID = "match[id]"
MATCH_TYPE = "match[type]"
MATCH_VERSION = "match[version]"
MATCH_SPEC_VERSION = "match[spec_version]"
KNOWN_PARAMETERS = (
    ADDED_AFTER,
    LIMIT,
    NEXT,
    MATCH_ID,
    MATCH_TYPE,
    MATCH_VERSION,
    MATCH_SPEC_VERSION,
)

# Which TAXII parameters each filtering endpoint defines (TAXII 2.1 sections 5.3-5.8).
COLLECTION_LISTING = frozenset(KNOWN_PARAMETERS)
SINGLE_OBJECT = frozenset({ADDED_AFTER, LIMIT, NEXT, MATCH_VERSION, MATCH_SPEC_VERSION})
VERSIONS_LISTING = frozenset({ADDED_AFTER, LIMIT, NEXT, MATCH_SPEC_VERSION})
DELETION = frozenset({MATCH_VERSION, MATCH_SPEC_VERSION})


def is_stix_id(value: str) -> bool:
    return 3 <= len(value) <= 300 and _matches_stix_id(value)


# A POST's references repeat (every object names the same creator and markings,
# relationships point at recent objects): three in four checks of a
# 10,000-object POST are of an id already checked. Only strings within the
# length limit reach the cache, so it stays small whatever clients send.
@lru_cache(maxsize=1 << 14)
def _matches_stix_id(value: str) -> bool:
    return STIX_ID.fullmatch(value) is not None


def is_stix_type(value: str) -> bool:
    return 3 <= len(value) <= 250 and bool(STIX_TYPE.fullmatch(value))


@dataclass(frozen=True)
class Filters:
    """The match and added_after filters of one request (``limit``/``next`` apart)."""

    ids: tuple[str, ...] = ()
    types: tuple[str, ...] = ()
    versions: tuple[str, ...] = ()
    spec_versions: tuple[str, ...] = ()
    added_after_us: int | None = None

    def is_empty(self) -> bool:
        return self == Filters()

    def canonical(self) -> list[object]:
        """An order-independent form, for comparing a request with its `next` token."""
        return [
            sorted(self.ids),
            sorted(self.types),
            sorted(self.versions),
            sorted(self.spec_versions),
            self.added_after_us,
        ]

    @classmethod
    def from_canonical(cls, value: object) -> Filters:
        if not (isinstance(value, list) and len(value) == 5):
            raise ValueError("bad filters")
        lists = value[:4]
        if not all(isinstance(x, list) and all(isinstance(s, str) for s in x) for x in lists):
            raise ValueError("bad filters")
        added = value[4]
        if added is not None and (not isinstance(added, int) or isinstance(added, bool)):
            raise ValueError("bad filters")
        return cls(tuple(lists[0]), tuple(lists[1]), tuple(lists[2]), tuple(lists[3]), added)


@dataclass(frozen=True)
class ListingRequest:
    filters: Filters
    limit: int | None  # as requested (None: absent); capping is the caller's job
    next_token: str | None


def _single(args: MultiDict[str, str], name: str) -> str | None:
    values = args.getlist(name)
    if not values:
        return None
    if len(values) > 1:
        raise TaxiiError(
            400, f"'{name}' may appear only once in a request.", error_code="repeated-parameter"
        )
    return values[0]


def _comma_list(name: str, raw: str) -> list[str]:
    values = raw.split(",")
    if any(not value for value in values):
        raise TaxiiError(
            400,
            f"'{name}' must be a comma-separated list without empty values or spaces.",
            error_code="invalid-parameter",
        )
    if len(values) > MAX_LIST_VALUES:
        raise TaxiiError(
            400,
            f"'{name}' lists more than {MAX_LIST_VALUES} values.",
            error_code="invalid-parameter",
        )
    return values


def _is_spec_version(value: str) -> bool:
    return bool(SPEC_VERSION.fullmatch(value))


def _checked_list(
    name: str, raw: str | None, valid: Callable[[str], bool], what: str
) -> tuple[str, ...]:
    """A comma list whose every value passes ``valid``; () when the parameter is absent."""
    if raw is None:
        return ()
    values = _comma_list(name, raw)
    for value in values:
        if not valid(value):
            raise TaxiiError(
                400, f"'{name}': {value!r} is not {what}.", error_code="invalid-parameter"
            )
    return tuple(values)


def parse_timestamp_parameter(name: str, raw: str) -> int:
    try:
        return stix_timestamp_us(raw)
    except (ValueError, OverflowError):
        raise TaxiiError(
            400,
            f"'{name}': {raw!r} is not a timestamp like 2026-01-31T12:00:00.000Z.",
            error_code="invalid-timestamp",
        ) from None


def _versions(raw: str) -> tuple[str, ...]:
    values = _comma_list(MATCH_VERSION, raw)
    seen: list[str] = []
    for value in values:
        key = value if value in VERSION_KEYWORDS else None
        if key is None:
            parse_timestamp_parameter(MATCH_VERSION, value)
            key = version_key(value)
        if key in seen:
            raise TaxiiError(
                400, f"'{MATCH_VERSION}' repeats {value!r}.", error_code="invalid-parameter"
            )
        seen.append(key)
    if "all" in seen and len(seen) > 1:
        raise TaxiiError(
            400,
            f"'{MATCH_VERSION}': 'all' cannot be combined with other values.",
            error_code="invalid-parameter",
        )
    return tuple(seen)


def parse_limit(raw: str | None) -> int | None:
    if raw is None:
        return None
    if (
        not raw.isascii()
        or not raw.isdigit()
        or len(raw) > 16
        or int(raw) < 1
        or int(raw) > MAX_TAXII_INTEGER
    ):
        raise TaxiiError(
            400,
            f"'limit': {raw!r} is not a whole number from 1 to {MAX_TAXII_INTEGER}.",
            error_code="invalid-limit",
        )
    return int(raw)


def parse_listing_request(args: MultiDict[str, str], allowed: frozenset[str]) -> ListingRequest:
    """Validate the query string of a filtering endpoint; TaxiiError(400) on anything wrong."""
    for name in KNOWN_PARAMETERS:
        if name in args and name not in allowed:
            raise TaxiiError(
                400,
                f"'{name}' is not supported on this endpoint.",
                error_code="unsupported-parameter",
            )
    raw = {name: _single(args, name) for name in allowed}
    ids = _checked_list(MATCH_ID, raw.get(MATCH_ID), is_stix_id, "a STIX id like indicator--<uuid>")
    types = _checked_list(MATCH_TYPE, raw.get(MATCH_TYPE), is_stix_type, "a STIX type name")
    spec_versions = _checked_list(
        MATCH_SPEC_VERSION, raw.get(MATCH_SPEC_VERSION), _is_spec_version, "a version like 2.1"
    )
    version_values = raw.get(MATCH_VERSION)
    versions = () if version_values is None else _versions(version_values)
    added_values = raw.get(ADDED_AFTER)
    added_after = (
        None if added_values is None else parse_timestamp_parameter(ADDED_AFTER, added_values)
    )
    next_token = raw.get(NEXT)
    if next_token is not None and not next_token:
        raise TaxiiError(400, "'next' is empty.", error_code="invalid-next")
    filters = Filters(
        tuple(dict.fromkeys(ids)),
        tuple(dict.fromkeys(types)),
        versions,
        tuple(dict.fromkeys(spec_versions)),
        added_after,
    )
    return ListingRequest(filters, parse_limit(raw.get(LIMIT)), next_token)

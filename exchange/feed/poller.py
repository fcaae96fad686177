"""Incremental sync of TAXII collections into the local feed store.

Each page is requested with ``added_after`` = the stored cursor rather than by
following ``next`` tokens: the server gives every version in a collection a
unique, strictly increasing ``date_added``, so "everything added after the
last version I stored" is exact, survives server restarts and needs no
server-side state. ``match[version]=all`` is requested so the store keeps
history and revocations, not just the latest version.

The objects endpoint returns bare objects; the date_added of each version (and
the server's idea of its version) comes from the manifest of the same range,
fetched right after with ``limit`` = the number of objects received. Both lists
are in date_added order and the server only ever appends after existing
versions, so they line up position by position; if they do not (a version was
deleted in between) the page is fetched again.

Each page and its cursor are committed together (``FeedStore.store_page``), so
a poller killed at any instant resumes exactly where it stopped. Versions the
store refuses because another identity created the object (``creators``) are
logged one ``refused_version`` warning each and counted in ``synced``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from taxii2client.v21 import Collection

from exchange.feed.client import TaxiiSession
from exchange.feed.errors import BadServerResponse
from exchange.feed.logs import JsonLog
from exchange.feed.store import FeedStore, ReceivedVersion
from exchange.match.index import sync_prompt_index
from mappings.timestamps import object_version
from mappings.timestamps import stix_timestamp_key as timestamp_key

DEFAULT_PAGE_SIZE = 1000
DATE_ADDED_LAST = "X-TAXII-Date-Added-Last"
# A page whose manifest does not line up is re-fetched this many times at most.
_PAGE_ATTEMPTS = 3


@dataclass(frozen=True)
class Page:
    versions: list[ReceivedVersion]
    cursor: str | None
    more: bool


@dataclass
class SyncResult:
    """What one collection's sync did, for logs and the command's summary."""

    collection: str
    pages: int = 0
    received: int = 0
    stored: int = 0
    refused: int = 0
    cursor: str | None = None
    duration_s: float = 0.0


class _PageShifted(Exception):
    """Objects and manifest of one range did not line up (a concurrent delete)."""


def _pair_with_manifest(
    objects: Sequence[Any], entries: Sequence[Any], what: str
) -> list[ReceivedVersion]:
    if len(entries) < len(objects):
        raise _PageShifted
    versions = []
    for obj, entry in zip(objects, entries, strict=False):
        if not isinstance(obj, dict) or not isinstance(obj.get("id"), str):
            raise BadServerResponse(f"{what}: the server sent an object without an id")
        if not isinstance(entry, dict) or entry.get("id") != obj["id"]:
            raise _PageShifted
        version, date_added = str(entry.get("version")), str(entry.get("date_added"))
        try:
            version_key = timestamp_key(version)
            timestamp_key(date_added)
        except ValueError:
            raise BadServerResponse(
                f"{what}: manifest entry for {obj['id']} has a bad version or date_added"
            ) from None
        stated = object_version(obj)
        if stated is not None and timestamp_key(stated) != version_key:
            raise _PageShifted
        versions.append(ReceivedVersion(obj["id"], version, date_added, obj))
    return versions


def fetch_page(
    session: TaxiiSession, collection: Collection, cursor: str | None, limit: int
) -> Page:
    """The next versions after ``cursor`` (all versions), each with its date_added."""
    what = f"collection {collection.id}"
    filters: dict[str, Any] = {"version": "all"}
    if cursor is not None:
        filters["added_after"] = cursor
    for _attempt in range(_PAGE_ATTEMPTS):
        envelope = session.call(what, collection.get_objects, limit=limit, **filters)
        header_last = session.last_headers.get(DATE_ADDED_LAST)
        if not isinstance(envelope, dict):
            raise BadServerResponse(f"{what}: the objects response is not a TAXII envelope")
        objects = envelope.get("objects") or []
        if not objects:
            return Page([], cursor, False)
        manifest = session.call(
            f"{what} manifest", collection.get_manifest, limit=len(objects), **filters
        )
        entries = (manifest.get("objects") or []) if isinstance(manifest, dict) else []
        try:
            versions = _pair_with_manifest(objects, entries, what)
        except _PageShifted:
            session.log.warning("page_shifted", collection=collection.id, cursor=cursor)
            continue
        last = versions[-1].date_added
        if header_last is not None and timestamp_key(header_last) != timestamp_key(last):
            # The header and the manifest disagree only if the range changed between calls.
            session.log.warning("page_shifted", collection=collection.id, cursor=cursor)
            continue
        return Page(versions, last, bool(envelope.get("more")))
    raise BadServerResponse(
        f"{what}: objects and manifest kept disagreeing after {_PAGE_ATTEMPTS} attempts "
        "(versions being deleted during the sync?); run the poll again"
    )


def sync_collection(
    store: FeedStore,
    session: TaxiiSession,
    collection: Collection,
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    should_stop: Callable[[], bool] = lambda: False,
) -> SyncResult:
    """Fetch and store every version added since the stored cursor, page by page."""
    api_root = session.api_root_url
    result = SyncResult(collection=collection.id)
    started = time.monotonic()
    cursor = store.cursor(api_root, collection.id)
    result.cursor = cursor
    while not should_stop():
        page_started = time.monotonic()
        page = fetch_page(session, collection, cursor, page_size)
        if not page.versions:
            break
        assert page.cursor is not None
        if cursor is not None and timestamp_key(page.cursor) <= timestamp_key(cursor):
            raise BadServerResponse(
                f"collection {collection.id}: the server returned versions not added after "
                f"{cursor} (added_after ignored?)"
            )
        outcome = store.store_page_report(api_root, collection.id, page.versions, page.cursor)
        for refused in outcome.refused:
            session.log.warning(
                "refused_version",
                collection=refused.collection,
                id=refused.stix_id,
                version=refused.version,
                created_by_ref=refused.created_by_ref,
                first_creator=refused.first_creator,
                problem=refused.reason(),
            )
        sync_prompt_index(store.path)  # keep dx match's index current (exchange.match.index)
        cursor = page.cursor
        result.pages += 1
        result.received += len(page.versions)
        result.stored += outcome.stored
        result.refused += len(outcome.refused)
        result.cursor = cursor
        session.log.event(
            "page",
            collection=collection.id,
            objects=len(page.versions),
            stored=outcome.stored,
            refused=len(outcome.refused),
            cursor=cursor,
            duration_ms=round((time.monotonic() - page_started) * 1000, 1),
        )
        if not page.more:
            break
    result.duration_s = time.monotonic() - started
    return result


def poll_once(
    store: FeedStore,
    session: TaxiiSession,
    collection_refs: Sequence[str],
    *,
    page_size: int = DEFAULT_PAGE_SIZE,
    should_stop: Callable[[], bool] = lambda: False,
    log: JsonLog | None = None,
) -> list[SyncResult]:
    """Sync each collection (by id, alias or title) once, in order."""
    log = log or session.log
    results = []
    for ref in collection_refs:
        if should_stop():
            break
        collection = session.collection(ref)
        result = sync_collection(
            store, session, collection, page_size=page_size, should_stop=should_stop
        )
        log.event(
            "synced",
            collection=collection.id,
            objects=result.received,
            stored=result.stored,
            refused=result.refused,
            pages=result.pages,
            cursor=result.cursor,
            duration_ms=round(result.duration_s * 1000, 1),
        )
        results.append(result)
    return results

"""From a validated query string to the store's ObjectQuery, and back to a `next` token."""

from __future__ import annotations

from dataclasses import dataclass

from werkzeug.datastructures import MultiDict

from server.store.types import ObjectQuery, Page
from server.taxii.context import server_context
from server.taxii.cursor import Scope
from server.taxii.filters import Filters, parse_listing_request


@dataclass(frozen=True)
class PagedQuery:
    scope: Scope
    filters: Filters
    query: ObjectQuery
    continues: bool  # True when resuming from a `next` token


def paged_query(args: MultiDict[str, str], allowed: frozenset[str], scope: Scope) -> PagedQuery:
    ctx = server_context()
    request = parse_listing_request(args, allowed)
    filters = request.filters
    after = None
    if request.next_token is not None:
        after, filters = ctx.cursors.decode(request.next_token, scope, filters)
    query = ObjectQuery(
        ids=filters.ids,
        types=filters.types,
        versions=filters.versions,
        spec_versions=filters.spec_versions,
        added_after_us=filters.added_after_us,
        limit=ctx.page_size(request.limit),
        after=after,
    )
    return PagedQuery(scope, filters, query, after is not None)


def next_token(paged: PagedQuery, page: Page) -> str | None:
    if not page.more or page.last is None:
        return None
    return server_context().cursors.encode(paged.scope, paged.filters, page.last)

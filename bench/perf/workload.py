"""The client workload, identical for every server: publish, poll, page, sync.

What a consortium partner does, timed from the client:

* publish: POST the whole feed in envelopes sized to the API root's
  ``max_content_length`` (this server only; medallion loads a data file);
* first page of ``objects`` with ``limit`` 100 and 1,000;
* a deep ``next`` page: the continuation token of the page 90% into the
  collection, requested again with each limit;
* an ``added_after`` poll for the newest objects (the value a poller kept
  from the ``X-TAXII-Date-Added-Last`` of its previous poll);
* a full sync of a new partner, following ``next`` with ``limit`` 1,000, and
  again with ``limit`` 100 (this server only: a poller's usual page size, where
  the fixed cost of each request dominates);
* manifest (first page, limit 100) and versions of an object with two versions.

medallion's ``next`` tokens are server-side sessions consumed as they are
followed; when a token no longer answers, the workload walks to the same depth
again to get a fresh one, so both servers are asked exactly the same thing.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from bench.perf.client import TaxiiClient, Timed, envelopes

DEEP_FRACTION = 0.9
SYNC_LIMIT = 1000
SMALL_SYNC_LIMIT = 100
SMALL_SYNC_RUNS = 5
PAGE_LIMITS = (100, 1000)


class WorkloadError(RuntimeError):
    """A server answered something other than success: the figures would be meaningless."""


@dataclass
class Samples:
    seconds: list[float] = field(default_factory=list)

    def add(self, timed: Timed) -> Timed:
        if timed.status != 200:
            raise WorkloadError(f"HTTP {timed.status}: {timed.body[:300]!r}")
        self.seconds.append(timed.seconds)
        return timed

    def summary(self) -> dict[str, float]:
        ordered = sorted(self.seconds)
        if not ordered:
            return {"n": 0}
        p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
        return {
            "n": len(ordered),
            "median_ms": statistics.median(ordered) * 1000,
            "p95_ms": p95 * 1000,
        }


def publish(client: TaxiiClient, objects: Iterable[dict]) -> dict[str, float]:
    """POST everything; objects/s over the time spent in requests (not in generating)."""
    max_bytes = client.max_content_length()
    posted, request_seconds, envelope_count = 0, 0.0, 0
    wall_started = time.perf_counter()
    for body, count in envelopes(objects, max_bytes):
        answer = client.post(body)
        if answer.status != 202:
            raise WorkloadError(f"POST answered {answer.status}: {answer.body[:300]!r}")
        status = answer.json()
        if status.get("failure_count", 0):
            raise WorkloadError(f"POST refused objects: {status.get('failures', [])[:3]}")
        posted += count
        request_seconds += answer.seconds
        envelope_count += 1
    return {
        "objects": posted,
        "envelopes": envelope_count,
        "max_content_length": max_bytes,
        "objects_per_s": posted / request_seconds,
        "wall_s": time.perf_counter() - wall_started,
    }


@dataclass
class SyncResult:
    objects: int
    seconds: float
    pages: int
    # Next token and X-TAXII-Date-Added-Last of every page but the last.
    tokens: list[str]
    added_last: list[str | None]

    @property
    def walk_limit(self) -> int:
        """Page size of the walk to the deep position: small collections need smaller pages."""
        if self.objects >= 20 * SYNC_LIMIT:
            return SYNC_LIMIT
        return max(1, min(100, self.objects // 10))

    @property
    def deep_page(self) -> int:
        """How many pages of ``walk_limit`` precede the deep position (at least one)."""
        return max(1, int(self.objects * DEEP_FRACTION / self.walk_limit))


def full_sync(client: TaxiiClient, limit: int = SYNC_LIMIT) -> SyncResult:
    """Page through everything with ``limit`` (1,000 by default), as a new partner does."""
    tokens: list[str] = []
    added_last: list[str | None] = []
    total, token = 0, None
    started = time.perf_counter()
    while True:
        params: dict[str, object] = {"limit": limit}
        if token:
            params["next"] = token
        answer = client.objects(**params)
        if answer.status != 200:
            raise WorkloadError(f"sync page: HTTP {answer.status}: {answer.body[:300]!r}")
        page = answer.json()
        total += len(page.get("objects", []))
        if not page.get("more"):
            break
        token = page["next"]
        tokens.append(token)
        added_last.append(answer.headers.get("X-TAXII-Date-Added-Last"))
    seconds = time.perf_counter() - started
    return SyncResult(total, seconds, len(tokens) + 1, tokens, added_last)


def deep_position(client: TaxiiClient, sync: SyncResult) -> tuple[str, str | None]:
    """(next token, date_added of the last object seen) 90% into the collection.

    Taken from the full sync when it paged with the same size (and the
    server's tokens are stateless); otherwise walked again.
    """
    if sync.walk_limit == SYNC_LIMIT and len(sync.tokens) >= sync.deep_page:
        return sync.tokens[sync.deep_page - 1], sync.added_last[sync.deep_page - 1]
    token, added_last = None, None
    for _ in range(sync.deep_page):
        params: dict[str, object] = {"limit": sync.walk_limit}
        if token:
            params["next"] = token
        answer = client.objects(**params)
        page = answer.json()
        if not page.get("more"):
            break
        token, added_last = page["next"], answer.headers.get("X-TAXII-Date-Added-Last")
    if token is None:
        raise WorkloadError("the collection has a single page: no deep next token")
    return token, added_last


def deep_pages(
    client: TaxiiClient, sync: SyncResult, token: str | None, limit: int, repeats: int
) -> Samples:
    """``repeats`` requests of a token 90% deep.

    Stateless tokens answer the same page every time; a session token
    (medallion) answers the following pages and, once used up, is refused, and
    a fresh one is walked to.
    """
    samples = Samples()
    for _ in range(repeats):
        if token is None:
            token, _ = deep_position(client, sync)
        answer = client.objects(limit=limit, next=token)
        if answer.status != 200:  # a consumed or expired session token (medallion)
            token, _ = deep_position(client, sync)
            answer = client.objects(limit=limit, next=token)
        samples.add(answer)
    return samples


def _log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}]   {message}", file=sys.stderr, flush=True)


def repeat(request: Callable[[], Timed], repeats: int) -> Samples:
    samples = Samples()
    for _ in range(repeats):
        samples.add(request())
    return samples


def reads(
    client: TaxiiClient, versioned_ids: list[str], repeats: int, small_page_sync: bool = False
) -> dict[str, object]:
    """Every read figure, on a collection already filled."""
    results: dict[str, object] = {}
    _log("full sync")
    sync = full_sync(client)
    if sync.objects == 0:
        raise WorkloadError("full sync returned no objects")
    results["sync"] = {
        "objects": sync.objects,
        "pages": sync.pages,
        "seconds": sync.seconds,
        "objects_per_s": sync.objects / sync.seconds,
    }
    if small_page_sync:
        # Each run is one sample of a few seconds on a shared machine: the median of
        # several is the figure, and every sample is kept beside it.
        _log(f"full sync at limit 100, {SMALL_SYNC_RUNS} times")
        runs = [full_sync(client, SMALL_SYNC_LIMIT) for _ in range(SMALL_SYNC_RUNS)]
        rates = [run.objects / run.seconds for run in runs]
        results["sync_100"] = {
            "objects": runs[0].objects,
            "pages": runs[0].pages,
            "seconds": statistics.median(run.seconds for run in runs),
            "objects_per_s": statistics.median(rates),
            "samples_objects_per_s": rates,
        }
    for limit in PAGE_LIMITS:
        results[f"first_page_{limit}"] = repeat(
            lambda limit=limit: client.objects(limit=limit), repeats
        ).summary()
    _log("first pages done; deep pages")
    # The poller that last saw the object 90% in asks for what came after it.
    token, poll_from = deep_position(client, sync)
    for limit in PAGE_LIMITS:
        results[f"deep_next_{limit}"] = deep_pages(client, sync, token, limit, repeats).summary()
        token = None  # consumed on servers with session tokens
    _log("deep pages done; added_after polls")
    if poll_from is not None:
        for limit in PAGE_LIMITS:
            results[f"added_after_{limit}"] = repeat(
                lambda limit=limit: client.objects(limit=limit, added_after=poll_from),
                repeats,
            ).summary()
    _log("manifest and versions")
    results["manifest_100"] = repeat(lambda: client.manifest(limit=100), repeats).summary()
    if versioned_ids:
        picks = [versioned_ids[i * len(versioned_ids) // repeats] for i in range(repeats)]
        iterator = iter(picks)
        versions = repeat(lambda: client.versions(next(iterator)), repeats)
        results["versions"] = versions.summary()
    return results

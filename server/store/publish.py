"""Storing one POST: its checked objects, chunk by chunk, in one transaction.

Why chunks and a thread: on PostgreSQL a 10,000-object POST spent about as
long waiting for the database (row lookups, the COPY, the status row) as it
spent in Python checking the objects, one after the other, while the machine's
second core sat idle. The HTTP layer now checks the envelope a chunk at a
time and hands each checked chunk over; a writer thread stores it in the
POST's one transaction while the next chunk is being checked, so PostgreSQL's
work runs beside the checks instead of after them.

Nothing a client can observe changes:

* one transaction: the objects and their status are stored together or not at
  all, and a failure while checking a later chunk rolls the earlier ones back;
* the collection lock is taken before the first row is written and held to
  commit, so date_added values still commit in order (``objects_write``);
  they continue from chunk to chunk in input order, as in one batch;
* a version repeated in a later chunk is found by that chunk's lookup (the
  transaction sees its own rows) and reported as already stored, and the
  latest-version flags and owner claims come out as for one batch.

On SQLite, where the database works inside this process and a write
transaction holds the whole file's write lock, the chunks are gathered first
and stored in the calling thread, as one batch.
"""

from __future__ import annotations

import logging
import queue
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import DBAPIError

from server.store import audit, owners, statuses
from server.store.engine import write_transaction
from server.store.objects_write import (
    NewVersion,
    insert_versions,
    lock_collection,
    record_last_date_added,
)
from server.store.timestamps import version_key
from server.store.types import IncomingObject, StatusDetail, StatusRecord

ALREADY_STORED_MESSAGE = "this version is already in the collection"
DEADLOCK_RETRIES = 2
_DEADLOCK = "40P01"  # PostgreSQL's SQLSTATE deadlock_detected

log = logging.getLogger(__name__)

# What the HTTP layer hands over: one chunk's accepted objects and its refusals.
Chunk = tuple[Sequence[IncomingObject], Sequence[StatusDetail]]


@dataclass(frozen=True)
class PublishRequest:
    """Who publishes where, and when (``now_us``: the date_added floor and the status time)."""

    api_root: str
    collection_id: str
    partner_id: str | None
    request_timestamp_us: int
    now_us: int
    status_id: str


@dataclass
class PublishOutcome:
    record: StatusRecord
    added: int = 0
    already_present: int = 0


def write_chunks(
    engine: Engine, request: PublishRequest, chunks: Iterable[Chunk]
) -> PublishOutcome:
    """Store every chunk and the status in one write transaction (the calling thread's).

    Owner claims lock ids chunk by chunk, so two POSTs sharing new ids in
    different orders can deadlock; PostgreSQL then aborts one of them. That
    one starts again from its first chunk (the chunks received so far are
    kept for it), at most ``DEADLOCK_RETRIES`` times, instead of failing a
    POST the client did nothing wrong with.
    """
    received: list[Chunk] = []
    remaining = iter(chunks)

    def replayed_then_remaining() -> Iterator[Chunk]:
        yield from list(received)
        for chunk in remaining:
            received.append(chunk)
            yield chunk

    for attempt in range(DEADLOCK_RETRIES + 1):
        try:
            return _write_once(engine, request, replayed_then_remaining())
        except DBAPIError as error:
            if getattr(error.orig, "sqlstate", None) != _DEADLOCK or attempt == DEADLOCK_RETRIES:
                raise
            log.warning("publish %s: deadlock on owner claims, starting again", request.status_id)
    raise AssertionError("unreachable")  # pragma: no cover


def _write_once(engine: Engine, request: PublishRequest, chunks: Iterable[Chunk]) -> PublishOutcome:
    outcome = PublishOutcome(
        StatusRecord(
            id=request.status_id,
            api_root=request.api_root,
            partner_id=request.partner_id,
            status="complete",
            request_timestamp_us=request.request_timestamp_us,
        )
    )
    with write_transaction(engine) as connection:
        last = lock_collection(connection, request.collection_id, request.api_root)
        identity = (
            owners.identity_of(connection, request.partner_id)
            if request.partner_id is not None
            else None
        )
        locked_last = last
        for accepted, rejected in chunks:
            last = _write_chunk(connection, request, identity, last, accepted, rejected, outcome)
        if last != locked_last:
            record_last_date_added(connection, request.collection_id, last)
        record = outcome.record
        statuses.save(connection, statuses.summarise(record), created_us=request.now_us)
        audit.record(
            connection,
            at_us=request.now_us,
            actor=request.partner_id,
            action="objects.publish",
            target=request.collection_id,
            detail={
                "added": outcome.added,
                "already_present": outcome.already_present,
                "failed": len(record.failures),
                "status_id": record.id,
            },
        )
    return outcome


def _write_chunk(
    connection: Connection,
    request: PublishRequest,
    identity: str | None,
    last_date_added_us: int,
    accepted: Sequence[IncomingObject],
    rejected: Sequence[StatusDetail],
    outcome: PublishOutcome,
) -> int:
    """Store one chunk; return the collection's last date_added after it."""
    failures = outcome.record.failures
    failures.extend(rejected)
    candidates: list[tuple[IncomingObject, NewVersion]] = []
    for incoming in accepted:
        try:
            key = version_key(incoming.version)
        except ValueError as error:
            failures.append(StatusDetail(incoming.stix_id, str(incoming.version), str(error)))
            continue
        candidates.append((incoming, _new_version(incoming, key)))
    refused = owners.claim(
        connection,
        [incoming.stix_id for incoming, _ in candidates if incoming.owned],
        identity,
        request.now_us,
    )
    if refused:
        for incoming, _ in candidates:
            if incoming.stix_id in refused:
                failures.append(
                    StatusDetail(incoming.stix_id, incoming.version, refused[incoming.stix_id])
                )
        candidates = [pair for pair in candidates if pair[0].stix_id not in refused]
    inserted = insert_versions(
        connection,
        request.collection_id,
        last_date_added_us,
        [version for _, version in candidates],
        publisher=request.partner_id,
        now_us=request.now_us,
        record_last=False,  # once for the whole POST, by ``_write_once``
    )
    outcome.added += len(inserted.added)
    outcome.already_present += len(inserted.already_present)
    already = {id(version) for version in inserted.already_present}
    for incoming, version in candidates:
        message = ALREADY_STORED_MESSAGE if id(version) in already else ""
        outcome.record.successes.append(StatusDetail(incoming.stix_id, incoming.version, message))
    return inserted.last_date_added_us


def _new_version(incoming: IncomingObject, key: str) -> NewVersion:
    return NewVersion(
        stix_id=incoming.stix_id,
        obj_type=incoming.obj_type,
        version=incoming.version,
        version_key=key,
        spec_version=incoming.spec_version,
        body=incoming.body,
    )


class PublishAborted(Exception):
    """The chunks' producer failed: the writer rolls the transaction back."""


_END, _ABORT = object(), object()


class _Handover:
    """Chunks passed from the checking thread to the writer, in order."""

    def __init__(self) -> None:
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()

    def put(self, chunk: Chunk) -> None:
        self._queue.put(chunk)

    def close(self) -> None:
        self._queue.put(_END)

    def abort(self) -> None:
        self._queue.put(_ABORT)

    def __iter__(self) -> Iterator[Chunk]:
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if item is _ABORT:
                raise PublishAborted
            yield item  # type: ignore[misc]  # only chunks are put besides the two markers


class ConcurrentPublisher:
    """Writers on threads of their own (PostgreSQL), one per POST being stored."""

    def __init__(self, engine: Engine, max_writers: int = 16) -> None:
        self._engine = engine
        self._writers = ThreadPoolExecutor(max_writers, thread_name_prefix="dx-publish")

    def publish(self, request: PublishRequest, chunks: Iterable[Chunk]) -> PublishOutcome:
        """Check (iterate ``chunks``) here while the writer stores what is already checked.

        A failure in either stops both: an exception from ``chunks`` rolls the
        writer back and is raised; the writer's own (no such collection, a
        database error) stops the checking early and is raised.
        """
        handover = _Handover()
        writer: Future[PublishOutcome] = self._writers.submit(
            write_chunks, self._engine, request, handover
        )
        try:
            for chunk in chunks:
                if writer.done():
                    break  # the writer failed: its exception is raised below
                handover.put(chunk)
        except BaseException:
            handover.abort()
            writer.exception()  # wait for the rollback; its PublishAborted is expected
            raise
        handover.close()
        return writer.result()

    def close(self) -> None:
        self._writers.shutdown(wait=True)

"""Posting a batch of STIX objects to one TAXII collection, envelope by envelope.

The sequence per run: look the collection up (it must be writable), read the
API root's ``max_content_length``, pack envelopes that fit it
(``envelopes``), post each with taxii2-client, and follow its status resource
until it is final. Transient failures (connection errors, timeouts, 5xx, 429
with its Retry-After) are retried by ``TaxiiSession.call`` with bounded,
jittered exponential backoff; retrying a POST is safe because object ids are
deterministic and the server stores each version once, reporting a repeat as
a success. The same property makes a re-run after a crash harmless: nothing
is published twice, the objects already stored come back "already present".

A body the server still finds too large (413: its limit may count
differently, or have been lowered) is split in half and retried; an envelope
the server refuses as malformed (400/422) turns every object in it into a
refusal with the server's reason, and the run goes on with the next envelope.
Refusals the caller cannot fix by retrying (401, 403, 404) stop the run.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import requests
from taxii2client.v21 import Collection, Status

from exchange.feed.client import TaxiiSession
from exchange.feed.errors import AccessRefused, FeedError
from exchange.publish.envelopes import (
    DEFAULT_MAX_OBJECTS,
    Envelope,
    pack_envelopes,
    serialise,
)
from exchange.publish.report import PublishReport, Refusal

DEFAULT_STATUS_TIMEOUT_S = 300.0
_STATUS_FIRST_WAIT_S = 0.2
_STATUS_MAX_WAIT_S = 5.0
_ENVELOPE_REFUSALS = frozenset({400, 422})


class PublishAborted(FeedError):
    """The run stopped before the end; the message says how far it got.

    ``report`` holds what the server confirmed before the failure, and
    ``exit_code`` is the cause's (3 for a server that stayed unavailable).
    """

    def __init__(self, cause: FeedError, report: PublishReport, total: int) -> None:
        done = report.accepted + report.already_present + len(report.refused)
        super().__init__(
            f"{cause}; {done} of {total} objects were confirmed before the failure; run the "
            "same command again to finish (objects already stored are not published twice)"
        )
        self.exit_code = cause.exit_code
        self.report = report


@dataclass(frozen=True)
class _TooLarge:
    """The server answered 413 to an envelope."""


@dataclass(frozen=True)
class _EnvelopeRefused:
    """The server refused the envelope as a whole (400/422); ``reason`` is its description."""

    reason: str


def _description(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return f"HTTP {response.status_code}"
    if isinstance(body, dict) and (body.get("description") or body.get("title")):
        return f"HTTP {response.status_code}: {body.get('description') or body.get('title')}"
    return f"HTTP {response.status_code}"


def _status_dict(status: Status) -> dict[str, Any]:
    return {
        "id": status.id,
        "status": status.status,
        "total_count": status.total_count,
        "success_count": status.success_count,
        "failure_count": status.failure_count,
        "pending_count": status.pending_count,
        "successes": status.successes,
        "failures": status.failures,
        "pendings": status.pendings,
    }


class Publisher:
    """Publishes object batches through one lab's ``TaxiiSession``."""

    def __init__(
        self,
        session: TaxiiSession,
        *,
        max_objects: int = DEFAULT_MAX_OBJECTS,
        status_timeout_s: float = DEFAULT_STATUS_TIMEOUT_S,
        on_progress: Callable[[int], None] | None = None,
    ) -> None:
        self.session = session
        self.max_objects = max_objects
        self.status_timeout_s = status_timeout_s
        self.on_progress = on_progress or (lambda _count: None)

    def writable_collection(self, ref: str) -> Collection:
        """The collection (id, alias or title), refusing early when this partner cannot write."""
        collection = self.session.collection(ref)
        if not collection.can_write:
            raise AccessRefused(
                f"collection {ref}: partner {self.session.partner_id} may read it but not "
                "publish to it (no write grant)"
            )
        return collection

    def max_content_length(self) -> int:
        root = self.session.api_root()
        self.session.call("reading the API root", root.refresh_information)
        return int(root.max_content_length)

    def publish(self, collection_ref: str, objects: Sequence[dict[str, Any]]) -> PublishReport:
        """Post every object; the report says what the server accepted, kept or refused.

        Raises ``PublishAborted`` (a FeedError) when the server stays
        unavailable or refuses access mid-run; access problems found before
        anything is sent raise the plain FeedError.
        """
        collection = self.writable_collection(collection_ref)
        limit = self.max_content_length()
        report = PublishReport(collection=collection.id)
        envelopes, oversized = pack_envelopes(
            [serialise(obj) for obj in objects], limit, self.max_objects
        )
        for item in oversized:
            report.refused.append(Refusal(item.item.id, item.item.version, item.reason))
        self.session.log.event(
            "publish_start",
            collection=collection.id,
            objects=len(objects),
            envelopes=len(envelopes),
            max_content_length=limit,
        )
        try:
            for envelope in envelopes:
                self._post(collection, envelope, report)
        except FeedError as error:
            raise PublishAborted(error, report, len(objects)) from None
        return report

    def _post(self, collection: Collection, envelope: Envelope, report: PublishReport) -> None:
        started = time.monotonic()
        body = envelope.body()
        what = f"posting {len(envelope.objects)} objects to collection {collection.id}"
        outcome = self.session.call(what, self._add_objects, collection, body)
        if isinstance(outcome, _TooLarge):
            if len(envelope.objects) == 1:
                item = envelope.objects[0]
                reason = f"too large for the server (413) at {len(body)} bytes"
                report.refused.append(Refusal(item.id, item.version, reason))
                return
            for half in envelope.halves():
                self._post(collection, half, report)
            return
        report.sent += len(envelope.objects)
        report.envelopes += 1
        if isinstance(outcome, _EnvelopeRefused):
            for item in envelope.objects:
                report.refused.append(Refusal(item.id, item.version, outcome.reason))
        else:
            status = self._final(outcome)
            before = (report.accepted, report.already_present, len(report.refused))
            report.add_status(_status_dict(status))
            self._check_counts(status, len(envelope.objects))
            self.session.log.event(
                "envelope",
                collection=collection.id,
                status=status.id,
                objects=len(envelope.objects),
                bytes=len(body),
                accepted=report.accepted - before[0],
                already_present=report.already_present - before[1],
                refused=len(report.refused) - before[2],
                duration_ms=round((time.monotonic() - started) * 1000, 1),
            )
        self.on_progress(len(envelope.objects))

    @staticmethod
    def _add_objects(collection: Collection, body: bytes) -> Status | _TooLarge | _EnvelopeRefused:
        """One POST; the answers that concern this envelope only become values, not errors."""
        try:
            return collection.add_objects(body, wait_for_completion=False)
        except requests.HTTPError as error:
            response = error.response
            if response is not None and response.status_code == 413:
                return _TooLarge()
            if response is not None and response.status_code in _ENVELOPE_REFUSALS:
                return _EnvelopeRefused(_description(response))
            raise

    def _final(self, status: Status) -> Status:
        """Follow the status resource until it is complete or the timeout passes."""
        deadline = time.monotonic() + self.status_timeout_s
        wait = _STATUS_FIRST_WAIT_S
        while status.status != "complete" and time.monotonic() < deadline:
            time.sleep(min(wait, max(0.0, deadline - time.monotonic())))
            wait = min(_STATUS_MAX_WAIT_S, wait * 2)
            self.session.call(f"reading status {status.id}", status.refresh)
        return status

    def _check_counts(self, status: Status, posted: int) -> None:
        total = status.total_count
        if isinstance(total, int) and total != posted:
            self.session.log.warning(
                "status_count_mismatch", status=status.id, posted=posted, total_count=total
            )

"""The client processes of the load run: publishers, pollers and exporters.

Each role runs in its own process (spawned, so nothing is inherited from the
test process) until a deadline, times every HTTP request it makes, and
returns what it saw. A publisher also keeps going past the deadline until
the server has acknowledged ``min_objects`` of its objects: on a busy machine
the run gets longer instead of proving less. A 429 or 503 is answered as a well-behaved partner
would: wait ``Retry-After``, send the same request again (publishing is
idempotent: a version already stored is a success), and count it.

* publisher: posts envelopes of 1..N new indicators with taxii2-client and
  keeps the ids the server acknowledged (success in a ``complete`` status).
* poller: incremental sync as a lab's poller does it: ``added_after`` the
  last page's ``X-TAXII-Date-Added-Last``, following ``more``; it keeps every
  object it received and reports duplicates (there must be none).
* exporter: repeated full reads of the collection (taxii2-client,
  ``limit=1000`` pages following ``next``) and manifest pages, as
  ``dx export --from-server`` and analysts' tools read a collection.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
from taxii2client.v21 import Collection

TAXII = "application/taxii+json;version=2.1"
RETRY_STATUSES = (429, 503)
MAX_ATTEMPTS = 20


@dataclass
class RoleResult:
    """What one client process saw: (kind, status, seconds) per request, and objects."""

    role: str
    samples: list[tuple[str, int, float]] = field(default_factory=list)
    ids: list[str] = field(default_factory=list)
    duplicates: int = 0
    problems: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.time)
    ended: float = 0.0


@dataclass(frozen=True)
class RoleSpec:
    role: str
    collection_url: str
    partner_id: str
    api_key: str
    identity_ref: str
    seconds: float  # how long to keep starting new work, from the process's own start
    max_envelope: int = 50
    think_s: float = 0.01
    seed: int = 0
    min_objects: int = 0  # a publisher goes on past ``seconds`` until this many are acknowledged


def _status_of(error: Exception) -> int:
    response = getattr(error, "response", None)
    return response.status_code if response is not None else 0  # 0: no HTTP answer


def _retry_after(error: Exception) -> float:
    response = getattr(error, "response", None)
    if response is None:
        return 0.2
    try:
        return min(5.0, float(response.headers.get("Retry-After", "1")))
    except ValueError:
        return 1.0


def _timed(result: RoleResult, kind: str, call: Callable[[], Any]) -> Any:
    """Run ``call`` until it succeeds (retrying 429/503/no answer); record every attempt."""
    for _ in range(MAX_ATTEMPTS):
        started = time.perf_counter()
        try:
            value = call()
        except (requests.HTTPError, requests.ConnectionError, requests.Timeout) as error:
            status = _status_of(error)
            result.samples.append((kind, status, time.perf_counter() - started))
            if status and status not in RETRY_STATUSES:
                result.problems.append(f"{kind}: HTTP {status}: {error}")
                return None
            time.sleep(_retry_after(error))
            continue
        result.samples.append((kind, 200, time.perf_counter() - started))
        return value
    result.problems.append(f"{kind}: gave up after {MAX_ATTEMPTS} attempts")
    return None


def _indicator(identity_ref: str, rng: random.Random) -> dict[str, Any]:
    created = "2026-06-01T00:00:00.000Z"
    octet = rng.randrange(256)
    return {
        "type": "indicator",
        "spec_version": "2.1",
        "id": f"indicator--{uuid.UUID(int=rng.getrandbits(128), version=4)}",
        "created_by_ref": identity_ref,
        "created": created,
        "modified": created,
        "name": f"distillation proxy range {octet}",
        "pattern": f"[ipv4-addr:value ISSUBSET '198.51.{octet}.0/24']",
        "pattern_type": "stix",
        "valid_from": created,
    }


def publisher(spec: RoleSpec) -> RoleResult:
    result = RoleResult("publisher")
    deadline = result.started + spec.seconds
    rng = random.Random(spec.seed)
    # Hang guard only: a server that acknowledges nothing ends the run, and the test fails.
    give_up = result.started + 10 * spec.seconds + 120
    collection = Collection(spec.collection_url, user=spec.partner_id, password=spec.api_key)
    while time.time() < deadline or (len(result.ids) < spec.min_objects and time.time() < give_up):
        envelope = [
            _indicator(spec.identity_ref, rng) for _ in range(rng.randint(1, spec.max_envelope))
        ]

        def post(envelope: list[dict[str, Any]] = envelope) -> Any:
            # The status object is built from the POST's own 202 answer; no status polling.
            return collection.add_objects({"objects": envelope}, wait_for_completion=False)

        status = _timed(result, "publish", post)
        if status is None:
            continue
        if status.status != "complete" or status.failure_count or status.pending_count:
            result.problems.append(f"publish: status {status.status} {status.failures}")
        result.ids.extend(s["id"] for s in status.successes or [])
        time.sleep(spec.think_s)
    result.ended = time.time()
    return result


def poller(spec: RoleSpec, publishers_done: Any) -> RoleResult:
    """Sync incrementally until the publishers are done, then once more to the end."""
    result = RoleResult("poller")
    session = requests.Session()
    session.auth = (spec.partner_id, spec.api_key)
    session.headers["Accept"] = TAXII
    seen: set[str] = set()
    added_after: str | None = None
    final_round = False
    while True:
        if not final_round and publishers_done.is_set():
            final_round = True  # everything is published: this catch-up must reach the end
        params: dict[str, Any] = {"limit": 500}
        if added_after:
            params["added_after"] = added_after

        def get(params: dict[str, Any] = params) -> requests.Response:
            response = session.get(f"{spec.collection_url}objects/", params=params, timeout=60)
            response.raise_for_status()
            return response

        response = _timed(result, "poll", get)
        if response is None:
            break
        body = response.json()
        for obj in body.get("objects", []):
            if obj["id"] in seen:
                result.duplicates += 1
            seen.add(obj["id"])
        if body.get("objects"):
            added_after = response.headers["X-TAXII-Date-Added-Last"]
        if body.get("more"):
            continue
        if final_round:
            break
        time.sleep(0.05)
    result.ids = sorted(seen)
    result.ended = time.time()
    return result


def exporter(spec: RoleSpec) -> RoleResult:
    result = RoleResult("exporter")
    deadline = result.started + spec.seconds
    collection = Collection(spec.collection_url, user=spec.partner_id, password=spec.api_key)
    session = requests.Session()
    session.auth = (spec.partner_id, spec.api_key)
    session.headers["Accept"] = TAXII
    while time.time() < deadline:
        token: str | None = None
        while True:
            kwargs: dict[str, Any] = {"limit": 1000}
            if token:
                kwargs["next"] = token

            def page(kwargs: dict[str, Any] = kwargs) -> Any:
                return collection.get_objects(**kwargs)

            body = _timed(result, "export", page)
            if body is None or not body.get("more"):
                break
            token = body["next"]

        def manifest() -> requests.Response:
            response = session.get(
                f"{spec.collection_url}manifest/", params={"limit": 100}, timeout=60
            )
            response.raise_for_status()
            return response

        _timed(result, "manifest", manifest)
        time.sleep(spec.think_s * 10)
    result.ended = time.time()
    return result

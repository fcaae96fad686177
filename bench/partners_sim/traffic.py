"""One simulated partner's requests, and the record of every request made.

Each request is labelled with the Flask endpoint the server routes it to
(``taxii_objects.get_objects``...), the names the server's own
``dx_http_requests_total`` counter uses, so the client's counts can be set
beside the server's metrics without translation.

A partner keeps, per readable collection, the ``added_after`` cursor of a
poller (the ``X-TAXII-Date-Added-Last`` of the last non-empty page) and the
set of object ids it has received; a publisher keeps the ids the server
acknowledged. The lost-object check at the end is made from these sets alone.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import requests

from bench.partners_sim.plan import SimPlan
from mappings.timestamps import stix_timestamp
from tests.support.server import TAXII, basic

COLLECTIONS = "taxii_collections.collections"
GET_OBJECTS = "taxii_objects.get_objects"
MANIFEST = "taxii_objects.manifest"
ADD_OBJECTS = "taxii_objects.add_objects"
STATUS = "taxii_server_info.status"
DATE_ADDED_LAST = "X-TAXII-Date-Added-Last"
REQUEST_TIMEOUT_S = 120.0  # a hang guard: a request this slow is a failure, not a sample
TRANSPORT_ERROR = 0  # the status recorded when no HTTP answer came back

Key = tuple[str, str, int]  # endpoint, method, status


@dataclass
class Recorder:
    """Every request's latency, by endpoint, method and status; shared by all threads."""

    samples: dict[Key, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: list[str] = field(default_factory=list)
    lag_s: list[float] = field(default_factory=list)  # how late each action started
    objects_read: int = 0  # objects received in GET objects pages
    objects_written: int = 0  # objects acknowledged by POSTs
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        with self._lock:
            self.samples[(endpoint, method, status)].append(seconds)

    def error(self, message: str) -> None:
        with self._lock:
            if len(self.errors) < 50:
                self.errors.append(message)

    def objects(self, read: int = 0, written: int = 0) -> None:
        with self._lock:
            self.objects_read += read
            self.objects_written += written

    def late(self, seconds: float) -> None:
        with self._lock:
            self.lag_s.append(seconds)

    def counts(self) -> dict[Key, int]:
        with self._lock:
            return {key: len(values) for key, values in self.samples.items()}


@dataclass
class SimPartner:
    """One lab: its credentials, its cursors, what it has seen and what it published."""

    number: int
    partner_id: str
    authorization: str
    identity_ref: str
    readable: list[str]  # collection ids
    writes: str | None  # collection id
    rng: random.Random
    cursors: dict[str, str | None] = field(default_factory=dict)
    seen: dict[str, set[str]] = field(default_factory=dict)
    duplicates: int = 0
    acknowledged: set[str] = field(default_factory=set)
    unacknowledged: int = 0  # objects sent in POSTs that did not come back as successes

    def __post_init__(self) -> None:
        for collection_id in self.readable:
            self.cursors.setdefault(collection_id, None)
            self.seen.setdefault(collection_id, set())


def make_partners(
    plan: SimPlan, collection_ids: list[str], keys: dict[str, str]
) -> list[SimPartner]:
    partners = []
    for number in range(plan.partners):
        partner_id = plan.partner_id(number)
        writes = plan.writes_to(number)
        partners.append(
            SimPartner(
                number=number,
                partner_id=partner_id,
                authorization=basic(partner_id, keys[partner_id]),
                identity_ref=plan.identity_ref(number),
                readable=[collection_ids[i] for i in plan.readable(number)],
                writes=collection_ids[writes] if writes is not None else None,
                rng=random.Random(plan.seed * 1_000_003 + number),
            )
        )
    return partners


class PartnerClient:
    """The requests of partners, over one HTTP session (one client thread's connections)."""

    def __init__(
        self, api_root_url: str, verify: bool | str, plan: SimPlan, recorder: Recorder
    ) -> None:
        self.api_root_url = api_root_url
        self.plan = plan
        self.recorder = recorder
        self.session = requests.Session()
        # Passed with each request: a session's own ``verify`` loses to REQUESTS_CA_BUNDLE.
        self.verify = verify

    def close(self) -> None:
        self.session.close()

    def _call(
        self,
        partner: SimPartner,
        endpoint: str,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None = None,
        body: bytes | None = None,
    ) -> requests.Response | None:
        headers = {"Authorization": partner.authorization, "Accept": TAXII}
        if body is not None:
            headers["Content-Type"] = TAXII
        started = time.perf_counter()
        try:
            response = self.session.request(
                method,
                self.api_root_url + path,
                params=params,
                data=body,
                headers=headers,
                timeout=REQUEST_TIMEOUT_S,
                verify=self.verify,
            )
        except requests.RequestException as error:
            self.recorder.record(endpoint, method, TRANSPORT_ERROR, time.perf_counter() - started)
            self.recorder.error(f"{partner.partner_id} {method} {path}: {error}")
            return None
        self.recorder.record(endpoint, method, response.status_code, time.perf_counter() - started)
        if response.status_code >= 400:
            self.recorder.error(
                f"{partner.partner_id} {method} {path}: {response.status_code} "
                f"{response.text[:200]}"
            )
        return response

    # -- a poller ---------------------------------------------------------------------

    def poll(self, partner: SimPartner, *, manifests: bool = True) -> None:
        """One poll round: the collection list, then every readable collection from its cursor."""
        self._call(partner, COLLECTIONS, "GET", "collections/")
        for collection_id in partner.readable:
            cursor = partner.cursors[collection_id]
            self.sync(partner, collection_id)
            if manifests and partner.rng.random() < self.plan.manifest_share:
                params: dict[str, Any] = {"limit": self.plan.page_limit}
                if cursor is not None:
                    params["added_after"] = cursor
                self._call(
                    partner,
                    MANIFEST,
                    "GET",
                    f"collections/{collection_id}/manifest/",
                    params=params,
                )

    def sync(self, partner: SimPartner, collection_id: str) -> None:
        """Read from the cursor to the end, following ``next`` while the server says ``more``."""
        path = f"collections/{collection_id}/objects/"
        params: dict[str, Any] = {"limit": self.plan.page_limit}
        if partner.cursors[collection_id] is not None:
            params["added_after"] = partner.cursors[collection_id]
        seen = partner.seen[collection_id]
        while True:
            response = self._call(partner, GET_OBJECTS, "GET", path, params=params)
            if response is None or response.status_code != 200:
                return  # the cursor stays: the next round asks again
            envelope = orjson.loads(response.content) if response.content else {}
            objects = envelope.get("objects") or []
            self.recorder.objects(read=len(objects))
            for obj in objects:
                if obj["id"] in seen:
                    partner.duplicates += 1
                seen.add(obj["id"])
            if objects:
                partner.cursors[collection_id] = response.headers[DATE_ADDED_LAST]
            if not envelope.get("more"):
                return
            params = {**params, "next": envelope["next"]}

    # -- a publisher ------------------------------------------------------------------

    def publish(self, partner: SimPartner) -> None:
        """POST one envelope of ``batch`` new indicators, then read its status back."""
        assert partner.writes is not None
        objects = [self._indicator(partner) for _ in range(self.plan.batch)]
        body = orjson.dumps({"objects": objects})
        response = self._call(
            partner, ADD_OBJECTS, "POST", f"collections/{partner.writes}/objects/", body=body
        )
        if response is None or response.status_code != 202:
            partner.unacknowledged += len(objects)
            return
        status = orjson.loads(response.content)
        successes = {entry["id"] for entry in status.get("successes", [])}
        partner.acknowledged |= successes
        self.recorder.objects(written=len(successes))
        partner.unacknowledged += len(objects) - len(successes)
        self._call(partner, STATUS, "GET", f"status/{status['id']}/")

    @staticmethod
    def _indicator(partner: SimPartner) -> dict[str, Any]:
        # A minute in the past: inside the server's allowed clock skew even on a slow machine.
        now = stix_timestamp(datetime.now(UTC) - timedelta(minutes=1))
        octets = ".".join(str(partner.rng.randrange(256)) for _ in range(2))
        return {
            "type": "indicator",
            "spec_version": "2.1",
            "id": f"indicator--{uuid.UUID(int=partner.rng.getrandbits(128), version=4)}",
            "created": now,
            "modified": now,
            "created_by_ref": partner.identity_ref,
            "name": "distillation proxy range",
            "pattern": f"[ipv4-addr:value ISSUBSET '198.{octets}.0/24']",
            "pattern_type": "stix",
            "valid_from": now,
        }

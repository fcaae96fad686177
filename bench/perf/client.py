"""One TAXII 2.1 client for both servers: this exchange and medallion.

Both speak the same URLs, HTTP Basic authentication and media types, so the
same requests go to each and the same code times them; only the base URL and
credentials differ. Latency is wall time on the client from sending the
request to having the whole body, which is what a polling partner waits for.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import orjson
import requests

TAXII = "application/taxii+json;version=2.1"


@dataclass
class Timed:
    seconds: float
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> dict:
        return orjson.loads(self.body)


@dataclass
class TaxiiClient:
    base_url: str
    api_root: str
    collection_id: str
    user: str
    password: str
    session: requests.Session = field(default_factory=requests.Session)

    def __post_init__(self) -> None:
        self.session.auth = (self.user, self.password)
        self.session.headers["Accept"] = TAXII

    @property
    def collection_url(self) -> str:
        return f"{self.base_url}/{self.api_root}/collections/{self.collection_id}/"

    def get(self, url: str, params: dict[str, object] | None = None) -> Timed:
        started = time.perf_counter()
        response = self.session.get(url, params=params, timeout=600)
        body = response.content
        return Timed(time.perf_counter() - started, response.status_code, body, response.headers)

    def objects(self, **params: object) -> Timed:
        return self.get(self.collection_url + "objects/", params)

    def manifest(self, **params: object) -> Timed:
        return self.get(self.collection_url + "manifest/", params)

    def versions(self, stix_id: str, **params: object) -> Timed:
        return self.get(f"{self.collection_url}objects/{stix_id}/versions/", params)

    def max_content_length(self) -> int:
        response = self.get(f"{self.base_url}/{self.api_root}/")
        if response.status != 200:
            raise RuntimeError(f"API root answered {response.status}: {response.body[:300]!r}")
        return int(response.json()["max_content_length"])

    def post(self, envelope: bytes) -> Timed:
        started = time.perf_counter()
        response = self.session.post(
            self.collection_url + "objects/",
            data=envelope,
            # A fresh connection per envelope: building the next one can take
            # longer than the server's keep-alive (5 s), and a POST on a connection
            # the server has just closed fails instead of being retried.
            headers={"Content-Type": TAXII, "Connection": "close"},
            timeout=600,
        )
        body = response.content
        return Timed(time.perf_counter() - started, response.status_code, body, response.headers)


# The server's default max_objects_per_request (server.config): a fuller envelope is a 413.
MAX_OBJECTS_PER_ENVELOPE = 10_000


def envelopes(
    objects: Iterable[dict], max_bytes: int, max_objects: int = MAX_OBJECTS_PER_ENVELOPE
) -> Iterator[tuple[bytes, int]]:
    """Envelopes of as many objects as fit in ``max_bytes`` and the server's per-request
    object limit (``max_objects_per_request``); yields (body, object count)."""
    head, tail = b'{"objects":[', b"]}"
    parts: list[bytes] = []
    size = len(head) + len(tail)
    for obj in objects:
        encoded = orjson.dumps(obj)
        extra = len(encoded) + (1 if parts else 0)
        if parts and (size + extra > max_bytes or len(parts) >= max_objects):
            yield head + b",".join(parts) + tail, len(parts)
            parts, size = [], len(head) + len(tail)
            extra = len(encoded)
        if size + extra > max_bytes:
            raise ValueError(f"one object of {len(encoded)} bytes exceeds {max_bytes} bytes")
        parts.append(encoded)
        size += extra
    if parts:
        yield head + b",".join(parts) + tail, len(parts)

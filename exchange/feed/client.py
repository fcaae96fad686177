"""One lab's TAXII 2.1 connection: taxii2-client plus timeouts, retries and response headers.

taxii2-client does the protocol (URLs, media types, filters, envelopes) but
sends requests without a timeout, retries nothing, and hands back only the
parsed body. A poller needs all three: a hung server must not hang cron, a
restarting server must not fail a sync, and the cursor lives in the
``X-TAXII-Date-Added-Last`` header. So the taxii2-client connection object is
kept, and its ``requests`` session gets a default timeout (an adapter) and a
response hook that remembers the last response's headers; every call goes
through ``TaxiiSession.call``, which retries transient failures with bounded,
jittered exponential backoff and turns everything else into one ``FeedError``
line.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from requests.adapters import HTTPAdapter
from requests.structures import CaseInsensitiveDict
from taxii2client.common import _HTTPConnection
from taxii2client.exceptions import AccessError, TAXIIServiceException
from taxii2client.v21 import ApiRoot, Collection

from exchange.feed.errors import (
    AccessRefused,
    BadServerResponse,
    CollectionNotFound,
    FeedError,
    ServerUnavailable,
)
from exchange.feed.logs import JsonLog
from exchange.lab_config import LabConfig

T = TypeVar("T")

TRANSIENT_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying a transient failure before giving up with one line."""

    attempts: int = 5
    base_delay_s: float = 0.5
    max_delay_s: float = 15.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before attempt ``attempt + 1`` (attempt counts from 1)."""
        if retry_after is not None:
            return min(self.max_delay_s, max(0.0, retry_after))
        backoff = min(self.max_delay_s, self.base_delay_s * 2 ** (attempt - 1))
        # Jitter spreads the retries of many pollers hit by the same outage.
        return backoff * random.uniform(0.5, 1.0)


class _TimeoutAdapter(HTTPAdapter):
    """Gives every request of the session a timeout unless the call sets one.

    And the lab's CA file, when it names one: ``requests`` otherwise lets
    ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE`` in the environment replace the
    session's ``verify``, and a lab config that says which CA to trust would
    be ignored on any host that sets them.
    """

    def __init__(self, timeout_s: float, ca_file: str | None = None) -> None:
        super().__init__()
        self._timeout_s = timeout_s
        self._ca_file = ca_file

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        if kwargs.get("timeout") is None:
            kwargs["timeout"] = self._timeout_s
        if self._ca_file is not None:
            kwargs["verify"] = self._ca_file
        return super().send(request, **kwargs)


def _retry_after(response: requests.Response | None) -> float | None:
    if response is None:
        return None
    value = response.headers.get("Retry-After", "").strip()
    return float(value) if value.isdigit() else None


def _error_description(response: requests.Response) -> str:
    """The TAXII error body's description, if the server sent one."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict):
        text = body.get("description") or body.get("title") or ""
        return str(text)[:300]
    return ""


def _connection_problem(error: requests.RequestException) -> str:
    if isinstance(error, requests.Timeout):
        return "no answer within the timeout"
    text = str(error)
    if "Connection refused" in text or "ECONNREFUSED" in text:
        return "connection refused"
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "host name not found"
    if "RemoteDisconnected" in text or "Connection aborted" in text:
        return "connection dropped by the server"
    return type(error).__name__


class TaxiiSession:
    """The lab's authenticated taxii2-client connection to one API root."""

    def __init__(
        self,
        api_root_url: str,
        partner_id: str,
        api_key: str,
        *,
        timeout_s: float = 30.0,
        verify: bool | str = True,
        retry: RetryPolicy | None = None,
        log: JsonLog | None = None,
    ) -> None:
        self.api_root_url = api_root_url if api_root_url.endswith("/") else api_root_url + "/"
        self.partner_id = partner_id
        self.retry = retry or RetryPolicy()
        self.log = log or JsonLog(quiet=True)
        self.last_headers: CaseInsensitiveDict[str] = CaseInsensitiveDict()
        self.conn = _HTTPConnection(partner_id, api_key, verify=verify, version="2.1")
        adapter = _TimeoutAdapter(timeout_s, verify if isinstance(verify, str) else None)
        self.conn.session.mount("http://", adapter)
        self.conn.session.mount("https://", adapter)
        self.conn.session.hooks["response"].append(self._remember_headers)

    @classmethod
    def from_config(
        cls, config: LabConfig, *, retry: RetryPolicy | None = None, log: JsonLog | None = None
    ) -> TaxiiSession:
        return cls(
            config.server.api_root,
            config.server.partner_id,
            config.api_key(),
            timeout_s=config.server.timeout_seconds,
            verify=config.tls_verify,
            retry=retry,
            log=log,
        )

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> TaxiiSession:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def _remember_headers(self, response: requests.Response, *_args: Any, **_kwargs: Any) -> None:
        self.last_headers = response.headers

    # -- calls ---------------------------------------------------------------

    def call(self, what: str, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one taxii2-client call, retrying transient failures; ``what`` names it in errors."""
        attempt = 0
        started = time.monotonic()
        while True:
            attempt += 1
            try:
                return function(*args, **kwargs)
            except requests.HTTPError as error:
                response = error.response
                status = response.status_code if response is not None else 0
                if status not in TRANSIENT_STATUSES:
                    raise self._permanent(what, response) from None
                problem = f"HTTP {status}"
                retry_after = _retry_after(response)
            except requests.RequestException as error:
                problem = _connection_problem(error)
                retry_after = None
            except AccessError as error:
                raise AccessRefused(
                    f"{what}: not allowed for partner {self.partner_id}: {error}"
                ) from None
            except TAXIIServiceException as error:
                message = str(error).splitlines()[0] if str(error) else type(error).__name__
                raise BadServerResponse(f"{what}: {message}") from None
            if attempt >= self.retry.attempts:
                elapsed = time.monotonic() - started
                raise ServerUnavailable(
                    f"{what}: server at {self.api_root_url} unavailable ({problem}); "
                    f"gave up after {attempt} attempts over {elapsed:.1f} s"
                ) from None
            delay = self.retry.delay(attempt, retry_after)
            self.log.warning(
                "retry", what=what, problem=problem, attempt=attempt, delay_s=round(delay, 2)
            )
            time.sleep(delay)

    def _permanent(self, what: str, response: requests.Response | None) -> FeedError:
        status = response.status_code if response is not None else 0
        detail = _error_description(response) if response is not None else ""
        suffix = f": {detail}" if detail else ""
        if status == 401:
            return AccessRefused(
                f"{what}: the server refused partner {self.partner_id}'s API key "
                f"(401 Unauthorized): the key is wrong or has been revoked"
            )
        if status == 403:
            return AccessRefused(
                f"{what}: partner {self.partner_id} lacks access (403 Forbidden){suffix}"
            )
        if status == 404:
            return CollectionNotFound(
                f"{what}: not found (404): wrong id, or not shared with partner "
                f"{self.partner_id!r}{suffix}"
            )
        return FeedError(f"{what}: the server answered HTTP {status}{suffix}")

    # -- resources -----------------------------------------------------------

    def api_root(self) -> ApiRoot:
        return ApiRoot(self.api_root_url, conn=self.conn)

    def collection(self, ref: str) -> Collection:
        """The collection named by id, alias or title, with its resource loaded.

        An id is fetched directly (one request); an alias or title is looked
        up in the API root's collection list, which only lists what this
        partner may see.
        """
        try:
            collection_id = str(uuid.UUID(ref))
        except ValueError:
            return self._collection_by_name(ref)
        collection = Collection(f"{self.api_root_url}collections/{collection_id}/", conn=self.conn)
        try:
            self.call(f"collection {ref}", collection.refresh)
        except CollectionNotFound:
            raise CollectionNotFound(
                f"collection {ref}: not found at {self.api_root_url} (404): wrong id, "
                f"or not shared with partner {self.partner_id}"
            ) from None
        return collection

    def _collection_by_name(self, ref: str) -> Collection:
        root = self.api_root()
        self.call("listing collections", root.refresh_collections)
        for collection in root.collections:
            if ref in (collection.alias, collection.title):
                return collection
        visible = (
            ", ".join(sorted(str(c.alias or c.title or c.id) for c in root.collections)) or "none"
        )
        raise CollectionNotFound(
            f"collection {ref!r}: no collection with that id, alias or title is visible to "
            f"partner {self.partner_id} at {self.api_root_url} (visible: {visible})"
        )

"""HTTP clients for the access-control and load tests: several source addresses, many connections.

Loopback is a whole /8 on Linux, so a client bound to 127.0.0.2 is, to the
server, a different address from 127.0.0.1: per-address limits are tested with
real connections from real (local) addresses, not with a forged header.
"""

from __future__ import annotations

from collections import Counter
from concurrent.futures import ThreadPoolExecutor

import requests
from requests.adapters import HTTPAdapter

from tests.support.server import TAXII, basic


class _SourceAddressAdapter(HTTPAdapter):
    def __init__(self, source_ip: str) -> None:
        self._source_ip = source_ip
        super().__init__()

    def init_poolmanager(self, *args, **kwargs) -> None:  # type: ignore[override]
        kwargs["source_address"] = (self._source_ip, 0)
        super().init_poolmanager(*args, **kwargs)


def session_from(source_ip: str = "127.0.0.1") -> requests.Session:
    """A requests session whose connections leave from ``source_ip``."""
    session = requests.Session()
    adapter = _SourceAddressAdapter(source_ip)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def get(
    session: requests.Session,
    url: str,
    partner_id: str,
    api_key: str,
    *,
    close: bool = False,
    forwarded_for: str | None = None,
) -> requests.Response:
    headers = {"Authorization": basic(partner_id, api_key), "Accept": TAXII}
    if close:
        headers["Connection"] = "close"  # a new connection, so possibly another worker
    if forwarded_for is not None:
        headers["X-Forwarded-For"] = forwarded_for
    return session.get(url, headers=headers, timeout=30)


def fan_out(
    url: str,
    credentials: list[tuple[str, str]],
    *,
    threads: int = 8,
    source_ip: str = "127.0.0.1",
) -> list[requests.Response]:
    """One request per credential pair, from ``threads`` concurrent clients on new connections."""
    sessions = [session_from(source_ip) for _ in range(threads)]

    def one(index: int) -> requests.Response:
        partner_id, api_key = credentials[index]
        return get(sessions[index % threads], url, partner_id, api_key, close=True)

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(one, range(len(credentials))))


def statuses(responses: list[requests.Response]) -> Counter[int]:
    return Counter(response.status_code for response in responses)

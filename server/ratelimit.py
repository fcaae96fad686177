"""Who is asking and how fast: client addresses behind proxies and per-partner request rates.

Request rates are limited in each worker process, in memory, with one token
bucket per partner. Counting every request in the shared database would add a
write to every read (on SQLite, a turn at the single write lock that
publishers queue for), which would cost far more than the limit protects; the
limit is there to stop one partner's runaway client from starving the others,
not to meter a quota. So the configured rate holds per worker: a partner can
reach at most ``workers`` x the rate on one host. Failed logins, where an
exact count matters, are counted in the database instead
(``server.store.rate_limits``).
"""

from __future__ import annotations

import ipaddress
import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from server.config import RequestRate, ServerConfig
from server.store.rate_limits import LoginLimits

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

ACCESS_EXTENSION_KEY = "dx_access"


def parse_networks(entries: Sequence[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)


def _in_any(address: str, networks: Sequence[Network]) -> bool:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in networks)


def client_address(peer: str | None, forwarded_for: str | None, trusted: Sequence[Network]) -> str:
    """The address a request came from, seen through trusted proxies only.

    ``X-Forwarded-For`` is written by whoever sends the request, so it is read
    only when the connection comes from a configured proxy, and then from the
    right: each trusted proxy appended the address it received from, so the
    first address from the right that is not a trusted proxy is the client.
    Anything unparseable ends the walk at the last trusted hop.
    """
    address = peer or "unknown"
    if not trusted or not forwarded_for or not _in_any(address, trusted):
        return address
    for hop in reversed([part.strip() for part in forwarded_for.split(",")]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return address
        address = hop
        if not _in_any(hop, trusted):
            return hop
    return address


@dataclass
class _Bucket:
    tokens: float
    updated: float


@dataclass
class RequestBuckets:
    """One token bucket per partner, in this process; thread-safe."""

    default: RequestRate | None
    overrides: dict[str, RequestRate]
    clock: Callable[[], float] = time.monotonic
    _buckets: dict[str, _Bucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def rate_for(self, partner_id: str) -> RequestRate | None:
        rate = self.overrides.get(partner_id, self.default)
        return rate if rate is not None and rate.per_second > 0 else None

    def wait_seconds(self, partner_id: str) -> float:
        """Take a token: 0 when the request may go ahead, else how long until it could."""
        rate = self.rate_for(partner_id)
        if rate is None:
            return 0.0
        with self._lock:
            # Read the clock under the lock: racing threads must not move
            # ``updated`` backwards and be credited the same interval twice.
            now = self.clock()
            bucket = self._buckets.get(partner_id)
            if bucket is None:
                bucket = self._buckets[partner_id] = _Bucket(float(rate.burst), now)
            elapsed = max(0.0, now - bucket.updated)
            bucket.tokens = min(float(rate.burst), bucket.tokens + elapsed * rate.per_second)
            bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / rate.per_second


@dataclass(frozen=True)
class AccessControl:
    """Everything a worker needs to decide who is asking and whether to serve them now."""

    trusted_proxies: tuple[Network, ...]
    login_limits: LoginLimits
    request_buckets: RequestBuckets

    @classmethod
    def from_config(cls, config: ServerConfig) -> AccessControl:
        default = (
            RequestRate(per_second=config.request_rate_per_second, burst=config.request_burst)
            if config.request_rate_per_second > 0
            else None
        )
        return cls(
            trusted_proxies=parse_networks(config.trusted_proxies),
            login_limits=LoginLimits(
                per_partner=config.login_failures_per_partner,
                per_address=config.login_failures_per_address,
                window_us=config.login_failure_window_seconds * 1_000_000,
            ),
            request_buckets=RequestBuckets(default, dict(config.partner_request_rates)),
        )


def retry_after_header(seconds: float) -> dict[str, str]:
    """``Retry-After`` in whole seconds, never 0 (a client would retry at once)."""
    return {"Retry-After": str(max(1, math.ceil(seconds)))}

"""Who may read the metrics: they name partners and show when each last polled.

Checked against the client address as ``server.ratelimit.client_address``
sees it (``X-Forwarded-For`` believed only from ``trusted_proxies``).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence

from server.ratelimit import Network


def address_allowed(address: str, networks: Sequence[Network]) -> bool:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    candidates: list[ipaddress.IPv4Address | ipaddress.IPv6Address] = [parsed]
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        candidates.append(parsed.ipv4_mapped)  # a dual-stack socket's view of an IPv4 peer
    return any(candidate in network for candidate in candidates for network in networks)

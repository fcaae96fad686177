"""Detection records made in the tests: many IP ranges, dated relative to now."""

from __future__ import annotations

import ipaddress
from datetime import UTC, datetime, timedelta
from pathlib import Path

from mappings.records import IpRange

NOW = datetime.now(UTC).replace(microsecond=0)


def ranges(count: int, *, base: str = "10.0.0.0/8", prefix: int = 28) -> list[IpRange]:
    """``count`` distinct /``prefix`` ranges carved from ``base``, all current."""
    networks = ipaddress.ip_network(base).subnets(new_prefix=prefix)
    return [
        IpRange(
            cidr=str(next(networks)),
            asn=64500 + index % 10,
            as_name=f"Example Proxy Network {index % 10}",
            provider_type="residential_proxy",
            traffic_share=0.25,
            benign_accounts_seen=1,
            recommended_action="block",
            first_seen=NOW - timedelta(days=3),
            last_seen=NOW - timedelta(days=1),
            updated=NOW - timedelta(hours=1),
            valid_until=NOW + timedelta(days=14),
            confidence=70,
            campaign="test-campaign",
        )
        for index in range(count)
    ]


def write_jsonl(path: Path, records: list[IpRange]) -> Path:
    path.write_text("".join(r.model_dump_json() + "\n" for r in records), encoding="utf-8")
    return path

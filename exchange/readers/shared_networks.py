"""The lab's allow-list of known-shared networks, and the check that uses it.

Carrier-grade NAT, privacy relays and university networks put thousands of
unrelated people behind the same addresses. A partner that blocks such a
range on our word would lock them all out, so ranges overlapping a network
the lab lists here are flagged before anything is published.

File format: one CIDR per line; ``#`` starts a comment (a comment on the same
line as a CIDR becomes its label in messages); blank lines are ignored::

    100.64.0.0/10      # carrier-grade NAT (RFC 6598)
    192.0.2.128/25     # example university campus
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from exchange.errors import InputError, InputErrors
from exchange.readers.batch import LocatedRecord
from exchange.readers.text import UnreadableInput, display_name, read_text
from mappings.records import IpRange

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class SharedNetwork:
    network: Network
    label: str
    file: str
    line: int

    def describe(self) -> str:
        label = f": {self.label}" if self.label else ""
        return f"{self.network} ({self.file}:{self.line}{label})"


def load_shared_networks(path: str | Path) -> list[SharedNetwork]:
    """Parse an allow-list file; raises InputErrors naming each bad line."""
    name = display_name(path)
    try:
        text = read_text(path)
    except UnreadableInput as exc:
        raise InputErrors([exc.error]) from None
    networks: list[SharedNetwork] = []
    errors: list[InputError] = []
    for number, line in enumerate(text.splitlines(), start=1):
        content, _, comment = line.partition("#")
        content = content.strip()
        if not content:
            continue
        try:
            network = ipaddress.ip_network(content, strict=True)
        except ValueError as exc:
            errors.append(InputError(name, number, "cidr", f"not a valid CIDR range: {exc}"))
            continue
        networks.append(SharedNetwork(network, comment.strip(), name, number))
    if errors:
        raise InputErrors(errors)
    return networks


@dataclass(frozen=True)
class SharedOverlap:
    """A range in the batch that overlaps a shared network."""

    item: LocatedRecord
    shared: SharedNetwork

    def error(self, *, refused: bool) -> InputError:
        record = self.item.record
        assert isinstance(record, IpRange)
        advice = (
            "pass --allow-shared to publish it anyway"
            if refused
            else "published anyway (--allow-shared)"
        )
        return InputError(
            self.item.file,
            self.item.line,
            "cidr",
            f"{record.cidr} overlaps the shared network {self.shared.describe()}; "
            f"blocking it would hit unrelated users: {advice}",
        )


def find_shared_overlaps(
    items: Iterable[LocatedRecord], shared: list[SharedNetwork]
) -> list[SharedOverlap]:
    """Every live IP range of the batch that overlaps a shared network.

    Withdrawn ranges are not flagged: withdrawing a range is always safe.
    """
    overlaps = []
    for item in items:
        record = item.record
        if not isinstance(record, IpRange) or record.withdrawn:
            continue
        network = record.network
        for candidate in shared:
            if candidate.network.version == network.version and candidate.network.overlaps(network):
                overlaps.append(SharedOverlap(item, candidate))
                break
    return overlaps

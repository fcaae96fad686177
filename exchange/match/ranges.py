"""Which shared ranges contain an address: a hash table per prefix length.

CIDR blocks never partially overlap: two blocks are disjoint or one holds
the other. So the blocks containing an address are exactly those whose
network equals the address with its low bits cleared, for some prefix
length. The index keeps, per IP version, a dictionary from (prefix length,
network as an integer) to the ranges with that block, plus the sorted set of
prefix lengths in use. A lookup is one shift and one dictionary probe per
prefix length in use (at most 33 for IPv4, 129 for IPv6, typically a handful),
whatever the number of ranges: the classic longest-prefix-match layout,
without a linear scan over the feed.
"""

from __future__ import annotations

import ipaddress
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from exchange.feed.current import RangeEntry

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass
class _Family:
    bits: int
    blocks: dict[tuple[int, int], list[RangeEntry]] = field(
        default_factory=lambda: defaultdict(list)
    )
    prefix_lengths: list[int] = field(default_factory=list)


class RangeIndex:
    """Shared ranges by block; ``containing`` lists the ranges that hold an address."""

    def __init__(self, ranges: Iterable[RangeEntry] = ()) -> None:
        self._families = {4: _Family(32), 6: _Family(128)}
        self._size = 0
        for entry in ranges:
            self.add(entry)

    def __len__(self) -> int:
        return self._size

    def add(self, entry: RangeEntry) -> None:
        network = entry.network
        family = self._families[network.version]
        key = (network.prefixlen, int(network.network_address))
        family.blocks[key].append(entry)
        if network.prefixlen not in family.prefix_lengths:
            family.prefix_lengths.append(network.prefixlen)
            family.prefix_lengths.sort(reverse=True)
        self._size += 1

    def containing(self, address: Address) -> list[RangeEntry]:
        """Every range holding ``address``, most specific block first."""
        family = self._families[address.version]
        value = int(address)
        found: list[RangeEntry] = []
        for prefix in family.prefix_lengths:
            host_bits = family.bits - prefix
            network = (value >> host_bits) << host_bits
            found.extend(family.blocks.get((prefix, network), ()))
        return found

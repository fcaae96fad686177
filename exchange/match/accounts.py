"""Shared account hashes by (identifier kind, key id, hash), for exact lookups.

A watchlist row is a member hash of a shared account cluster. A lab's own
identifier matches it when pseudonymising the identifier with the consortium
key gives the same hash, for the same identifier kind (hashes are domain
separated by kind) and under the same key id (a hash made under another key
can never be equal by design, and comparing would only hide a key rotation).

Kinds are compared in their STIX spelling (``device-fingerprint``): the feed
publishes vocabulary terms with hyphens, while lab-side tools and records
use ``device_fingerprint``; ``mappings.vocab`` swaps one for the other.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from exchange.feed.current import WatchEntry
from mappings.vocab import to_stix_term


class AccountIndex:
    """Watchlist entries under one key id; ``lookup`` by kind and hash."""

    def __init__(self, key_id: str, entries: Iterable[WatchEntry] = ()) -> None:
        self.key_id = key_id
        self.other_keys = 0
        self._by_hash: dict[tuple[str, str], list[WatchEntry]] = defaultdict(list)
        for entry in entries:
            self.add(entry)

    def __len__(self) -> int:
        return sum(len(entries) for entries in self._by_hash.values())

    def add(self, entry: WatchEntry) -> None:
        if entry.key_id != self.key_id:
            self.other_keys += 1
            return
        self._by_hash[(to_stix_term(entry.kind), entry.hash)].append(entry)

    def lookup(self, kind: str, hashed: str) -> list[WatchEntry]:
        """Entries for a hash of an identifier of ``kind`` (either spelling)."""
        return list(self._by_hash.get((to_stix_term(kind), hashed), ()))

"""Who may add versions of an object in the lab's merged store: its first creator.

STIX 2.1 lets only an object's creator (``created_by_ref``) publish new
versions of it. The server checks this per collection, but a lab merges every
collection it syncs, so a writer in any one of them could otherwise revoke or
overwrite another lab's object here (a copy with a later ``modified`` and
``revoked: true``). The store therefore remembers, per object, the creator of
its version with the earliest server ``date_added`` (in whichever collection:
the server's clock orders them, and a copy can only be posted after the
original it copies), and refuses every version whose creator differs,
including one with no ``created_by_ref`` for an object that has one.

Observables (SCOs) have no creator in STIX 2.1 and are shared by every lab
that sees the same value, so they are kept as delivered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from mappings.names import PROMPT_FINGERPRINT_TYPE

OBSERVABLE_TYPES: Final = frozenset(
    {
        "artifact",
        "autonomous-system",
        "directory",
        "domain-name",
        "email-addr",
        "email-message",
        "file",
        "ipv4-addr",
        "ipv6-addr",
        "mac-addr",
        "mutex",
        "network-traffic",
        "process",
        "software",
        "url",
        "user-account",
        "windows-registry-key",
        "x509-certificate",
        PROMPT_FINGERPRINT_TYPE,
    }
)
"""The STIX 2.1 cyber-observable types, and the exchange's own custom one."""


def has_creator(obj_type: str) -> bool:
    """Whether versions of this type are bound to their first creator (all but SCOs)."""
    return obj_type not in OBSERVABLE_TYPES


@dataclass(frozen=True)
class FirstCreator:
    """The creator of an object's earliest version, and where and when that version came."""

    created_by_ref: str | None
    date_added_key: str
    collection: str


@dataclass(frozen=True)
class RefusedVersion:
    """A version not stored (or dropped) because another identity created the object."""

    collection: str
    stix_id: str
    version: str
    created_by_ref: str | None
    first_creator: str | None

    @classmethod
    def of(cls, row: dict[str, Any], first: FirstCreator) -> RefusedVersion:
        return cls(
            collection=row["collection"],
            stix_id=row["stix_id"],
            version=row["version"],
            created_by_ref=row["created_by_ref"],
            first_creator=first.created_by_ref,
        )

    def reason(self) -> str:
        claimed = self.created_by_ref or "no created_by_ref"
        owner = self.first_creator or "no creator"
        return f"{self.stix_id} was first published by {owner}; this version is by {claimed}"


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    took_back: bool
    first: FirstCreator


class CreatorBook:
    """First creators of a set of objects, updated as versions are offered in order."""

    def __init__(self, known: dict[str, FirstCreator]) -> None:
        self._known = dict(known)
        self._changed: dict[str, FirstCreator] = {}

    def offer(
        self, stix_id: str, created_by_ref: str | None, date_added_key: str, collection: str
    ) -> Verdict:
        """Judge one version. An earlier version by another creator takes the object back:
        the versions accepted so far were an impostor's (``took_back``)."""
        first = self._known.get(stix_id)
        offered = FirstCreator(created_by_ref, date_added_key, collection)
        if first is None:
            self._set(stix_id, offered)
            return Verdict(True, False, offered)
        if created_by_ref == first.created_by_ref:
            if date_added_key < first.date_added_key:
                self._set(stix_id, offered)
                return Verdict(True, False, offered)
            return Verdict(True, False, first)
        if date_added_key < first.date_added_key:
            self._set(stix_id, offered)
            return Verdict(True, True, offered)
        return Verdict(False, False, first)

    def _set(self, stix_id: str, first: FirstCreator) -> None:
        self._known[stix_id] = first
        self._changed[stix_id] = first

    def changed(self) -> dict[str, FirstCreator]:
        """The first creators set or moved since the book was opened."""
        return dict(self._changed)

"""What a publish run achieved, object by object, tallied from the servers' status resources.

TAXII reports the fate of each posted object in a status resource: successes,
failures (with a message), pendings. This exchange's server also marks a
success whose version was already stored with a message saying so; that is
how a re-run after a crash can report "already present" instead of
"accepted" without asking the server anything else. Other TAXII servers send
no such message, and then every success counts as accepted, which is still
true.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

ALREADY_PRESENT_HINT = "already"


@dataclass(frozen=True)
class Refusal:
    """An object the server (or the publisher, before sending) would not take, and why."""

    id: str
    version: str
    reason: str

    def __str__(self) -> str:
        version = f" (version {self.version})" if self.version else ""
        return f"{self.id}{version}: {self.reason}"


@dataclass
class PublishReport:
    """Counts for the summary line, and every refusal for the error listing."""

    collection: str = ""
    sent: int = 0
    accepted: int = 0
    already_present: int = 0
    refused: list[Refusal] = field(default_factory=list)
    pending: list[Refusal] = field(default_factory=list)
    envelopes: int = 0
    status_ids: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.refused and not self.pending

    def add_status(self, status: Mapping[str, Any]) -> None:
        """Tally one final (or timed-out) status resource."""
        status_id = status.get("id")
        if isinstance(status_id, str):
            self.status_ids.append(status_id)
        successes = _details(status.get("successes"))
        for detail in successes:
            message = str(detail.get("message") or "")
            if ALREADY_PRESENT_HINT in message.lower():
                self.already_present += 1
            else:
                self.accepted += 1
        # The per-object lists are optional in TAXII 2.1; the counts are not.
        self.accepted += max(0, _count(status.get("success_count")) - len(successes))
        failures = _details(status.get("failures"))
        for detail in failures:
            self.refused.append(_refusal(detail, "refused by the server (no reason given)"))
        for _ in range(_count(status.get("failure_count")) - len(failures)):
            self.refused.append(Refusal("?", "", "refused by the server (object not named)"))
        pendings = _details(status.get("pendings"))
        for detail in pendings:
            self.pending.append(_refusal(detail, _STILL_PENDING))
        for _ in range(_count(status.get("pending_count")) - len(pendings)):
            self.pending.append(Refusal("?", "", _STILL_PENDING))

    def summary(self) -> str:
        parts = [
            f"{self.sent} objects sent in {self.envelopes} envelopes",
            f"{self.accepted} accepted",
            f"{self.already_present} already present",
            f"{len(self.refused)} refused",
        ]
        if self.pending:
            parts.append(f"{len(self.pending)} still pending")
        return f"collection {self.collection}: " + ", ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "sent": self.sent,
            "envelopes": self.envelopes,
            "accepted": self.accepted,
            "already_present": self.already_present,
            "refused": [vars(item) for item in self.refused],
            "pending": [vars(item) for item in self.pending],
            "status_ids": list(self.status_ids),
        }


_STILL_PENDING = "still pending when the publisher stopped waiting"


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0


def _details(value: Any) -> list[Mapping[str, Any]]:
    if not isinstance(value, list):
        return []
    return [item for item in value if isinstance(item, Mapping)]


def _refusal(detail: Mapping[str, Any], default_reason: str) -> Refusal:
    return Refusal(
        id=str(detail.get("id", "?")),
        version=str(detail.get("version", "")),
        reason=" ".join(str(detail.get("message") or default_reason).split()),
    )

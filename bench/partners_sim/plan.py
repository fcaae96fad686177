"""What the simulation does: how many partners, which grants, how often they act.

The plan is pure data, derived from the same inputs as the capacity model
(partners P, poll interval M minutes, R objects a day), plus a time scale that
compresses a day into the run: with ``time_scale`` 10 a partner polling every
5 minutes polls every 30 s of the run, and R objects a day arrive at
``R * 10 / 86,400`` objects per second. Grants are a fixed function of the
partner's number, so a run can be repeated and every partner's expected view of
every collection is known without asking the server.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from functools import cached_property

SECONDS_PER_DAY = 86_400
# A fixed namespace so that partner identities are the same from run to run.
_IDENTITY_NAMESPACE = uuid.UUID("7d3c1f0e-3a51-4f55-9a0e-6d1b7b2f9c41")


@dataclass(frozen=True)
class SimPlan:
    """The inputs of one run; every rate below is per second of the run."""

    partners: int = 1000
    duration_s: float = 120.0
    poll_minutes: float = 5.0
    time_scale: float = 10.0
    objects_per_day: float = 20_000.0
    publisher_share: float = 0.1
    batch: int = 10
    collections: int = 3
    page_limit: int = 1000
    manifest_share: float = 0.05  # of collection polls that also read the manifest
    threads: int = 64
    seed: int = 1

    @property
    def poll_interval_s(self) -> float:
        """Seconds of the run between two polls of one partner."""
        return 60.0 * self.poll_minutes / self.time_scale

    @property
    def publishers(self) -> int:
        if self.objects_per_day <= 0 or self.publisher_share <= 0:
            return 0
        return max(1, round(self.partners * self.publisher_share))

    @property
    def objects_per_s(self) -> float:
        """Objects published per second of the run, over all publishers."""
        return self.objects_per_day * self.time_scale / SECONDS_PER_DAY

    @property
    def publish_interval_s(self) -> float:
        """Seconds of the run between two POSTs of one publisher (``batch`` objects each)."""
        if self.publishers == 0:
            return float("inf")
        return self.batch * self.publishers / self.objects_per_s

    def partner_id(self, number: int) -> str:
        return f"sim-{number:05d}"

    def identity_ref(self, number: int) -> str:
        return f"identity--{uuid.uuid5(_IDENTITY_NAMESPACE, self.partner_id(number))}"

    def collection_title(self, index: int) -> str:
        return f"sim-{index}"

    def can_read(self, number: int, index: int) -> bool:
        """Collection 0 is shared with everyone; the others with about two thirds."""
        return index == 0 or (number + index) % 3 != 0

    @cached_property
    def publisher_numbers(self) -> frozenset[int]:
        """Publishers are spread evenly over the partner numbers."""
        step = self.partners / self.publishers if self.publishers else 0.0
        return frozenset(int(k * step) for k in range(self.publishers))

    def is_publisher(self, number: int) -> bool:
        return number in self.publisher_numbers

    def writes_to(self, number: int) -> int | None:
        """The collection a publisher writes to (one it can also read), or None."""
        if not self.is_publisher(number):
            return None
        for offset in range(self.collections):
            index = (number + offset) % self.collections
            if self.can_read(number, index):
                return index
        return 0

    def readable(self, number: int) -> list[int]:
        return [i for i in range(self.collections) if self.can_read(number, i)]

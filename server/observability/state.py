"""What the observability hooks and endpoints of one app share (in ``app.extensions``)."""

from __future__ import annotations

from dataclasses import dataclass

from server.observability.metrics import Exposition, Metrics
from server.observability.readiness import ReadinessCheck
from server.ratelimit import Network

EXTENSION_KEY = "dx_observability"


@dataclass(frozen=True)
class Observability:
    metrics: Metrics
    exposition: Exposition
    readiness: ReadinessCheck
    metrics_networks: tuple[Network, ...]
    log_requests: bool

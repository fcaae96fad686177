"""The per-request hooks: request id, timing, metrics, partner activity, the request log.

``init_app`` must run before any other ``before_request`` hook is registered
(the clock starts before authentication) and so, Flask running
``after_request`` hooks in reverse order, the accounting hook runs after all
others and sees the final status.
"""

from __future__ import annotations

import os
import time

from flask import Flask, Response, current_app, g, request
from prometheus_client.registry import Collector

from server.config import ServerConfig
from server.observability import request_log
from server.observability.endpoints import ENDPOINTS, blueprint
from server.observability.metrics import Exposition, new_metrics
from server.observability.pool import watch_pools
from server.observability.readiness import ReadinessCheck
from server.observability.replica import ReplicaLagCollector
from server.observability.state import EXTENSION_KEY, Observability
from server.observability.stored import StoredObjectsCollector
from server.ratelimit import ACCESS_EXTENSION_KEY, AccessControl, client_address, parse_networks
from server.store import Store
from server.store.timestamps import format_timestamp_us, now_us

# Any other method is counted as "other": label values must stay a small set.
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# Successful answers that show a partner's client at work (TAXII 2.1 sections 5.3-5.4).
_PUBLISH = ("taxii_objects.add_objects", 202)
_POLLS = frozenset({("taxii_objects.get_objects", 200), ("taxii_objects.manifest", 200)})


def init_app(app: Flask, config: ServerConfig, store: Store) -> None:
    metrics = new_metrics()
    watch_pools(store.engines, metrics)
    readiness = ReadinessCheck(
        config.database_url,
        store,
        replica_url=config.replica_database_url,
        replica_max_lag_seconds=config.replica_max_lag_seconds,
    )
    collectors: list[Collector] = [StoredObjectsCollector(store, readiness.database_answers)]
    if config.replica_database_url is not None:
        collectors.append(ReplicaLagCollector(readiness.replica_lag_seconds))
    app.extensions[EXTENSION_KEY] = Observability(
        metrics=metrics,
        exposition=Exposition(metrics, collectors),
        readiness=readiness,
        metrics_networks=parse_networks(config.metrics_networks),
        log_requests=bool(config.access_log) and config.access_log_format == "json",
    )
    app.register_blueprint(blueprint)
    app.before_request(_start)
    app.after_request(_account)


def _start() -> None:
    g.dx_started = time.perf_counter()
    g.dx_request_id = request_log.request_id(request.headers.get(request_log.HEADER))


def _account(response: Response) -> Response:
    request_id = g.get("dx_request_id") or request_log.request_id(None)
    response.headers[request_log.HEADER] = request_id
    endpoint = request.endpoint
    if endpoint in ENDPOINTS:
        return response
    state: Observability = current_app.extensions[EXTENSION_KEY]
    elapsed = time.perf_counter() - g.get("dx_started", time.perf_counter())
    label = endpoint or "unmatched"
    method = request.method if request.method in _METHODS else "other"
    status = response.status_code
    metrics = state.metrics
    metrics.requests.labels(label, method, str(status)).inc()
    metrics.duration.labels(label, method).observe(elapsed)
    partner = g.get("dx_partner")
    partner_id = partner.id if partner is not None else None
    if partner_id is not None:
        if (label, status) == _PUBLISH:
            metrics.last_publish.labels(partner_id).set(time.time())
        elif (label, status) in _POLLS:
            metrics.last_poll.labels(partner_id).set(time.time())
    if state.log_requests:
        access: AccessControl = current_app.extensions[ACCESS_EXTENSION_KEY]
        request_log.emit(
            {
                "time": format_timestamp_us(now_us()),
                "request_id": request_id,
                "method": request.method[:16],
                "path": request.path[: request_log.MAX_PATH_CHARS],
                "endpoint": label,
                "status": status,
                "duration_ms": round(elapsed * 1000, 3),
                "partner": partner_id,
                "bytes": response.calculate_content_length(),
                "remote_addr": client_address(
                    request.remote_addr,
                    request.headers.get("X-Forwarded-For"),
                    access.trusted_proxies,
                ),
                "user_agent": (request.user_agent.string or "")[: request_log.MAX_AGENT_CHARS],
                "pid": os.getpid(),
            }
        )
    return response

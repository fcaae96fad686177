"""``/-/metrics``, ``/-/healthz`` and ``/-/readyz``.

The probes need no credentials (a load balancer has none; restrict them at
the proxy if their existence matters); the metrics are served only to
``metrics_networks``, since they name partners and their activity.
"""

from __future__ import annotations

import orjson
from flask import Blueprint, Response, current_app, request

from server.observability.access import address_allowed
from server.observability.metrics import CONTENT_TYPE
from server.observability.paths import HEALTHZ_PATH, METRICS_PATH, READYZ_PATH
from server.observability.state import EXTENSION_KEY, Observability
from server.ratelimit import ACCESS_EXTENSION_KEY, AccessControl, client_address
from server.taxii.errors import TaxiiError

blueprint = Blueprint("observability", __name__)
# Requests to these are not counted: scraping or probing must not change the figures.
ENDPOINTS = frozenset(f"{blueprint.name}.{name}" for name in ("metrics", "healthz", "readyz"))
_NO_STORE = {"Cache-Control": "no-store"}


def _state() -> Observability:
    return current_app.extensions[EXTENSION_KEY]


def _json(document: dict[str, object], status: int) -> Response:
    return Response(
        orjson.dumps(document), status=status, mimetype="application/json", headers=_NO_STORE
    )


@blueprint.get(HEALTHZ_PATH)
def healthz() -> Response:
    """Alive: this process answers HTTP. Touches nothing else, the database least of all."""
    return _json({"status": "ok"}, 200)


@blueprint.get(READYZ_PATH)
def readyz() -> Response:
    outcome = _state().readiness.check()
    return _json(outcome.document(), 200 if outcome.ready else 503)


@blueprint.get(METRICS_PATH)
def metrics() -> Response:
    state = _state()
    access: AccessControl = current_app.extensions[ACCESS_EXTENSION_KEY]
    address = client_address(
        request.remote_addr, request.headers.get("X-Forwarded-For"), access.trusted_proxies
    )
    if not address_allowed(address, state.metrics_networks):
        raise TaxiiError(
            403,
            "Metrics are served only to the networks in the server's metrics_networks.",
            error_code="metrics-not-allowed",
        )
    return Response(
        state.exposition.render(), status=200, content_type=CONTENT_TYPE, headers=_NO_STORE
    )

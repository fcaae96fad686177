"""The Flask app factory of the TAXII 2.1 server.

``create_app(config)`` builds a complete, independent app: its own store
connection, its own cursor codec, no module-level state, so a gunicorn worker,
a test and a second server in the same interpreter never share anything.
Every request is authenticated and content-negotiated before any endpoint
runs, and every failure (including unknown URLs, wrong methods and unexpected
exceptions) is answered with a TAXII error body.
"""

from __future__ import annotations

import logging
import secrets

from flask import Flask, Response, current_app, g, request
from sqlalchemy.exc import SQLAlchemyError

from server import console, observability
from server.auth import authenticate
from server.config import ServerConfig
from server.ratelimit import ACCESS_EXTENSION_KEY, AccessControl, client_address, retry_after_header
from server.store import Store
from server.taxii import collections, objects, request_scope, server_info
from server.taxii.context import EXTENSION_KEY, ServerContext, server_context
from server.taxii.cursor import CursorCodec
from server.taxii.errors import TaxiiError, register_error_handlers
from server.taxii.media import accepts_taxii

log = logging.getLogger(__name__)


def _authenticate_and_negotiate() -> None:
    """Runs before every endpoint (and before routing errors are reported)."""
    if console.is_console_path(request.path):
        return  # the console authenticates analysts itself (server.console)
    if observability.is_probe_path(request.path):
        return  # metrics, health and readiness: for operators, not partners
    ctx = server_context()
    access: AccessControl = current_app.extensions[ACCESS_EXTENSION_KEY]
    address = client_address(
        request.remote_addr, request.headers.get("X-Forwarded-For"), access.trusted_proxies
    )
    g.dx_partner = authenticate(
        ctx.store,
        request.headers.get("Authorization"),
        ctx.config.auth_realm,
        address,
        access.login_limits,
    )
    wait = access.request_buckets.wait_seconds(g.dx_partner.id)
    if wait > 0:
        raise TaxiiError(
            429,
            "Too many requests from this partner; retry after the time given in Retry-After.",
            error_code="too-many-requests",
            headers=retry_after_header(wait),
        )
    if not accepts_taxii(request.headers.get("Accept")):
        raise TaxiiError(
            406,
            "Send Accept: application/taxii+json;version=2.1 (this server speaks TAXII 2.1 only).",
            error_code="not-acceptable",
        )


_AUDITED_METHODS = frozenset({"POST", "DELETE", "PUT", "PATCH"})


def _audit_refused_write(response: Response) -> Response:
    """A write or delete refused as a whole (403, 413, 422, ...) leaves an audit trace.

    Only authenticated partners' requests are recorded (failed logins are
    counted at authentication); entries are aggregated per minute.
    """
    partner = g.get("dx_partner")
    status = response.status_code
    if partner is None or request.method not in _AUDITED_METHODS or not 400 <= status < 500:
        return response
    if status == 429:  # rate limiting answers a flood; recording each would be the flood
        return response
    try:
        code = (response.get_json(silent=True) or {}).get("error_code") or ""
        server_context().store.audit_refusal(
            partner.id, request.method, request.path, status, str(code)
        )
    except SQLAlchemyError:
        log.warning("could not audit a refused request", exc_info=True)
    return response


def create_app(config: ServerConfig, store: Store | None = None) -> Flask:
    """A TAXII 2.1 app over ``store`` (opened from ``config.database_url`` if not given).

    The schema must already be migrated (``dx server init`` / ``serve`` do it
    once, before workers start, so workers never race on migrations).
    """
    # No static folder: Flask would otherwise route /static/<path>, an undocumented URL.
    app = Flask(__name__, static_folder=None)
    # OPTIONS gets a TAXII 405 like any other undefined method, not Flask's empty HTML reply.
    app.config["PROVIDE_AUTOMATIC_OPTIONS"] = False
    app.url_map.strict_slashes = False  # serve "/x" like "/x/" rather than redirect
    app.url_map.merge_slashes = False  # "//" is not a TAXII path: 404, not a redirect
    secret = config.cursor_secret
    if secret is None:
        secret = secrets.token_urlsafe(32)
        log.warning(
            "no cursor_secret configured: `next` tokens will not survive a restart "
            "or work across processes; run `dx server init` or set DX_CURSOR_SECRET"
        )
    if store is None:
        store = Store(
            config.database_url,
            replica_url=config.replica_database_url,
            status_retention_hours=config.status_retention_hours,
        )
    app.extensions[EXTENSION_KEY] = ServerContext(
        config=config, store=store, cursors=CursorCodec(secret)
    )
    app.extensions[ACCESS_EXTENSION_KEY] = AccessControl.from_config(config)
    # First: its clock starts before authentication and its accounting sees the final status.
    observability.init_app(app, config, store)
    request_scope.init_app(app)  # before authentication, which reads through the scope
    app.before_request(_authenticate_and_negotiate)
    app.after_request(_audit_refused_write)
    for blueprint in (server_info.blueprint, collections.blueprint, objects.blueprint):
        app.register_blueprint(blueprint)
    console.init_app(app)
    register_error_handlers(app)
    return app

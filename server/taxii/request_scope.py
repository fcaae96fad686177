"""Each TAXII request reads through one store connection, on the replica where it may.

``init_app`` registers the hooks; it must run before the authentication hook
so that authentication's reads share the request's connection
(``server.store.scope``).

Which requests read from the replica (``replica_database_url``): GETs of
discovery, API roots, collections, objects, an object, manifests and versions.
They write nothing, and a replica a moment behind only delays what a poller
sees: its cursor is the last date_added it received, so it asks again from
there and misses nothing. Everything else reads the primary: POST and DELETE,
and status resources, which a publisher asks for right after its POST and must
find. The console has its own hooks and always uses the primary.

A request on a collection names it in its URL; the scope passes it on, so
authentication reads the collection and the partner's grant in its own
statement (``server.store.rate_limits``): three round trips become two.
"""

from __future__ import annotations

from contextlib import ExitStack

from flask import Flask, g, request

from server.taxii.access import is_storable_name
from server.taxii.context import server_context

_REPLICA_BLUEPRINTS = frozenset({"taxii_server_info", "taxii_collections", "taxii_objects"})
_PRIMARY_ONLY_ENDPOINTS = frozenset({"taxii_server_info.status"})
_SCOPE_KEY = "dx_store_scope"


def reads_from_replica() -> bool:
    """True for the read-only TAXII endpoints a lagging replica may answer."""
    return (
        request.method in ("GET", "HEAD")
        and request.blueprint in _REPLICA_BLUEPRINTS
        and request.endpoint not in _PRIMARY_ONLY_ENDPOINTS
    )


def _named_collection() -> tuple[str, str] | None:
    """(api root, collection id) of the URL, when it names a collection a lookup can find."""
    arguments = request.view_args or {}
    api_root, collection_id = arguments.get("api_root"), arguments.get("collection_id")
    if not isinstance(api_root, str) or not isinstance(collection_id, str):
        return None
    if len(collection_id) > 200 or not is_storable_name(api_root + collection_id):
        return None
    return api_root, collection_id


def _open_scope() -> None:
    stack = ExitStack()
    stack.enter_context(
        server_context().store.request_scope(
            replica=reads_from_replica(), collection=_named_collection()
        )
    )
    setattr(g, _SCOPE_KEY, stack)


def _close_scope(_error: BaseException | None) -> None:
    stack: ExitStack | None = g.pop(_SCOPE_KEY, None)
    if stack is not None:
        stack.close()


def init_app(app: Flask) -> None:
    app.before_request(_open_scope)
    app.teardown_request(_close_scope)

"""Feed health: when each partner last published and last polled, for the console overview.

Recorded by an ``after_request`` hook on successful TAXII object requests
(GET objects/manifest/object: a poll; POST objects: a publish), at most once a
minute per partner and kind in each worker, so polling does not turn every
read into a database write.
"""

from __future__ import annotations

import logging
import threading
import time

from flask import Response, current_app, g, request
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from server.store.analysts import console_engine
from server.store.console_schema import partner_activity
from server.store.engine import read_transaction, write_transaction
from server.store.sql_helpers import upsert
from server.store.timestamps import now_us
from server.taxii.context import server_context

log = logging.getLogger(__name__)

_INTERVAL_S = 60.0
_LAST_KEY = "dx_console_activity"


def _due(partner_id: str, kind: str) -> bool:
    state = current_app.extensions.setdefault(_LAST_KEY, ({}, threading.Lock()))
    seen, lock = state
    now = time.monotonic()
    with lock:
        last = seen.get((partner_id, kind))
        if last is not None and now - last < _INTERVAL_S:
            return False
        seen[(partner_id, kind)] = now
        return True


def record_partner_activity(response: Response) -> Response:
    partner = getattr(g, "dx_partner", None)
    if partner is None or request.blueprint == "console" or "/objects" not in request.path:
        return response
    if request.method == "POST" and response.status_code == 202:
        kind = "publish"
    elif request.method == "GET" and response.status_code == 200:
        kind = "poll"
    else:
        return response
    if not _due(partner.id, kind):
        return response
    try:
        store = server_context().store
        with write_transaction(console_engine(store)) as connection:
            row = connection.execute(
                select(partner_activity).where(partner_activity.c.partner_id == partner.id)
            ).first()
            values = {
                "partner_id": partner.id,
                "last_publish_us": row.last_publish_us if row else 0,
                "last_poll_us": row.last_poll_us if row else 0,
            }
            values[f"last_{kind}_us"] = now_us()
            upsert(
                connection,
                partner_activity,
                values,
                key_columns=("partner_id",),
                update_columns=("last_publish_us", "last_poll_us"),
            )
    except SQLAlchemyError:
        log.warning("could not record partner activity (feed health)", exc_info=True)
    return response


def last_activity(store, partner_ids: list[str]) -> dict[str, tuple[int, int]]:
    """partner id -> (last publish, last poll) in microseconds (0: never seen)."""
    if not partner_ids:
        return {}
    with read_transaction(console_engine(store)) as connection:
        rows = connection.execute(
            select(partner_activity).where(partner_activity.c.partner_id.in_(partner_ids))
        ).all()
    return {row.partner_id: (row.last_publish_us, row.last_poll_us) for row in rows}

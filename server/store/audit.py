"""The audit log: who published, deleted, or changed partners and grants, and when.

Rows are written inside the transaction of the change they describe, so the
log never records a change that was rolled back, nor misses one that committed.
Publishing records counts only: object contents stay in the objects table.

Actions (actor; target; detail):

* ``objects.publish``: the partner (also for ``dx server load --as``); the
  collection id; added, already_present, failed, status_id.
* ``objects.delete``: the partner; ``<collection id> <stix id>``; deleted, versions.
* ``partner.add``, ``partner.rotate_key``, ``partner.revoke``,
  ``partner.reactivate``: the administrator (``cli:<user>``); the partner id.
* ``grant.set``: the administrator; ``<partner id> <collection id>``; can_read, can_write.
* ``import.medallion``: the administrator; the file; counts.
* ``request.refused``: the partner; ``<METHOD> <path> <status>``; status, error_code,
  count, first_at/last_at: a POST or DELETE refused as a whole (403 forbidden
  write or delete of another partner's object, 413, 415, 422, ...).
* ``login.failed``: the partner id tried if it exists, else ``unknown``; the
  client address; count, first_at/last_at. Never the key tried.

Refusals and failed logins are aggregated: one entry per (actor, action,
target) per window (``AGGREGATE_WINDOW_US``), whose ``count`` grows, so a
burst is one row, not a flood that buries the rest of the log.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, insert, or_, select, update

from server.store.schema import audit_log
from server.store.types import AuditEntry

ADMIN_ACTOR = "admin"
AGGREGATE_WINDOW_US = 60_000_000
# How far back an aggregated entry is looked for: the newest rows only.
_AGGREGATE_LOOKBACK_ROWS = 1000


def record(
    connection: Connection,
    *,
    at_us: int,
    actor: str | None,
    action: str,
    target: str,
    detail: dict[str, Any] | None = None,
) -> None:
    connection.execute(
        insert(audit_log).values(
            at_us=at_us,
            actor=actor or ADMIN_ACTOR,
            action=action,
            target=target,
            detail=detail or {},
        )
    )


def record_aggregated(
    connection: Connection,
    *,
    at_us: int,
    actor: str,
    action: str,
    target: str,
    detail: dict[str, Any],
    window_us: int = AGGREGATE_WINDOW_US,
) -> None:
    """Count one more event into this window's entry for (actor, action, target), or start one."""
    newest = connection.execute(select(func.max(audit_log.c.seq))).scalar() or 0
    row = connection.execute(
        select(audit_log.c.seq, audit_log.c.detail)
        .where(
            audit_log.c.seq > newest - _AGGREGATE_LOOKBACK_ROWS,
            audit_log.c.actor == actor,
            audit_log.c.action == action,
            audit_log.c.target == target,
            audit_log.c.at_us >= at_us - window_us,
        )
        .order_by(audit_log.c.seq.desc())
        .limit(1)
    ).first()
    if row is None:
        record(
            connection,
            at_us=at_us,
            actor=actor,
            action=action,
            target=target,
            detail={**detail, "count": 1, "last_at_us": at_us},
        )
        return
    merged = dict(row.detail)
    merged["count"] = int(merged.get("count", 1)) + 1
    merged["last_at_us"] = at_us
    connection.execute(update(audit_log).where(audit_log.c.seq == row.seq).values(detail=merged))


def recent(
    connection: Connection,
    limit: int | None,
    *,
    partner: str | None = None,
    action: str | None = None,
    since_us: int | None = None,
) -> list[AuditEntry]:
    """The newest ``limit`` entries (all if None), newest first.

    ``partner`` keeps entries the partner made or that are about it (its key,
    its grants); ``action`` is an action (``objects.publish``) or a family
    (``partner``, ``objects``); ``since_us`` keeps entries at or after it.
    """
    statement = select(audit_log)
    if partner is not None:
        statement = statement.where(
            or_(
                audit_log.c.actor == partner,
                audit_log.c.target == partner,
                audit_log.c.target.startswith(f"{partner} ", autoescape=True),
            )
        )
    if action is not None:
        statement = statement.where(
            or_(
                audit_log.c.action == action,
                audit_log.c.action.startswith(f"{action}.", autoescape=True),
            )
        )
    if since_us is not None:
        statement = statement.where(audit_log.c.at_us >= since_us)
    statement = statement.order_by(audit_log.c.seq.desc())
    if limit is not None:
        statement = statement.limit(limit)
    return [
        AuditEntry(
            seq=row.seq,
            at_us=row.at_us,
            actor=row.actor,
            action=row.action,
            target=row.target,
            detail=dict(row.detail),
        )
        for row in connection.execute(statement)
    ]

"""The audit log: who published, deleted, or changed partners and grants, and when.

Rows are written inside the transaction of the change they describe, so the
log never records a change that was rolled back, nor misses one that committed.
Publishing records counts only: object contents stay in the objects table.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, select

from server.store.schema import audit_log
from server.store.types import AuditEntry

ADMIN_ACTOR = "admin"


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


def recent(connection: Connection, limit: int) -> list[AuditEntry]:
    """The newest ``limit`` entries, newest first."""
    rows = connection.execute(select(audit_log).order_by(audit_log.c.seq.desc()).limit(limit)).all()
    return [
        AuditEntry(
            seq=row.seq,
            at_us=row.at_us,
            actor=row.actor,
            action=row.action,
            target=row.target,
            detail=dict(row.detail),
        )
        for row in rows
    ]

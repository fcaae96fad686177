"""Status resources of POST requests: saved with the objects, purged after retention.

A status belongs to the partner whose request produced it; only that partner
(and the administrator) may read it. Rows are kept at least 24 hours, as TAXII
clients poll them after the POST, and purged afterwards so the table does not
grow without bound.

A status lists at most ``MAX_FAILURE_DETAILS`` failures: past that the rest
are counted in ``failure_count`` only (and the last listed failure says how
many were left out), so an envelope of junk cannot make a status, or its row,
many times the size of the request. Successes are bounded by the objects a
request may hold (``max_objects_per_request``).
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, select

from server.store.schema import statuses
from server.store.types import StatusDetail, StatusRecord

MIN_RETENTION_HOURS = 24
MAX_FAILURE_DETAILS = 100
DEFAULT_RETENTION_HOURS = 48
_US_PER_HOUR = 3_600_000_000


def retention_us(hours: float) -> int:
    if hours < MIN_RETENTION_HOURS:
        raise ValueError(
            f"status_retention_hours must be at least {MIN_RETENTION_HOURS}, got {hours}"
        )
    return int(hours * _US_PER_HOUR)


def _details_to_json(details: list[StatusDetail]) -> list[dict[str, str]]:
    return [{"id": d.id, "version": d.version, "message": d.message} for d in details]


def _details_from_json(items: list[dict[str, str]]) -> list[StatusDetail]:
    return [StatusDetail(item["id"], item["version"], item.get("message", "")) for item in items]


def summarise(record: StatusRecord) -> StatusRecord:
    """Keep the first MAX_FAILURE_DETAILS failures listed; count the rest (in place)."""
    extra = len(record.failures) - MAX_FAILURE_DETAILS
    if extra > 0:
        record.failures = record.failures[:MAX_FAILURE_DETAILS]
        last = record.failures[-1]
        record.failures[-1] = StatusDetail(
            last.id,
            last.version,
            f"{last.message[:200]} ({extra} more failures not listed; see failure_count)",
        )
        record.omitted_failures += extra
    return record


def save(connection: Connection, record: StatusRecord, created_us: int) -> None:
    connection.execute(
        insert(statuses).values(
            id=record.id,
            api_root=record.api_root,
            partner_id=record.partner_id,
            status=record.status,
            request_timestamp_us=record.request_timestamp_us,
            created_us=created_us,
            total_count=record.total_count,
            success_count=len(record.successes),
            failure_count=record.failure_count,
            pending_count=len(record.pendings),
            details={
                "successes": _details_to_json(record.successes),
                "failures": _details_to_json(record.failures),
                "pendings": _details_to_json(record.pendings),
                "omitted_failures": record.omitted_failures,
            },
        )
    )


def exists(connection: Connection, status_id: str) -> bool:
    found = connection.execute(select(statuses.c.id).where(statuses.c.id == status_id)).first()
    return found is not None


def load(connection: Connection, api_root: str, status_id: str) -> StatusRecord | None:
    row = connection.execute(
        select(statuses).where(statuses.c.id == status_id, statuses.c.api_root == api_root)
    ).first()
    if row is None:
        return None
    details = row.details
    return StatusRecord(
        id=row.id,
        api_root=row.api_root,
        partner_id=row.partner_id,
        status=row.status,
        request_timestamp_us=row.request_timestamp_us,
        successes=_details_from_json(details.get("successes", [])),
        failures=_details_from_json(details.get("failures", [])),
        pendings=_details_from_json(details.get("pendings", [])),
        omitted_failures=int(details.get("omitted_failures", 0)),
    )


def purge_older_than(connection: Connection, cutoff_us: int) -> int:
    """Delete statuses created before ``cutoff_us``; return how many."""
    result = connection.execute(delete(statuses).where(statuses.c.created_us < cutoff_us))
    return result.rowcount

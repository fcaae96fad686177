"""Status resources of POST requests: saved with the objects, purged after retention.

A status belongs to the partner whose request produced it; only that partner
(and the administrator) may read it. Rows are kept at least 24 hours, as TAXII
clients poll them after the POST, and purged afterwards so the table does not
grow without bound.

A status gives the reason of its first ``MAX_FAILURE_DETAILS`` failures;
later failures keep their id and version (TAXII clients check that the
counts match the lists) with a short fixed message, so an envelope of junk
cannot make a status, or its row, many times the size of the request. The
number of entries is bounded by the objects a request may hold
(``max_objects_per_request``).
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, select

from server.store.schema import statuses
from server.store.types import StatusDetail, StatusRecord

MIN_RETENTION_HOURS = 24
MAX_FAILURE_DETAILS = 1000  # above what `dx publish` sends in one envelope (500)
SUMMARISED_MESSAGE = f"refused (reasons given for the first {MAX_FAILURE_DETAILS} only)"
DEFAULT_RETENTION_HOURS = 48
_US_PER_HOUR = 3_600_000_000


def retention_us(hours: float) -> int:
    if hours < MIN_RETENTION_HOURS:
        raise ValueError(
            f"status_retention_hours must be at least {MIN_RETENTION_HOURS}, got {hours}"
        )
    return int(hours * _US_PER_HOUR)


def _details_from_json(items: list[dict[str, str]]) -> list[StatusDetail]:
    return [StatusDetail(item["id"], item["version"], item.get("message", "")) for item in items]


def summarise(record: StatusRecord) -> StatusRecord:
    """Shorten the messages of failures past the first MAX_FAILURE_DETAILS (in place)."""
    if len(record.failures) > MAX_FAILURE_DETAILS:
        record.failures[MAX_FAILURE_DETAILS:] = [
            StatusDetail(detail.id, detail.version, SUMMARISED_MESSAGE)
            for detail in record.failures[MAX_FAILURE_DETAILS:]
        ]
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
            # StatusDetail dataclasses as they are: the engine's JSON encoder
            # (orjson) writes them as {"id", "version", "message"} objects in C,
            # without a dict per entry first (10,000 of them for a full POST).
            details={
                "successes": record.successes,
                "failures": record.failures,
                "pendings": record.pendings,
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
    )


def purge_older_than(connection: Connection, cutoff_us: int) -> int:
    """Delete statuses created before ``cutoff_us``; return how many."""
    result = connection.execute(delete(statuses).where(statuses.c.created_us < cutoff_us))
    return result.rowcount

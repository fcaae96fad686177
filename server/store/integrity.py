"""The store's integrity check: the database's own checks plus the store's invariants.

Why: after a crash, a restore or a bad migration, "the server starts" proves
little. This module says whether the data still means what the code assumes:

* the database file is sound (SQLite ``PRAGMA integrity_check`` and
  ``foreign_key_check``; on both backends, no row points at a missing parent);
* the schema is at the migration this code ships;
* every object has exactly one latest version, and it is the greatest
  (spec_version, version) stored: the default TAXII listing depends on it;
* date_added is unique and increases with insertion order in each collection,
  and the collection's ``last_date_added_us`` is not behind any of its rows:
  incremental pollers depend on it (imported medallion rows, which carry
  their own dates, are exempt);
* statuses agree with themselves (counts = details) and with the objects:
  every success of a partner's POST is stored, unless that partner or the
  administrator deleted the object later (the audit log says so), and every
  partner's status has its ``objects.publish`` audit entry.

Everything is read in one snapshot (REPEATABLE READ on PostgreSQL, one read
transaction on SQLite's WAL), so the check may run while the server serves.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, Engine, Integer, and_, cast, func, select
from sqlalchemy.exc import DatabaseError

from server.store.migrate import head_revision
from server.store.schema import audit_log, collections, grants, objects, partners, statuses
from server.store.sql_helpers import chunked

# Problems of one kind listed in full up to this many; beyond, only counted.
_EXAMPLES_PER_KIND = 10
_DETAIL_KINDS = ("successes", "failures", "pendings")


@dataclass
class IntegrityReport:
    """What the check looked at (``checked``) and what it found wrong (``problems``)."""

    problems: list[str] = field(default_factory=list)
    checked: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def _add(self, kind: str, examples: list[str]) -> None:
        if not examples:
            return
        shown = examples[:_EXAMPLES_PER_KIND]
        self.problems.extend(f"{kind}: {example}" for example in shown)
        if len(examples) > len(shown):
            self.problems.append(f"{kind}: ... and {len(examples) - len(shown)} more")


@contextmanager
def snapshot_transaction(engine: Engine) -> Iterator[Connection]:
    """A read-only transaction whose statements all see one snapshot, on either backend.

    PostgreSQL's default READ COMMITTED gives each statement a new snapshot, so
    a multi-statement read (a check, a logical backup) running beside writers
    would mix states; REPEATABLE READ fixes one. SQLite in WAL mode already
    keeps one snapshot for a read transaction.
    """
    with engine.connect() as connection:
        if connection.dialect.name == "postgresql":
            connection = connection.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        with connection.begin():
            yield connection


def check_integrity(engine: Engine) -> IntegrityReport:
    """Run every check in one snapshot; never raises for bad data, only reports it."""
    report = IntegrityReport()
    try:
        with snapshot_transaction(engine) as connection:
            _check_database(connection, report)
            _check_schema_revision(connection, report)
            if report.problems:
                return report  # the store's own invariants mean nothing on a broken file
            _check_references(connection, report)
            _check_latest_flags(connection, report)
            _check_date_added(connection, report)
            _check_statuses(connection, report)
    except DatabaseError as error:
        # A damaged file can fail any read (SQLite: "database disk image is malformed").
        reason = str(error.orig or error).strip().splitlines()[0]
        report._add("database error", [reason])
    return report


def _check_database(connection: Connection, report: IntegrityReport) -> None:
    if connection.dialect.name != "sqlite":
        return  # PostgreSQL has no cheap whole-database check; references are checked below
    results = [row[0] for row in connection.exec_driver_sql("PRAGMA integrity_check")]
    if results != ["ok"]:
        report._add("sqlite integrity_check", [str(result) for result in results])
    dangling = connection.exec_driver_sql("PRAGMA foreign_key_check").all()
    report._add(
        "sqlite foreign_key_check",
        [f"table {row[0]} rowid {row[1]} -> {row[2]}" for row in dangling],
    )


def _check_schema_revision(connection: Connection, report: IntegrityReport) -> None:
    revision = MigrationContext.configure(connection).get_current_revision()
    if revision != head_revision():
        report._add("schema", [f"database at migration {revision!r}, code at {head_revision()!r}"])


def _orphans(connection: Connection, child, column, parent_column) -> list[str]:
    rows = connection.execute(
        select(column)
        .select_from(child.outerjoin(parent_column.table, column == parent_column))
        .where(column.is_not(None), parent_column.is_(None))
        .distinct()
    ).scalars()
    return [str(value) for value in rows]


def _check_references(connection: Connection, report: IntegrityReport) -> None:
    """Rows pointing at missing parents. The database enforces the grants' keys; the
    objects' two are the store's to keep (migration 0005), so this is where a broken
    one would show."""
    pairs = [
        ("objects.collection_id", objects, objects.c.collection_id, collections.c.id),
        ("objects.publisher", objects, objects.c.publisher, partners.c.id),
        ("grants.partner_id", grants, grants.c.partner_id, partners.c.id),
        ("grants.collection_id", grants, grants.c.collection_id, collections.c.id),
    ]
    for label, child, column, parent in pairs:
        report._add(f"dangling {label}", _orphans(connection, child, column, parent))


def _check_latest_flags(connection: Connection, report: IntegrityReport) -> None:
    """Exactly one is_latest row per (collection, object), and it is the greatest version."""
    per_object = connection.execute(
        select(
            objects.c.collection_id,
            objects.c.stix_id,
            func.count().label("versions"),
            func.sum(cast(objects.c.is_latest, Integer)).label("flags"),
        ).group_by(objects.c.collection_id, objects.c.stix_id)
    ).all()
    report.checked["objects"] = len(per_object)
    report.checked["versions"] = sum(row.versions for row in per_object)
    report._add(
        "latest flag count",
        [
            f"{row.collection_id} {row.stix_id}: {row.flags or 0} latest versions, expected 1"
            for row in per_object
            if (row.flags or 0) != 1
        ],
    )
    # The flagged row must be the greatest (spec_version, version_key) of its object.
    flagged = objects.alias("flagged")
    newer = objects.alias("newer")
    wrong = connection.execute(
        select(flagged.c.collection_id, flagged.c.stix_id, flagged.c.version)
        .join(
            newer,
            and_(
                newer.c.collection_id == flagged.c.collection_id,
                newer.c.stix_id == flagged.c.stix_id,
                (newer.c.spec_version > flagged.c.spec_version)
                | and_(
                    newer.c.spec_version == flagged.c.spec_version,
                    newer.c.version_key > flagged.c.version_key,
                ),
            ),
        )
        .where(flagged.c.is_latest.is_(True))
        .distinct()
    ).all()
    report._add(
        "latest flag on an older version",
        [f"{row.collection_id} {row.stix_id}: flagged {row.version}" for row in wrong],
    )


def _check_date_added(connection: Connection, report: IntegrityReport) -> None:
    """Published rows: unique, increasing with seq; the collection's high-water mark covers all."""
    rows = connection.execute(
        select(objects.c.collection_id, objects.c.seq, objects.c.date_added_us, objects.c.stix_id)
        .where(objects.c.publisher.is_not(None))
        .order_by(objects.c.collection_id, objects.c.seq)
    )
    out_of_order: list[str] = []
    previous: tuple[str, int] = ("", 0)  # no collection id is empty
    for row in rows:
        same_collection = previous[0] == row.collection_id
        if same_collection and row.date_added_us <= previous[1]:
            out_of_order.append(
                f"{row.collection_id} seq {row.seq} ({row.stix_id}): date_added "
                f"{row.date_added_us} not after the previous row's {previous[1]}"
            )
        previous = (row.collection_id, row.date_added_us)
    report._add("date_added order", out_of_order)

    behind = connection.execute(
        select(
            collections.c.id,
            collections.c.last_date_added_us,
            func.max(objects.c.date_added_us).label("newest"),
        )
        .join(objects, objects.c.collection_id == collections.c.id)
        .group_by(collections.c.id, collections.c.last_date_added_us)
        .having(func.max(objects.c.date_added_us) > collections.c.last_date_added_us)
    ).all()
    report._add(
        "collection last_date_added_us behind its rows",
        [f"{row.id}: {row.last_date_added_us} < {row.newest}" for row in behind],
    )
    report.checked["collections"] = connection.execute(
        select(func.count()).select_from(collections)
    ).scalar_one()


def _check_statuses(connection: Connection, report: IntegrityReport) -> None:
    """Counts match details; successes are stored (or later deleted); the POST was audited."""
    audited_status_ids: set[str] = set()
    deleted_after: dict[str, int] = defaultdict(int)  # stix_id -> latest delete time
    for row in connection.execute(
        select(audit_log.c.action, audit_log.c.target, audit_log.c.detail, audit_log.c.at_us).where(
            audit_log.c.action.in_(("objects.publish", "objects.delete"))
        )
    ):
        if row.action == "objects.publish":
            audited_status_ids.add(str((row.detail or {}).get("status_id")))
        else:
            stix_id = row.target.rsplit(" ", 1)[-1]
            deleted_after[stix_id] = max(deleted_after[stix_id], row.at_us)

    bad_counts: list[str] = []
    unaudited: list[str] = []
    wanted: dict[str, list[tuple[str, str, str, int]]] = defaultdict(list)
    count = 0
    for row in connection.execute(select(statuses)):
        count += 1
        details = row.details or {}
        lengths = {kind: len(details.get(kind, [])) for kind in _DETAIL_KINDS}
        stored = (row.success_count, row.failure_count, row.pending_count)
        if stored != (lengths["successes"], lengths["failures"], lengths["pendings"]) or (
            row.total_count != sum(lengths.values())
        ):
            bad_counts.append(f"{row.id}: counts {stored}/{row.total_count}, details {lengths}")
        if row.partner_id is None:
            continue  # imported from medallion: describes someone else's store
        if row.id not in audited_status_ids:
            unaudited.append(f"{row.id} ({row.partner_id})")
        for item in details.get("successes", []):
            wanted[row.api_root].append((item["id"], item["version"], row.id, row.created_us))
    report.checked["statuses"] = count
    report._add("status counts", bad_counts)
    report._add("status without its objects.publish audit entry", unaudited)

    missing: list[str] = []
    successes = 0
    for api_root, items in wanted.items():
        successes += len(items)
        present = _stored_versions(connection, api_root, sorted({item[0] for item in items}))
        for stix_id, version, status_id, created_us in items:
            if (stix_id, version) in present:
                continue
            if deleted_after.get(stix_id, -1) >= created_us:
                continue
            missing.append(f"status {status_id}: {stix_id} {version} reported stored, not found")
    report.checked["status_successes"] = successes
    report._add("status success not stored", missing)


def _stored_versions(
    connection: Connection, api_root: str, stix_ids: list[str]
) -> set[tuple[str, str]]:
    present: set[tuple[str, str]] = set()
    for chunk in chunked(stix_ids):
        rows = connection.execute(
            select(objects.c.stix_id, objects.c.version)
            .join(collections, collections.c.id == objects.c.collection_id)
            .where(collections.c.api_root == api_root, objects.c.stix_id.in_(chunk))
        )
        present.update((row.stix_id, row.version) for row in rows)
    return present

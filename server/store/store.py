"""``Store``: the one entry point of the server's durable storage.

Every method opens its own short transaction, except that inside a
``request_scope`` the reads of one request share one connection (``scope``);
one Store can be shared by the threads of a worker, and any number of
processes can open the same database: nothing is cached between calls. Each
process must create its own Store (an engine must not cross a fork).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from server.store import (
    accounts,
    audit,
    catalog,
    medallion,
    owners,
    publish,
    rate_limits,
    statuses,
)
from server.store.analyze_schedule import AnalyzeSchedule, BackgroundRefresh
from server.store.engine import make_engine, read, write_transaction
from server.store.integrity import IntegrityReport, check_integrity
from server.store.migrate import current_revision, head_revision, upgrade_to_head
from server.store.objects_read import fetch_page, first_version_creators, page_select
from server.store.objects_write import (
    delete_matching_versions,
    insert_versions,
    lock_collection,
)
from server.store.schema import objects as objects_table
from server.store.scope import ReadScope
from server.store.sql_helpers import ARRAY_CHUNK, IN_LIST_CHUNK
from server.store.timestamps import now_us
from server.store.types import (
    ApiRootInfo,
    AuditEntry,
    CollectionInfo,
    DeleteResult,
    Grant,
    ImportSummary,
    IncomingObject,
    ObjectQuery,
    Page,
    Partner,
    PartnerGrant,
    StatusDetail,
    StatusRecord,
)

log = logging.getLogger(__name__)
T = TypeVar("T")

UNVERSIONED = "1970-01-01T00:00:00.000Z"  # the version of observables (server.taxii.stix_checks)
_PURGE_INTERVAL_US = 60_000_000


class Store:
    """The exchange's storage on SQLite (``sqlite:///file.db``) or PostgreSQL.

    ``replica_url``: a read-only copy of the database (a PostgreSQL streaming
    replica). Only reads made inside ``request_scope(replica=True)`` go there;
    every write, and every read outside such a scope, goes to ``url``.

    ``clock`` returns the current time in microseconds; it exists so tests can
    exercise status retention without waiting a day.
    """

    def __init__(
        self,
        url: str,
        *,
        replica_url: str | None = None,
        status_retention_hours: float = statuses.DEFAULT_RETENTION_HOURS,
        clock: Callable[[], int] = now_us,
    ) -> None:
        self.url = url
        self._retention_us = statuses.retention_us(status_retention_hours)
        self._clock = clock
        self._engine = make_engine(url)
        self._replica: Engine | None = (
            make_engine(replica_url, read_only=True) if replica_url else None
        )
        self._scope: ContextVar[ReadScope | None] = ContextVar("dx_store_scope", default=None)
        self._next_purge_us = 0
        self._analyze_schedule = AnalyzeSchedule()
        self._background_analyze = BackgroundRefresh(self._analyze_after_growth)
        self._publisher = publish.ConcurrentPublisher(self._engine)
        self._next_login_purge_us = 0

    @classmethod
    def open(cls, url: str, **options: Any) -> Store:
        return cls(url, **options)

    @property
    def dialect(self) -> str:
        """The database kind: sqlite or postgresql."""
        return self._engine.dialect.name

    @property
    def writes_while_checking(self) -> bool:
        """Whether ``add_object_chunks`` stores chunks while the next is checked (PostgreSQL).

        Where it does not (SQLite), checking in chunks only costs: the HTTP layer
        then hands the whole envelope over as one chunk.
        """
        return self.dialect == "postgresql"

    @property
    def ids_per_query(self) -> int:
        """How many ids one ``ObjectQuery.ids`` filter should carry (see ``any_of_chunks``)."""
        return ARRAY_CHUNK if self.dialect == "postgresql" else IN_LIST_CHUNK

    @property
    def engines(self) -> tuple[Engine, ...]:
        """Every engine this store opened, the primary's first (for pool metrics and probes)."""
        return (self._engine,) if self._replica is None else (self._engine, self._replica)

    def close(self) -> None:
        self._publisher.close()
        self._background_analyze.wait()
        self._engine.dispose()
        if self._replica is not None:
            self._replica.dispose()

    # -- request scopes ---------------------------------------------------------------

    @contextmanager
    def request_scope(
        self, *, replica: bool = False, collection: tuple[str, str] | None = None
    ) -> Iterator[None]:
        """Every read in this block (this thread) shares one pooled connection (``scope``).

        ``replica``: read from the replica, if one is configured. Only for
        requests that write nothing and need not see their own writes.
        ``collection`` (api root, collection id): the collection the request
        names; ``check_login`` then looks it up with the partner's grant.
        """
        engine = self._replica if replica and self._replica is not None else self._engine
        scope = ReadScope(engine, collection)
        token = self._scope.set(scope)
        try:
            yield
        finally:
            self._scope.reset(token)
            scope.close()

    def _read(self, work: Callable[[Connection], T]) -> T:
        scope = self._scope.get()
        if scope is None:
            return read(self._engine, work)
        return scope.run(work)

    def _reads_replica(self) -> bool:
        scope = self._scope.get()
        return scope is not None and scope.engine is not self._engine

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # -- schema ---------------------------------------------------------------

    def migrate(self) -> None:
        """Create or upgrade the schema to the newest migration (alembic ``upgrade head``)."""
        upgrade_to_head(self._engine)

    def schema_revision(self) -> str | None:
        """The database's migration, or None when it was never migrated."""
        return current_revision(self._engine)

    def is_up_to_date(self) -> bool:
        return self.schema_revision() == head_revision()

    def check_integrity(self) -> IntegrityReport:
        """The database's own checks plus the store's invariants (see ``integrity``), in one
        snapshot: safe while the server runs, and the proof a crash or restore left no damage."""
        return check_integrity(self._engine)

    def analyze(self) -> None:
        """Refresh the query planner's statistics; run it after a bulk import.

        Both planners pick the date_added indexes only when they know the
        collection is large; PostgreSQL's autovacuum does this by itself
        eventually, SQLite never does.
        """
        with write_transaction(self._engine) as connection:
            connection.exec_driver_sql("ANALYZE")

    def _refresh_statistics(self) -> None:
        """ANALYZE after growth: in the background on PostgreSQL (about 200 ms, see
        ``BackgroundRefresh``); at once on SQLite, where ``analysis_limit`` keeps it to
        milliseconds and an in-memory database has one connection for every thread."""
        if self.dialect == "postgresql":
            self._background_analyze.request()
        else:
            self._analyze_after_growth()

    def _analyze_after_growth(self) -> None:
        # The POST already committed; a failed ANALYZE only leaves older statistics.
        # Only the objects table: the page plans this schedule protects read it alone,
        # and a database-wide ANALYZE on PostgreSQL also samples every other table (the
        # statuses' large JSON details among them), which doubled the time a POST spent
        # on it (about 250 ms against 550 ms at 100,000 objects).
        try:
            with write_transaction(self._engine) as connection:
                connection.exec_driver_sql(f"ANALYZE {objects_table.name}")
        except SQLAlchemyError:
            log.warning(
                "ANALYZE after growth failed; the planner keeps older statistics", exc_info=True
            )

    # -- API roots, collections, discovery --------------------------------------

    def add_api_root(self, info: ApiRootInfo) -> None:
        """Create the API root, or update its title, description, versions and size limit."""
        with write_transaction(self._engine) as connection:
            catalog.put_api_root(connection, info)

    def get_api_root(self, name: str) -> ApiRootInfo | None:
        return self._read(lambda connection: catalog.get_api_root(connection, name))

    def list_api_roots(self) -> list[ApiRootInfo]:
        return self._read(lambda connection: catalog.list_api_roots(connection))

    def add_collection(self, info: CollectionInfo) -> None:
        """Create the collection, or update its settings; its objects are kept."""
        with write_transaction(self._engine) as connection:
            catalog.put_collection(connection, info)

    def get_collection(self, api_root: str, collection_id: str) -> CollectionInfo | None:
        return self._read(
            lambda connection: catalog.get_collection(connection, api_root, collection_id)
        )

    def list_collections(self, api_root: str) -> list[CollectionInfo]:
        return self._read(lambda connection: catalog.list_collections(connection, api_root))

    def get_discovery(self) -> dict[str, Any]:
        """Title, description, contact and default of the discovery resource ({} if never set)."""
        return self._read(
            lambda connection: dict(catalog.get_setting(connection, catalog.DISCOVERY_KEY) or {})
        )

    def set_discovery(self, discovery: dict[str, Any]) -> None:
        with write_transaction(self._engine) as connection:
            catalog.put_setting(connection, catalog.DISCOVERY_KEY, dict(discovery))

    def count_objects(self, collection_id: str, *, latest_only: bool = False) -> int:
        """Stored versions in the collection (only the latest of each object if asked)."""
        return self._read(
            lambda connection: catalog.count_versions(connection, collection_id, latest_only)
        )

    # -- partners and grants ------------------------------------------------------

    def add_partner(
        self, partner_id: str, name: str, identity_ref: str, *, actor: str | None = None
    ) -> str:
        """Create an active partner; return its API key (shown once, stored only hashed)."""
        now = self._clock()
        with write_transaction(self._engine) as connection:
            api_key = accounts.create_partner(connection, partner_id, name, identity_ref, now)
            audit.record(
                connection,
                at_us=now,
                actor=actor,
                action="partner.add",
                target=partner_id,
                detail={"name": name, "identity_ref": identity_ref},
            )
        return api_key

    def rotate_key(self, partner_id: str, *, actor: str | None = None) -> str:
        """Replace the partner's API key; the old one stops working at once. Return the new key."""
        now = self._clock()
        with write_transaction(self._engine) as connection:
            api_key = accounts.replace_key(connection, partner_id, now)
            audit.record(
                connection, at_us=now, actor=actor, action="partner.rotate_key", target=partner_id
            )
        return api_key

    def deactivate_partner(self, partner_id: str, *, actor: str | None = None) -> None:
        """Revoke the partner: its key stops authenticating; its published objects stay."""
        self._set_partner_active(partner_id, False, actor, "partner.revoke")

    def reactivate_partner(self, partner_id: str, *, actor: str | None = None) -> None:
        self._set_partner_active(partner_id, True, actor, "partner.reactivate")

    def _set_partner_active(
        self, partner_id: str, active: bool, actor: str | None, action: str
    ) -> None:
        now = self._clock()
        with write_transaction(self._engine) as connection:
            accounts.set_active(connection, partner_id, active)
            audit.record(connection, at_us=now, actor=actor, action=action, target=partner_id)

    def authenticate(self, partner_id: str, api_key: str) -> Partner | None:
        """The active partner with this id and key, else None (one indexed query, no cache)."""
        return self._read(lambda connection: accounts.authenticate(connection, partner_id, api_key))

    def check_login(
        self, partner_id: str, api_key: str, address: str, limits: rate_limits.LoginLimits
    ) -> rate_limits.LoginCheck:
        """Like ``authenticate``, but first honours failed-login blocks on the partner id and
        the client address; still one indexed query (see ``rate_limits``)."""
        scope_keys = [key for key, _ in limits.scopes(partner_id, address)]
        now = self._clock()
        scope = self._scope.get()
        collection = scope.collection if scope is not None else None

        def check(connection: Connection) -> rate_limits.LoginCheck:
            return rate_limits.check_login(
                connection, partner_id, api_key, scope_keys, now, collection
            )

        found = self._read(check)
        if found.partner is None and not found.blocked_until_us and self._reads_replica():
            # A key rotated or a partner added moments ago may not have reached the
            # replica yet: before a failure is counted, the primary has the last word.
            found = read(self._engine, check)
        if scope is not None and collection is not None and found.partner is not None:
            scope.known_collections[(*collection, partner_id)] = found.collection
        return found

    def record_login_failure(
        self, partner_id: str, address: str, limits: rate_limits.LoginLimits
    ) -> int:
        """Count a failed login against the partner id and the address, in every process's
        view at once; > 0 when a limit was already exceeded (the caller answers 429)."""
        now = self._clock()
        scopes = limits.scopes(partner_id, address)
        with write_transaction(self._engine) as connection:
            excess = (
                rate_limits.record_failure(connection, scopes, limits.window_us, now)
                if scopes
                else 0
            )
            # The id tried is logged only if it is a partner's: a key pasted into
            # the user name field must never reach the log.
            known = accounts.get_partner(connection, partner_id) is not None
            audit.record_aggregated(
                connection,
                at_us=now,
                actor=partner_id if known else "unknown",
                action="login.failed",
                target=address[:100],
                detail={},
            )
        if scopes and now >= self._next_login_purge_us:
            self._next_login_purge_us = now + _PURGE_INTERVAL_US
            try:
                with write_transaction(self._engine) as connection:
                    rate_limits.purge_expired(connection, limits.window_us, now)
            except SQLAlchemyError:
                log.warning("login counter purge failed; will retry", exc_info=True)
        return excess

    def login_blocked_until(
        self, partner_id: str, address: str, limits: rate_limits.LoginLimits
    ) -> int:
        """When the block on this partner id or address ends (microseconds), 0 if none."""
        scope_keys = [key for key, _ in limits.scopes(partner_id, address)]
        return self._read(
            lambda connection: rate_limits.blocked_until(connection, scope_keys, self._clock())
        )

    def audit_refusal(
        self, partner_id: str, method: str, path: str, status: int, error_code: str
    ) -> None:
        """Note a write or delete refused as a whole, aggregated per minute (``audit``)."""
        now = self._clock()
        with write_transaction(self._engine) as connection:
            audit.record_aggregated(
                connection,
                at_us=now,
                actor=partner_id,
                action="request.refused",
                target=f"{method} {path[:300]} {status}",
                detail={"status": status, "error_code": error_code[:60]},
            )

    def get_partner(self, partner_id: str) -> Partner | None:
        return self._read(lambda connection: accounts.get_partner(connection, partner_id))

    def list_partners(self) -> list[Partner]:
        return self._read(lambda connection: accounts.list_partners(connection))

    def set_grant(
        self,
        partner_id: str,
        collection_id: str,
        can_read: bool,
        can_write: bool,
        *,
        actor: str | None = None,
    ) -> None:
        """Set what the partner may do in the collection (False, False removes all access)."""
        now = self._clock()
        with write_transaction(self._engine) as connection:
            accounts.put_grant(connection, partner_id, collection_id, can_read, can_write)
            audit.record(
                connection,
                at_us=now,
                actor=actor,
                action="grant.set",
                target=f"{partner_id} {collection_id}",
                detail={"can_read": bool(can_read), "can_write": bool(can_write)},
            )

    def get_grant(self, partner_id: str, collection_id: str) -> Grant:
        """The partner's rights in the collection; no grant row means no access."""
        return self._read(
            lambda connection: accounts.get_grant(connection, partner_id, collection_id)
        )

    def collection_with_grant(
        self, api_root: str, collection_id: str, partner_id: str
    ) -> tuple[CollectionInfo, Grant] | None:
        """The collection with this id in ``api_root`` and the partner's rights in it
        (no access without a grant row), or None when there is no such collection.

        In a request scope whose authentication already fetched it, that answer."""
        scope = self._scope.get()
        if scope is not None and (api_root, collection_id, partner_id) in scope.known_collections:
            known: tuple[CollectionInfo, Grant] | None
            known = scope.known_collections[(api_root, collection_id, partner_id)]
            return known
        return self._read(
            lambda connection: accounts.collection_with_grant(
                connection, api_root, collection_id, partner_id
            )
        )

    def grants_for(self, partner_id: str, api_root: str) -> dict[str, Grant]:
        """The partner's grants in one API root, by collection id."""
        return self._read(
            lambda connection: accounts.grants_in_api_root(connection, partner_id, api_root)
        )

    def list_grants(self, partner_id: str | None = None) -> list[PartnerGrant]:
        """Every grant row (of one partner, if given), for administration."""
        return self._read(lambda connection: accounts.list_grants(connection, partner_id))

    # -- objects --------------------------------------------------------------------

    def add_objects(
        self,
        api_root: str,
        collection_id: str,
        partner_id: str | None,
        objects: Sequence[IncomingObject],
        rejected: Sequence[StatusDetail],
        request_timestamp_us: int,
    ) -> StatusRecord:
        """Store a POST's accepted objects atomically and save its (complete) status.

        Versions already stored, and repeats within the request, are successes
        stored once. ``rejected`` (refused by the HTTP layer) and objects whose
        version is not a STIX timestamp are failures. Raises NotFoundError when
        the collection is not in ``api_root``.
        """
        return self.add_object_chunks(
            api_root,
            collection_id,
            partner_id,
            [(objects, rejected)],
            request_timestamp_us,
            concurrently=False,
        )

    def add_object_chunks(
        self,
        api_root: str,
        collection_id: str,
        partner_id: str | None,
        chunks: Iterable[publish.Chunk],
        request_timestamp_us: int,
        *,
        concurrently: bool = True,
    ) -> StatusRecord:
        """``add_objects`` for a POST checked a chunk at a time: each chunk's (accepted,
        rejected) objects, in input order, all stored in one transaction.

        On PostgreSQL the chunks already checked are stored while ``chunks``
        checks the next ones (``publish``); on SQLite, or with ``concurrently``
        False, they are gathered and stored as one batch. An exception raised
        by ``chunks`` stores nothing and is raised.
        """
        request = publish.PublishRequest(
            api_root=api_root,
            collection_id=collection_id,
            partner_id=partner_id,
            request_timestamp_us=request_timestamp_us,
            now_us=self._clock(),
            status_id=str(uuid.uuid4()),
        )
        if concurrently and self.writes_while_checking:
            outcome = self._publisher.publish(request, chunks)
        else:
            outcome = publish.write_chunks(self._engine, request, list(chunks))
        self._purge_statuses_now_and_then(request.now_us)
        if self._analyze_schedule.record_inserted(outcome.added):
            self._refresh_statistics()
        return outcome.record

    def query_objects(self, collection_id: str, query: ObjectQuery, with_body: bool = True) -> Page:
        """One page of the objects (or, without bodies, manifest) endpoint."""
        statement = page_select(collection_id, query, with_body=with_body)
        return self._read(
            lambda connection: fetch_page(connection, statement, query.limit, with_body)
        )

    def first_creators(self, collection_id: str, ids: Sequence[str]) -> dict[str, str | None]:
        """``created_by_ref`` of the first stored version of each id found in the collection."""
        return self._read(lambda connection: first_version_creators(connection, collection_id, ids))

    def get_versions(self, collection_id: str, stix_id: str, query: ObjectQuery) -> Page:
        """One page of every version of one object (versions endpoint: no bodies)."""
        statement = page_select(collection_id, query, with_body=False, only_stix_id=stix_id)
        return self._read(
            lambda connection: fetch_page(connection, statement, query.limit, with_body=False)
        )

    def delete_object(
        self,
        collection_id: str,
        stix_id: str,
        query: ObjectQuery,
        partner_id: str | None,
    ) -> DeleteResult:
        """Delete the versions of ``stix_id`` matching ``query.versions``/``spec_versions``.

        Only versions ``partner_id`` published are deleted (None: the
        administrator, any version); the others matched are counted in
        ``not_owned``. Empty ``versions`` means the latest version, as for
        every TAXII filter; pass ("all",) to delete every version.
        """
        now = self._clock()
        with write_transaction(self._engine) as connection:
            lock_collection(connection, collection_id)
            deleted, not_owned = delete_matching_versions(
                connection,
                collection_id,
                stix_id,
                query.versions,
                query.spec_versions,
                partner_id,
            )
            if deleted:
                audit.record(
                    connection,
                    at_us=now,
                    actor=partner_id,
                    action="objects.delete",
                    target=f"{collection_id} {stix_id}",
                    detail={"deleted": deleted, "versions": list(query.versions) or ["last"]},
                )
        return DeleteResult(deleted=deleted, not_owned=not_owned)

    # -- statuses -------------------------------------------------------------------

    def get_status(
        self, api_root: str, status_id: str, partner_id: str | None
    ) -> StatusRecord | None:
        """The status if it exists in ``api_root`` and belongs to ``partner_id`` (None: admin)."""
        record = self._read(lambda connection: statuses.load(connection, api_root, status_id))
        if record is None or (partner_id is not None and record.partner_id != partner_id):
            return None
        return record

    def purge_statuses(self, now: int | None = None) -> int:
        """Delete statuses older than the retention period; return how many went."""
        cutoff = (self._clock() if now is None else now) - self._retention_us
        with write_transaction(self._engine) as connection:
            return statuses.purge_older_than(connection, cutoff)

    def _purge_statuses_now_and_then(self, now: int) -> None:
        # At most once a minute per process: enough to bound the table, cheap on busy servers.
        if now < self._next_purge_us:
            return
        self._next_purge_us = now + _PURGE_INTERVAL_US
        try:
            self.purge_statuses(now)
        except SQLAlchemyError:
            # The POST already committed; a failed purge is retried a minute later.
            log.warning("status purge failed; will retry", exc_info=True)

    # -- audit and import --------------------------------------------------------------

    def audit_entries(
        self,
        limit: int | None = 100,
        *,
        partner: str | None = None,
        action: str | None = None,
        since_us: int | None = None,
    ) -> list[AuditEntry]:
        """The newest audit log entries, newest first, filtered as ``audit.recent`` says."""
        return self._read(
            lambda connection: audit.recent(
                connection, limit, partner=partner, action=action, since_us=since_us
            )
        )

    def import_medallion(self, source: str | Path | dict) -> ImportSummary:
        """Import a medallion data file (path or parsed dict) in one transaction.

        date_added values are kept exactly; imported versions have no
        publisher (only the administrator may delete them); a version already
        present is skipped, so importing twice adds nothing. Import before
        partners start polling: imported dates may be older than ones already
        served.
        """
        now = self._clock()
        document, label = medallion.load_document(source)
        plan = medallion.plan_import(document, label, now)
        counts = dict.fromkeys(
            (
                "api_roots",
                "collections",
                "objects_added",
                "objects_already_present",
                "statuses_added",
                "statuses_already_present",
            ),
            0,
        )
        with write_transaction(self._engine) as connection:
            if plan.discovery:
                merged = dict(catalog.get_setting(connection, catalog.DISCOVERY_KEY) or {})
                merged.update(plan.discovery)
                catalog.put_setting(connection, catalog.DISCOVERY_KEY, merged)
            for root in plan.api_roots:
                counts["api_roots"] += catalog.get_api_root(connection, root.name) is None
                catalog.put_api_root(connection, root)
            for collection in plan.collections:
                info = collection.info
                counts["collections"] += (
                    catalog.get_collection(connection, info.api_root, info.id) is None
                )
                catalog.put_collection(connection, info)
                last = lock_collection(connection, info.id)
                owners.claim(
                    connection,
                    [v.stix_id for v in collection.versions if v.version != UNVERSIONED],
                    None,
                    now,
                )
                outcome = insert_versions(
                    connection, info.id, last, collection.versions, publisher=None, now_us=now
                )
                counts["objects_added"] += len(outcome.added)
                counts["objects_already_present"] += len(outcome.already_present)
            for record in plan.statuses:
                if statuses.exists(connection, record.id):
                    counts["statuses_already_present"] += 1
                    continue
                statuses.save(connection, record, created_us=now)
                counts["statuses_added"] += 1
            summary = ImportSummary(**counts)
            audit.record(
                connection,
                at_us=now,
                actor=None,
                action="import.medallion",
                target=label,
                detail=dict(counts),
            )
        if counts["objects_added"]:
            # A bulk load bypasses add_objects' analyze schedule; without fresh
            # statistics the first pages after an import would scan the table.
            self._analyze_after_growth()
        return summary

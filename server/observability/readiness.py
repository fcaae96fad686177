"""Readiness: may a load balancer send this node requests now?

Ready means the database answers a trivial query and its schema is at the
migration this code expects (a node started before ``dx server init`` ran,
or after a restore of an older backup, would answer with errors). The check
opens its own connection, with a connect and a statement timeout, rather than
borrowing one from the request pool: a probe must answer within seconds when
the database host is gone, and it must not tie up connections that requests
need. Results are kept for a second, so a flood of probes (the endpoint needs
no credentials) costs the database at most one connection per second per
worker.

A node with a read replica (``replica_database_url``) is ready only if the
replica answers too, on its own short-timeout connection, and its replay lag
is at most ``replica_max_lag_seconds`` (``replica`` has the rule): the node
serves every poll from it, so a replica that is down or far behind makes the
node fail or serve stale pages while the primary is fine.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.pool import NullPool

from server.config import ServerConfig
from server.observability.replica import lag_verdict, measure_lag
from server.store import Store
from server.store.migrate import head_revision

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 2  # libpq's connect_timeout counts whole seconds, 2 at least
CACHE_SECONDS = 1.0
# The setting's default lives in one place, the configuration model.
DEFAULT_REPLICA_MAX_LAG_SECONDS: float = ServerConfig.model_fields[
    "replica_max_lag_seconds"
].default


@dataclass(frozen=True)
class Readiness:
    """The outcome of one check: each check's verdict, "ok" or why not."""

    checks: dict[str, str] = field(default_factory=dict)
    # The replica's replay lag, when a replica is configured and answered (for the metrics).
    replica_lag_seconds: float | None = None

    @property
    def ready(self) -> bool:
        return all(verdict == "ok" for verdict in self.checks.values())

    def document(self) -> dict[str, object]:
        return {"status": "ready" if self.ready else "not ready", "checks": self.checks}


def _probe_engine(url: str, in_memory: Engine) -> Engine:
    """A connection-per-check engine with short timeouts, that never creates a database.

    ``in_memory``: the store's engine for ``url``, used only for an in-memory
    SQLite database, which no other connection can see.
    """
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        return create_engine(
            parsed.set(drivername="postgresql+psycopg"),
            poolclass=NullPool,
            connect_args={
                "connect_timeout": TIMEOUT_SECONDS,
                "options": f"-c statement_timeout={TIMEOUT_SECONDS * 1000}",
                "prepare_threshold": None,
            },
        )
    database = parsed.database or ""
    if not database or database == ":memory:" or parsed.query.get("mode") == "memory":
        return in_memory  # only the store's own connection sees the data
    # mode=rw: a missing file is "unreachable", not a new empty database.
    file_uri = f"file:{quote(str(Path(database).expanduser()))}?mode=rw"
    return create_engine(
        "sqlite://",
        poolclass=NullPool,
        creator=lambda: sqlite3.connect(file_uri, uri=True, timeout=TIMEOUT_SECONDS),
    )


def _reason(error: Exception) -> str:
    """One line, without connection details (the endpoint is unauthenticated)."""
    return f"unreachable ({type(getattr(error, 'orig', None) or error).__name__})"


class ReadinessCheck:
    """The checks of ``database_url``, and of ``replica_url`` when the node has a replica."""

    def __init__(
        self,
        url: str,
        store: Store,
        cache_seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        *,
        replica_url: str | None = None,
        replica_max_lag_seconds: float = DEFAULT_REPLICA_MAX_LAG_SECONDS,
    ) -> None:
        self._engine = _probe_engine(url, store.engines[0])
        self._replica = (
            _probe_engine(replica_url, store.engines[-1]) if replica_url is not None else None
        )
        self._replica_max_lag = replica_max_lag_seconds
        self._head = head_revision()
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._last: Readiness | None = None
        self._checked_at = 0.0

    def _check_database(self) -> dict[str, str]:
        try:
            with self._engine.connect() as connection:
                connection.execute(text("SELECT 1")).scalar_one()
                try:
                    revision = connection.execute(
                        text("SELECT version_num FROM alembic_version")
                    ).scalar_one_or_none()
                except SQLAlchemyError:
                    revision = None
        except SQLAlchemyError as error:
            log.warning("readiness: database check failed: %s", error)
            return {"database": _reason(error), "migrations": "unknown"}
        if revision == self._head:
            return {"database": "ok", "migrations": "ok"}
        found = revision or "none (run `dx server init`)"
        return {"database": "ok", "migrations": f"at {found}, this server needs {self._head}"}

    def _check_replica(self, engine: Engine) -> tuple[str, float | None]:
        """The replica's verdict and its lag (None when unknown or unreachable)."""
        try:
            with engine.connect() as connection:
                lag = measure_lag(connection)
        except SQLAlchemyError as error:
            log.warning("readiness: replica check failed: %s", error)
            return _reason(error), None
        verdict = lag_verdict(lag, self._replica_max_lag)
        if verdict != "ok":
            log.warning("readiness: replica not ready: %s", verdict)
        return verdict, lag

    def _check_now(self) -> Readiness:
        checks = self._check_database()
        if self._replica is None:
            return Readiness(checks)
        checks["replica"], lag = self._check_replica(self._replica)
        return Readiness(checks, replica_lag_seconds=lag)

    def database_answers(self) -> bool:
        return self.check().checks.get("database") == "ok"

    def replica_lag_seconds(self) -> float | None:
        return self.check().replica_lag_seconds

    def check(self) -> Readiness:
        with self._lock:
            now = self._clock()
            if self._last is None or now - self._checked_at >= self._cache_seconds:
                self._last = self._check_now()
                self._checked_at = self._clock()
            return self._last

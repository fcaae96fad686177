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

from server.store import Store
from server.store.migrate import head_revision

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 2  # libpq's connect_timeout counts whole seconds, 2 at least
CACHE_SECONDS = 1.0


@dataclass(frozen=True)
class Readiness:
    """The outcome of one check: each check's verdict, "ok" or why not."""

    checks: dict[str, str] = field(default_factory=dict)

    @property
    def ready(self) -> bool:
        return all(verdict == "ok" for verdict in self.checks.values())

    def document(self) -> dict[str, object]:
        return {"status": "ready" if self.ready else "not ready", "checks": self.checks}


def _probe_engine(url: str, store: Store) -> Engine:
    """A connection-per-check engine with short timeouts, that never creates a database."""
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
        return store.engines[0]  # in-memory: only the store's own connection sees the data
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
    def __init__(
        self,
        url: str,
        store: Store,
        cache_seconds: float = CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._engine = _probe_engine(url, store)
        self._head = head_revision()
        self._cache_seconds = cache_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._last: Readiness | None = None
        self._checked_at = 0.0

    def _check_now(self) -> Readiness:
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
            return Readiness({"database": _reason(error), "migrations": "unknown"})
        if revision == self._head:
            return Readiness({"database": "ok", "migrations": "ok"})
        found = revision or "none (run `dx server init`)"
        return Readiness(
            {"database": "ok", "migrations": f"at {found}, this server needs {self._head}"}
        )

    def database_answers(self) -> bool:
        return self.check().checks.get("database") == "ok"

    def check(self) -> Readiness:
        with self._lock:
            now = self._clock()
            if self._last is None or now - self._checked_at >= self._cache_seconds:
                self._last = self._check_now()
                self._checked_at = self._clock()
            return self._last

"""Schema migrations run from code, safe when several processes start at once.

The alembic scripts ship inside the package (``server/migrations``), so an
installed server needs no alembic.ini. The upgrade runs inside one write
transaction that first takes a lock (BEGIN IMMEDIATE on SQLite, a transaction
advisory lock on PostgreSQL): when several workers migrate at start-up, one
does the work and the others then find the schema at head and do nothing.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, func, select

from server.store.engine import read_transaction, write_transaction

MIGRATIONS_DIR = Path(__file__).resolve().parent.parent / "migrations"
# An arbitrary constant identifying "the store's migration" among advisory locks.
_PG_MIGRATION_LOCK_KEY = 0x6478_5354_4F52_45


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """The newest migration shipped with this code."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None, "no migration scripts found"
    return head


def current_revision(engine: Engine) -> str | None:
    """The migration the database is at, or None for an empty database."""
    with read_transaction(engine) as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade_to_head(engine: Engine) -> None:
    """Bring the database to the newest schema; a no-op when it is already there."""
    config = alembic_config()
    with write_transaction(engine) as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(select(func.pg_advisory_xact_lock(_PG_MIGRATION_LOCK_KEY)))
        config.attributes["connection"] = connection
        command.upgrade(config, "head")

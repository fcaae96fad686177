"""The store's tables as SQLAlchemy Core objects, for building queries.

The database itself is created by the alembic migrations in
``server/migrations/versions``; this module must describe the same tables (a
test compares the two). Columns that are compared or ordered as strings use
the "C" collation on PostgreSQL so that ordering is byte order, as it is in
SQLite and in Python, whatever the database's locale.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Identity,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.types import TypeEngine

metadata = MetaData()


def byte_ordered_string(length: int) -> TypeEngine:
    """A VARCHAR compared in byte order on every backend (COLLATE "C" on PostgreSQL)."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


def identity_key() -> TypeEngine:
    """BIGINT on PostgreSQL; INTEGER on SQLite, where only that spelling is the rowid."""
    return BigInteger().with_variant(Integer(), "sqlite")


api_roots = Table(
    "api_roots",
    metadata,
    Column("name", String(100), primary_key=True),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("versions", JSON, nullable=False),
    Column("max_content_length", BigInteger, nullable=False),
)

collections = Table(
    "collections",
    metadata,
    Column("id", String(64), primary_key=True),
    Column(
        "api_root",
        String(100),
        ForeignKey("api_roots.name", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("title", Text, nullable=False),
    Column("description", Text, nullable=False),
    Column("alias", String(200), nullable=True),
    Column("media_types", JSON, nullable=False),
    Column("max_tlp", Integer, nullable=True),
    Column("enforce_provenance", Boolean, nullable=False),
    Column("last_date_added_us", BigInteger, nullable=False, server_default=text("0")),
    UniqueConstraint("api_root", "alias", name="uq_collections_alias"),
)

partners = Table(
    "partners",
    metadata,
    Column("id", String(100), primary_key=True),
    Column("name", Text, nullable=False),
    Column("identity_ref", String(255), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("key_hash", String(64), nullable=False),
    Column("key_created_us", BigInteger, nullable=False),
)

objects = Table(
    "objects",
    metadata,
    Column("seq", identity_key(), Identity(), primary_key=True),
    # No foreign keys on the two columns below: checked per row they cost a tenth
    # of a POST, and the store establishes both once per POST (migration 0005).
    Column("collection_id", String(64), nullable=False),
    Column("stix_id", byte_ordered_string(300), nullable=False),
    Column("obj_type", byte_ordered_string(250), nullable=False),
    Column("version", String(64), nullable=False),
    Column("version_key", byte_ordered_string(30), nullable=False),
    Column("spec_version", byte_ordered_string(16), nullable=False),
    Column("date_added_us", BigInteger, nullable=False),
    Column("is_latest", Boolean, nullable=False),
    Column("publisher", String(100), nullable=True),
    Column("body", Text, nullable=False),
    Index("ux_objects_version", "collection_id", "stix_id", "version_key", unique=True),
    Index("ix_objects_added", "collection_id", "date_added_us", "seq"),
    Index(
        "ix_objects_latest_added",
        "collection_id",
        "date_added_us",
        "seq",
        sqlite_where=text("is_latest = 1"),
        postgresql_where=text("is_latest"),
    ),
    Index("ix_objects_type_added", "collection_id", "obj_type", "date_added_us", "seq"),
    sqlite_autoincrement=True,
)

# Exchange-wide owner of each versioned object id: the identity of the partner
# that first published it anywhere on the server (NULL: first stored by the
# administrator). See ``server.store.owners``.
object_owners = Table(
    "object_owners",
    metadata,
    Column("stix_id", byte_ordered_string(300), primary_key=True),
    Column("owner_identity", String(255), nullable=True),
    Column("first_published_us", BigInteger, nullable=False),
)

statuses = Table(
    "statuses",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("api_root", String(100), nullable=False),
    Column("partner_id", String(100), nullable=True),
    Column("status", String(16), nullable=False),
    Column("request_timestamp_us", BigInteger, nullable=False),
    Column("created_us", BigInteger, nullable=False, index=True),
    Column("total_count", Integer, nullable=False),
    Column("success_count", Integer, nullable=False),
    Column("failure_count", Integer, nullable=False),
    Column("pending_count", Integer, nullable=False),
    Column("details", JSON, nullable=False),
)

grants = Table(
    "grants",
    metadata,
    Column("partner_id", String(100), ForeignKey("partners.id"), primary_key=True),
    Column(
        "collection_id",
        String(64),
        ForeignKey("collections.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("can_read", Boolean, nullable=False),
    Column("can_write", Boolean, nullable=False),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("seq", identity_key(), Identity(), primary_key=True),
    Column("at_us", BigInteger, nullable=False),
    Column("actor", String(100), nullable=False),
    Column("action", String(50), nullable=False),
    Column("target", Text, nullable=False),
    Column("detail", JSON, nullable=False),
    sqlite_autoincrement=True,
)

settings = Table(
    "settings",
    metadata,
    Column("key", String(100), primary_key=True),
    Column("value", JSON, nullable=False),
)

# Failed logins per scope ("partner:<id>" or "address:<ip>") in the current
# window; kept in the database so every worker process and host counts together.
login_failures = Table(
    "login_failures",
    metadata,
    Column("scope_key", String(160), primary_key=True),
    Column("window_start_us", BigInteger, nullable=False),
    Column("failures", Integer, nullable=False),
    Column("blocked_until_us", BigInteger, nullable=False),
)

# The analyst console's tables live in their own module, on this same metadata.
from server.store import console_schema as _console_schema  # noqa: E402, F401

"""Tables of the analyst console: analyst accounts, their sessions, and the console's read index.

The read index (``console_index``, ``console_edges``, ``console_counts``,
``console_activity``) is derived from the ``objects`` table and can be rebuilt
from it at any time: it holds, per collection, one row per object (its latest
version) with the fields analysts filter on, the references between objects,
and running counts, so every console page is a bounded, indexed read even at
millions of objects. It is brought up to date from ``objects.seq`` (see
``server.store.console_index``), so the publish path needs no change.

Registered on ``server.store.schema.metadata`` (imported at the end of that
module) so the migration test compares these tables too.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, Boolean, Column, ForeignKey, Index, Integer, String, Table, Text

from server.store.schema import byte_ordered_string, metadata

analysts = Table(
    "analysts",
    metadata,
    Column("partner_id", String(100), ForeignKey("partners.id"), primary_key=True),
    Column("name", String(100), primary_key=True),
    Column("password_hash", Text, nullable=False),
    Column("active", Boolean, nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("password_changed_us", BigInteger, nullable=False),
)

console_sessions = Table(
    "console_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("partner_id", String(100), nullable=False),
    Column("analyst", String(100), nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("last_seen_us", BigInteger, nullable=False),
    Index("ix_console_sessions_analyst", "partner_id", "analyst"),
)

console_index = Table(
    "console_index",
    metadata,
    Column(
        "collection_id",
        String(64),
        ForeignKey("collections.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("stix_id", byte_ordered_string(300), primary_key=True),
    Column("seq", BigInteger, nullable=False),
    Column("obj_type", byte_ordered_string(250), nullable=False),
    Column("producer", byte_ordered_string(300), nullable=False),
    Column("name", Text, nullable=False),
    Column("search_text", Text, nullable=False),
    Column("tlp", Integer, nullable=False),
    Column("confidence", Integer, nullable=True),
    Column("revoked", Boolean, nullable=False),
    Column("date_added_us", BigInteger, nullable=False),
    Index("ix_console_index_added", "collection_id", "date_added_us"),
    Index("ix_console_index_type", "collection_id", "obj_type", "date_added_us"),
    Index("ix_console_index_producer", "collection_id", "producer", "date_added_us"),
)

console_edges = Table(
    "console_edges",
    metadata,
    Column(
        "collection_id",
        String(64),
        ForeignKey("collections.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("source_id", byte_ordered_string(300), primary_key=True),
    Column("target_id", byte_ordered_string(300), primary_key=True),
    Column("prop", String(250), primary_key=True),
    Index("ix_console_edges_target", "collection_id", "target_id"),
)

console_counts = Table(
    "console_counts",
    metadata,
    Column(
        "collection_id",
        String(64),
        ForeignKey("collections.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("obj_type", byte_ordered_string(250), primary_key=True),
    Column("producer", byte_ordered_string(300), primary_key=True),
    Column("n", BigInteger, nullable=False),
)

console_activity = Table(
    "console_activity",
    metadata,
    Column(
        "collection_id",
        String(64),
        ForeignKey("collections.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("day", Integer, primary_key=True),
    Column("n", BigInteger, nullable=False),
)

partner_activity = Table(
    "partner_activity",
    metadata,
    Column("partner_id", String(100), primary_key=True),
    Column("last_publish_us", BigInteger, nullable=False),
    Column("last_poll_us", BigInteger, nullable=False),
)

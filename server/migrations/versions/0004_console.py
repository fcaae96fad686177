"""The analyst console: analyst accounts, console sessions, the console's read index.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

A frozen copy of the tables at the time it was written (see 0001's note).
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def _byte_ordered(length):
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def _collection_fk():
    return sa.Column(
        "collection_id",
        sa.String(64),
        sa.ForeignKey("collections.id", ondelete="CASCADE"),
        primary_key=True,
    )


def upgrade() -> None:
    op.create_table(
        "analysts",
        sa.Column("partner_id", sa.String(100), sa.ForeignKey("partners.id"), primary_key=True),
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("password_hash", sa.Text, nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("password_changed_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "console_sessions",
        sa.Column("token_hash", sa.String(64), primary_key=True),
        sa.Column("partner_id", sa.String(100), nullable=False),
        sa.Column("analyst", sa.String(100), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("last_seen_us", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_console_sessions_analyst", "console_sessions", ["partner_id", "analyst"])
    op.create_table(
        "console_index",
        _collection_fk(),
        sa.Column("stix_id", _byte_ordered(300), primary_key=True),
        sa.Column("seq", sa.BigInteger, nullable=False),
        sa.Column("obj_type", _byte_ordered(250), nullable=False),
        sa.Column("producer", _byte_ordered(300), nullable=False),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("search_text", sa.Text, nullable=False),
        sa.Column("tlp", sa.Integer, nullable=False),
        sa.Column("confidence", sa.Integer, nullable=True),
        sa.Column("revoked", sa.Boolean, nullable=False),
        sa.Column("date_added_us", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_console_index_added", "console_index", ["collection_id", "date_added_us"])
    op.create_index(
        "ix_console_index_type", "console_index", ["collection_id", "obj_type", "date_added_us"]
    )
    op.create_index(
        "ix_console_index_producer",
        "console_index",
        ["collection_id", "producer", "date_added_us"],
    )
    op.create_table(
        "console_edges",
        _collection_fk(),
        sa.Column("source_id", _byte_ordered(300), primary_key=True),
        sa.Column("target_id", _byte_ordered(300), primary_key=True),
        sa.Column("prop", sa.String(250), primary_key=True),
    )
    op.create_index("ix_console_edges_target", "console_edges", ["collection_id", "target_id"])
    op.create_table(
        "console_counts",
        _collection_fk(),
        sa.Column("obj_type", _byte_ordered(250), primary_key=True),
        sa.Column("producer", _byte_ordered(300), primary_key=True),
        sa.Column("n", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "console_activity",
        _collection_fk(),
        sa.Column("day", sa.Integer, primary_key=True),
        sa.Column("n", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "partner_activity",
        sa.Column("partner_id", sa.String(100), primary_key=True),
        sa.Column("last_publish_us", sa.BigInteger, nullable=False),
        sa.Column("last_poll_us", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "partner_activity",
        "console_activity",
        "console_counts",
        "console_edges",
        "console_index",
        "console_sessions",
        "analysts",
    ):
        op.drop_table(table)

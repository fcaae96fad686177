"""Initial schema: API roots, collections, object versions, statuses, partners, grants, audit.

Revision ID: 0001
Revises:
Create Date: 2025-01-01

This migration is a frozen copy of the schema at the time it was written; it
must not import server.store.schema, which will keep changing.
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _byte_ordered(length):
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def _identity_key():
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "api_roots",
        sa.Column("name", sa.String(100), primary_key=True),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("versions", sa.JSON, nullable=False),
        sa.Column("max_content_length", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "collections",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column(
            "api_root",
            sa.String(100),
            sa.ForeignKey("api_roots.name", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("title", sa.Text, nullable=False),
        sa.Column("description", sa.Text, nullable=False),
        sa.Column("alias", sa.String(200), nullable=True),
        sa.Column("media_types", sa.JSON, nullable=False),
        sa.Column("max_tlp", sa.Integer, nullable=True),
        sa.Column("enforce_provenance", sa.Boolean, nullable=False),
        sa.Column("last_date_added_us", sa.BigInteger, nullable=False, server_default=sa.text("0")),
        sa.UniqueConstraint("api_root", "alias", name="uq_collections_alias"),
    )
    op.create_table(
        "partners",
        sa.Column("id", sa.String(100), primary_key=True),
        sa.Column("name", sa.Text, nullable=False),
        sa.Column("identity_ref", sa.String(255), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("key_created_us", sa.BigInteger, nullable=False),
    )
    op.create_table(
        "objects",
        sa.Column("seq", _identity_key(), sa.Identity(), primary_key=True),
        sa.Column(
            "collection_id",
            sa.String(64),
            sa.ForeignKey("collections.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("stix_id", _byte_ordered(300), nullable=False),
        sa.Column("obj_type", _byte_ordered(250), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("version_key", _byte_ordered(30), nullable=False),
        sa.Column("spec_version", _byte_ordered(16), nullable=False),
        sa.Column("date_added_us", sa.BigInteger, nullable=False),
        sa.Column("is_latest", sa.Boolean, nullable=False),
        sa.Column("publisher", sa.String(100), sa.ForeignKey("partners.id"), nullable=True),
        sa.Column("body", sa.Text, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_index(
        "ux_objects_version",
        "objects",
        ["collection_id", "stix_id", "version_key"],
        unique=True,
    )
    op.create_index("ix_objects_added", "objects", ["collection_id", "date_added_us", "seq"])
    op.create_index(
        "ix_objects_latest_added",
        "objects",
        ["collection_id", "date_added_us", "seq"],
        sqlite_where=sa.text("is_latest = 1"),
        postgresql_where=sa.text("is_latest"),
    )
    op.create_index(
        "ix_objects_type_added",
        "objects",
        ["collection_id", "obj_type", "date_added_us", "seq"],
    )
    op.create_table(
        "statuses",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("api_root", sa.String(100), nullable=False),
        sa.Column("partner_id", sa.String(100), nullable=True),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("request_timestamp_us", sa.BigInteger, nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("total_count", sa.Integer, nullable=False),
        sa.Column("success_count", sa.Integer, nullable=False),
        sa.Column("failure_count", sa.Integer, nullable=False),
        sa.Column("pending_count", sa.Integer, nullable=False),
        sa.Column("details", sa.JSON, nullable=False),
    )
    op.create_index("ix_statuses_created_us", "statuses", ["created_us"])
    op.create_table(
        "grants",
        sa.Column("partner_id", sa.String(100), sa.ForeignKey("partners.id"), primary_key=True),
        sa.Column(
            "collection_id",
            sa.String(64),
            sa.ForeignKey("collections.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("can_read", sa.Boolean, nullable=False),
        sa.Column("can_write", sa.Boolean, nullable=False),
    )
    op.create_table(
        "audit_log",
        sa.Column("seq", _identity_key(), sa.Identity(), primary_key=True),
        sa.Column("at_us", sa.BigInteger, nullable=False),
        sa.Column("actor", sa.String(100), nullable=False),
        sa.Column("action", sa.String(50), nullable=False),
        sa.Column("target", sa.Text, nullable=False),
        sa.Column("detail", sa.JSON, nullable=False),
        sqlite_autoincrement=True,
    )
    op.create_table(
        "settings",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("value", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    for table in (
        "settings",
        "audit_log",
        "grants",
        "statuses",
        "objects",
        "partners",
        "collections",
        "api_roots",
    ):
        op.drop_table(table)

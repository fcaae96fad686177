"""Exchange-wide object owners: who first published each versioned id, in any collection.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-07

A frozen copy of the table at the time it was written (see 0001's note).
Existing objects are backfilled: each versioned id (observables, whose
constant version is 1970-01-01T00:00:00.000Z, are left out) is owned by the
identity of the publisher of its first stored row (lowest seq, in any
collection); ids first stored by the administrator get no owner. A lab's
registered identity is its own whatever this table says (the rule is applied
at POST time), so an identity squatted before this migration goes back to its
lab.
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UNVERSIONED = "1970-01-01T00:00:00.000Z"


def upgrade() -> None:
    op.create_table(
        "object_owners",
        sa.Column(
            "stix_id",
            sa.String(300).with_variant(sa.String(300, collation="C"), "postgresql"),
            primary_key=True,
        ),
        sa.Column("owner_identity", sa.String(255), nullable=True),
        sa.Column("first_published_us", sa.BigInteger, nullable=False),
    )
    op.execute(
        sa.text(
            "INSERT INTO object_owners (stix_id, owner_identity, first_published_us) "
            "SELECT o.stix_id, p.identity_ref, o.date_added_us FROM objects o "
            "LEFT JOIN partners p ON p.id = o.publisher "
            "WHERE o.seq IN ("
            "  SELECT MIN(f.seq) FROM objects f WHERE f.version <> :unversioned "
            "  GROUP BY f.stix_id"
            ")"
        ).bindparams(unversioned=UNVERSIONED)
    )


def downgrade() -> None:
    op.drop_table("object_owners")

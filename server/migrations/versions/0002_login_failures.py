"""Failed-login counters, shared by every server process: per partner id and per client address.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02

A frozen copy of the table at the time it was written (see 0001's note).
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_failures",
        sa.Column("scope_key", sa.String(160), primary_key=True),
        sa.Column("window_start_us", sa.BigInteger, nullable=False),
        sa.Column("failures", sa.Integer, nullable=False),
        sa.Column("blocked_until_us", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("login_failures")

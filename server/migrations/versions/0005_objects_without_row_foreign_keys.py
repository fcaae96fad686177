"""Objects without per-row foreign keys: the store checks once per POST what they checked per row.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

Why: PostgreSQL checks a foreign key with one lookup (and a row lock) in the
parent table per inserted row. For a 10,000-object POST the two keys of
``objects`` (``collection_id`` to collections, ``publisher`` to partners)
made the COPY take 337 ms instead of 207 ms (median of 12 interleaved runs):
a tenth of the whole POST. Both facts they guarded are established once per
POST instead: the collection row is locked (``SELECT ... FOR UPDATE``) before
any object is written and stays locked until commit, and the publisher is the
partner the request authenticated as (partners are deactivated, never
deleted). Nothing deletes collections or partners; the integrity check
(``dx server check``) still reports any row pointing at a missing parent.

PostgreSQL drops the two constraints in place. SQLite cannot drop a
constraint, so the table is rebuilt (the procedure of SQLite's "ALTER TABLE"
page: new table, copy, drop, rename, indexes) and its AUTOINCREMENT counter is
carried over, so that no seq is ever handed out twice.

A frozen copy of the table at the time it was written (see 0001's note).
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_FOREIGN_KEYS = (
    ("objects_collection_id_fkey", "collections", "collection_id", "id", "CASCADE"),
    ("objects_publisher_fkey", "partners", "publisher", "id", None),
)


def _byte_ordered(length):
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def _objects_columns(with_foreign_keys):
    collection_key = (
        [sa.ForeignKey("collections.id", ondelete="CASCADE")] if with_foreign_keys else []
    )
    publisher_key = [sa.ForeignKey("partners.id")] if with_foreign_keys else []
    return [
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("collection_id", sa.String(64), *collection_key, nullable=False),
        sa.Column("stix_id", _byte_ordered(300), nullable=False),
        sa.Column("obj_type", _byte_ordered(250), nullable=False),
        sa.Column("version", sa.String(64), nullable=False),
        sa.Column("version_key", _byte_ordered(30), nullable=False),
        sa.Column("spec_version", _byte_ordered(16), nullable=False),
        sa.Column("date_added_us", sa.BigInteger, nullable=False),
        sa.Column("is_latest", sa.Boolean, nullable=False),
        sa.Column("publisher", sa.String(100), *publisher_key, nullable=True),
        sa.Column("body", sa.Text, nullable=False),
    ]


def _create_indexes():
    op.create_index(
        "ux_objects_version", "objects", ["collection_id", "stix_id", "version_key"], unique=True
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
        "ix_objects_type_added", "objects", ["collection_id", "obj_type", "date_added_us", "seq"]
    )


def _rebuild_sqlite_objects(with_foreign_keys):
    bind = op.get_bind()
    counter = bind.execute(
        sa.text("SELECT seq FROM sqlite_sequence WHERE name = 'objects'")
    ).scalar_one_or_none()
    rebuilt = _objects_columns(with_foreign_keys)
    op.create_table("objects_rebuilt", *rebuilt, sqlite_autoincrement=True)
    columns = ", ".join(column.name for column in rebuilt)
    op.execute(f"INSERT INTO objects_rebuilt ({columns}) SELECT {columns} FROM objects")
    op.drop_table("objects")
    op.rename_table("objects_rebuilt", "objects")
    _create_indexes()
    if counter is not None:
        op.execute("DELETE FROM sqlite_sequence WHERE name = 'objects'")
        op.execute(
            sa.text("INSERT INTO sqlite_sequence (name, seq) VALUES ('objects', :counter)").bindparams(
                counter=counter
            )
        )


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, *_ in _FOREIGN_KEYS:
            op.drop_constraint(name, "objects", type_="foreignkey")
    else:
        _rebuild_sqlite_objects(with_foreign_keys=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for name, parent, column, parent_column, on_delete in _FOREIGN_KEYS:
            op.create_foreign_key(
                name, "objects", parent, [column], [parent_column], ondelete=on_delete
            )
    else:
        _rebuild_sqlite_objects(with_foreign_keys=True)

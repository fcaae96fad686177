"""Who may publish an id, exchange-wide: its bound lab, else its first publisher's lab.

A lab's local store merges every collection it polls, so a check that holds
within one collection is not enough: a copy of lab A's indicator posted by lab
B to another collection, with a later ``modified`` and ``revoked: true``,
would revoke A's indicator for every consumer of both. So ownership is kept
per id for the whole server, in ``object_owners``, by STIX identity (a lab
may have several partner accounts, e.g. one per publishing system, all under
its one identity):

* a registered identity (``partners.identity_ref``) is published only by the
  partners registered under it, whatever the table says: no one else may
  publish that identity, in any collection, even before its lab first does;
* any other versioned id belongs to the identity of the partner that first
  published it anywhere on the server; versions from partners of any other
  identity are refused in every collection;
* ids first stored by the administrator (``dx server load`` without a
  partner, medallion imports, which have no publisher) are recorded with no
  owner: no partner takes them over, and the per-collection creator rule
  (``server.taxii.creators``) still decides versions of them.

Fixed well-known objects and unversioned observables (content-derived ids
every lab may share) are never owned; the HTTP layer marks them
(``IncomingObject.owned``).

Concurrency: the claim runs inside the POST's write transaction. New rows are
inserted with ON CONFLICT DO NOTHING ... RETURNING in id order (so two writers
never wait on each other in opposite orders); on PostgreSQL the same statement
returns the owners recorded before it. An id neither recorded before nor
returned was taken by a concurrent writer, and only those owners are read
back: on PostgreSQL an
insert that met a concurrent writer's uncommitted row waits for it, and the
read-back (a new READ COMMITTED snapshot) sees the winner; on SQLite writers
are serialised by BEGIN IMMEDIATE.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, select, text
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from server.store.schema import object_owners, partners
from server.store.sql_helpers import (
    TEXT_ARRAY_SEPARATOR,
    AnyOf,
    any_of_chunks,
    joined_text_array,
)


def _registered(connection: Connection, ids: Sequence[str]) -> set[str]:
    """The ids among ``ids`` that are partners' registered identities."""
    found: set[str] = set()
    identity_ids = [stix_id for stix_id in ids if stix_id.startswith("identity--")]
    for chunk in any_of_chunks(connection, identity_ids):
        rows = connection.execute(
            select(partners.c.identity_ref).where(AnyOf(partners.c.identity_ref, chunk))
        )
        found.update(row.identity_ref for row in rows)
    return found


def identity_of(connection: Connection, partner_id: str) -> str | None:
    return connection.execute(
        select(partners.c.identity_ref).where(partners.c.id == partner_id)
    ).scalar()


def _recorded(connection: Connection, ids: Sequence[str]) -> dict[str, str | None]:
    found: dict[str, str | None] = {}
    for chunk in any_of_chunks(connection, ids):
        rows = connection.execute(
            select(object_owners.c.stix_id, object_owners.c.owner_identity).where(
                AnyOf(object_owners.c.stix_id, chunk)
            )
        )
        found.update((row.stix_id, row.owner_identity) for row in rows)
    return found


# One round trip per chunk on PostgreSQL: the owners already recorded and the
# rows this statement inserted come back together. The SELECT reads the
# statement's snapshot, so it sees only rows that existed before the INSERT;
# the INSERT takes the ids in sorted order, so concurrent claims lock ids in
# one order. ``{ids}`` is the id array: the ids joined into one string (see
# ``joined_text_array``), or an array parameter when they cannot be joined.
_PG_CLAIM = """
WITH claimed (stix_id) AS (SELECT unnest({ids})),
inserted AS (
    INSERT INTO object_owners (stix_id, owner_identity, first_published_us)
    SELECT stix_id,
           CASE WHEN stix_id = ANY(CAST(:self_owned AS VARCHAR[])) THEN stix_id
                ELSE CAST(:owner AS VARCHAR) END,
           :now
    FROM claimed ORDER BY stix_id
    ON CONFLICT (stix_id) DO NOTHING
    RETURNING stix_id
)
SELECT object_owners.stix_id, object_owners.owner_identity, false AS inserted
FROM object_owners JOIN claimed ON claimed.stix_id = object_owners.stix_id
UNION ALL
SELECT stix_id, NULL, true FROM inserted
"""
_PG_CLAIM_JOINED = text(_PG_CLAIM.format(ids="string_to_array(CAST(:ids AS TEXT), :separator)"))
_PG_CLAIM_ARRAY = text(_PG_CLAIM.format(ids="CAST(:ids AS VARCHAR[])"))


def _claim_rows(
    connection: Connection,
    ids: Sequence[str],
    identity: str | None,
    registered: set[str],
    now_us: int,
) -> tuple[dict[str, str | None], set[str]]:
    """Record owners for ``ids`` (sorted) that have none; return (recorded before, inserted).

    A registered identity is recorded as its own owner, whoever posts it
    first; every other id as ``identity``'s.
    """
    if not ids:
        return {}, set()
    if connection.dialect.name == "postgresql":
        values: dict[str, object] = {
            "owner": identity,
            "now": now_us,
            "self_owned": [stix_id for stix_id in ids if stix_id in registered],
        }
        joined = joined_text_array(ids)
        if joined is not None:
            statement = _PG_CLAIM_JOINED
            values.update(ids=joined, separator=TEXT_ARRAY_SEPARATOR)
        else:
            statement = _PG_CLAIM_ARRAY
            values["ids"] = list(ids)
        recorded: dict[str, str | None] = {}
        inserted: set[str] = set()
        for stix_id, owner, is_new in connection.execute(statement, values):
            if is_new:
                inserted.add(stix_id)
            else:
                recorded[stix_id] = owner
        return recorded, inserted
    # SQLite: the write transaction holds the database lock, so a read then an insert.
    recorded = _recorded(connection, ids)
    rows = [
        {
            "stix_id": stix_id,
            "owner_identity": stix_id if stix_id in registered else identity,
            "first_published_us": now_us,
        }
        for stix_id in ids
        if stix_id not in recorded
    ]
    insert_new = (
        sqlite_insert(object_owners)
        .on_conflict_do_nothing(index_elements=["stix_id"])
        .returning(object_owners.c.stix_id)
    )
    inserted = set()
    for start in range(0, len(rows), 500):
        inserted.update(connection.execute(insert_new, rows[start : start + 500]).scalars())
    return recorded, inserted


def claim(
    connection: Connection, ids: Sequence[str], identity: str | None, now_us: int
) -> dict[str, str]:
    """Record ``identity`` as owner of the ids nobody owns yet; return the refused ones.

    ``identity`` is the publishing partner's registered identity; None (the
    administrator) is never refused. The answer maps each id the publisher
    may not publish to the reason.
    """
    unique = list(dict.fromkeys(ids))
    if not unique:
        return {}
    registered = _registered(connection, unique)
    refused: dict[str, str] = {}
    if identity is not None:
        for stix_id in registered:
            reason = _refusal(stix_id, identity, registered, {})
            if reason:
                refused[stix_id] = reason
    claimable = sorted(stix_id for stix_id in unique if stix_id not in refused)
    recorded, inserted = _claim_rows(connection, claimable, identity, registered, now_us)
    if identity is None:
        return refused
    for stix_id in recorded:
        reason = _refusal(stix_id, identity, registered, recorded)
        if reason:
            refused[stix_id] = reason
    raced = [
        stix_id for stix_id in claimable if stix_id not in recorded and stix_id not in inserted
    ]
    if raced:
        # Lost a race with a concurrent writer? The read-back says who won.
        winners = _recorded(connection, raced)
        for stix_id in raced:
            reason = _refusal(stix_id, identity, registered, winners)
            if reason:
                refused[stix_id] = reason
    return refused


def _refusal(
    stix_id: str, identity: str, registered: set[str], recorded: dict[str, str | None]
) -> str:
    if stix_id in registered:
        if stix_id != identity:
            return (
                f"{stix_id} is the registered identity of another partner; "
                "only that partner may publish it"
            )
        return ""
    owner = recorded.get(stix_id)
    if owner is not None and owner != identity:
        return (
            f"{stix_id} was first published on this exchange by another partner; "
            "only that partner may publish versions of it"
        )
    return ""

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
never wait on each other in opposite orders); the ids not returned were taken
by a concurrent writer, and only their owners are read back: on PostgreSQL an
insert that met a concurrent writer's uncommitted row waits for it, and the
read-back (a new READ COMMITTED snapshot) sees the winner; on SQLite writers
are serialised by BEGIN IMMEDIATE.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

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


# unnest keeps the array's (sorted) order, so concurrent claims lock ids in one order.
_PG_INSERT_OWNED = text(
    "INSERT INTO object_owners (stix_id, owner_identity, first_published_us) "
    "SELECT stix_id, CAST(:owner AS VARCHAR), :now "
    "FROM unnest(CAST(:ids AS VARCHAR[])) AS ids(stix_id) "
    "ON CONFLICT (stix_id) DO NOTHING RETURNING stix_id"
)
# The same with the ids joined into one string (see ``joined_text_array``).
_PG_INSERT_OWNED_JOINED = text(
    "INSERT INTO object_owners (stix_id, owner_identity, first_published_us) "
    "SELECT stix_id, CAST(:owner AS VARCHAR), :now "
    "FROM unnest(string_to_array(CAST(:ids AS TEXT), :separator)) AS ids(stix_id) "
    "ON CONFLICT (stix_id) DO NOTHING RETURNING stix_id"
)


def _insert_new(
    connection: Connection, ids: Iterable[str], identity: str | None, now_us: int
) -> set[str]:
    """Insert owner rows for ``ids`` unless present; return the ids this call inserted.

    RETURNING names the rows that went in, so only the others (a concurrent
    writer's, normally none) need reading back.
    """
    ordered = sorted(ids)
    inserted: set[str] = set()
    if not ordered:
        return inserted
    if connection.dialect.name == "postgresql":
        # One statement for the whole batch: the ids as one array parameter. A
        # multi-row VALUES list of 500 rows cost psycopg more to convert than
        # PostgreSQL took to insert them.
        joined = joined_text_array(ordered)
        if joined is not None:
            result = connection.execute(
                _PG_INSERT_OWNED_JOINED,
                {
                    "ids": joined,
                    "separator": TEXT_ARRAY_SEPARATOR,
                    "owner": identity,
                    "now": now_us,
                },
            )
        else:
            result = connection.execute(
                _PG_INSERT_OWNED, {"ids": ordered, "owner": identity, "now": now_us}
            )
        inserted.update(result.scalars())
        return inserted
    rows = [
        {"stix_id": stix_id, "owner_identity": identity, "first_published_us": now_us}
        for stix_id in ordered
    ]
    insert = sqlite_insert
    for start in range(0, len(rows), 500):
        statement = (
            insert(object_owners)
            .on_conflict_do_nothing(index_elements=["stix_id"])
            .returning(object_owners.c.stix_id)
        )
        result = connection.execute(statement, rows[start : start + 500])
        inserted.update(result.scalars())
    return inserted


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
    recorded = _recorded(connection, unique)
    refused: dict[str, str] = {}
    if identity is not None:
        for stix_id in unique:
            reason = _refusal(stix_id, identity, registered, recorded)
            if reason:
                refused[stix_id] = reason
    new = [stix_id for stix_id in unique if stix_id not in recorded and stix_id not in refused]
    if not new:
        return refused
    # A registered identity is recorded as its own owner, whoever posts it first.
    by_owner: dict[str | None, list[str]] = {}
    for stix_id in new:
        owner = stix_id if stix_id in registered else identity
        by_owner.setdefault(owner, []).append(stix_id)
    inserted: set[str] = set()
    for owner, owned_ids in by_owner.items():
        inserted |= _insert_new(connection, owned_ids, owner, now_us)
    raced = [stix_id for stix_id in new if stix_id not in inserted]
    if identity is not None and raced:
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

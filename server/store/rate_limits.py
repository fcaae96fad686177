"""Failed-login counters in the database, so every worker process and host counts together.

A login is refused with 429 once a partner id, or a client address, has
failed ``limit`` times within a fixed window; the window starts at the first
failure after the previous one ended. In-memory counters would give an
attacker ``limit`` tries per worker (times every host behind a load
balancer), so the counts live in the shared store, in one small table.

The cost stays where the attacker is: a successful login is still a single
indexed query (the partner row and the two counters are read by one
statement), while each failure is one upsert. Once a scope is blocked, wrong
keys are refused by that same read, without writing, so a flood of guesses
during a lockout does not turn into a flood of writes. A blocked address is
refused outright; a blocked partner id still admits its right key (see
``check_login``), so that a stranger cannot lock a partner out.
"""

from __future__ import annotations

import hashlib
import ipaddress
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    Connection,
    ScalarSelect,
    Select,
    and_,
    bindparam,
    case,
    delete,
    func,
    literal,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import Join
from sqlalchemy.types import String

from server.store.accounts import NO_ACCESS, partner_if_key_matches
from server.store.catalog import collection_from_row
from server.store.engine import prepared
from server.store.schema import collections, grants, login_failures, partners
from server.store.types import CollectionInfo, Grant, Partner

_MAX_SCOPE_VALUE = 140  # longer partner ids cannot exist; their hash keeps the key short


@dataclass(frozen=True)
class LoginLimits:
    """Failures allowed per window, per partner id and per client address (0 = no limit)."""

    per_partner: int
    per_address: int
    window_us: int

    def scopes(self, partner_id: str, address: str) -> list[tuple[str, int]]:
        """(scope key, limit) for every limit that is switched on."""
        chosen = []
        if self.per_partner > 0:
            chosen.append((scope_key("partner", partner_id), self.per_partner))
        if self.per_address > 0:
            chosen.append((scope_key("address", address_scope(address)), self.per_address))
        return chosen


def address_scope(address: str) -> str:
    """The client address as the failed-login limit counts it: IPv6 by its /64.

    One IPv6 subscriber usually holds a whole /64, so counting single IPv6
    addresses would give an attacker 2**64 allowances. IPv4 addresses (and
    anything unparseable, such as "unknown") count as they are.
    """
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    return str(parsed)


@dataclass(frozen=True)
class LoginCheck:
    """The partner the credentials name (None: unknown or wrong key), or a block in force.

    ``collection``: when the check was asked to look up a collection too, that
    collection with the named partner's grant (None: no collection by that id).
    """

    partner: Partner | None
    blocked_until_us: int
    collection: tuple[CollectionInfo, Grant] | None = None


def scope_key(kind: str, value: str) -> str:
    if len(value) > _MAX_SCOPE_VALUE:
        value = "sha256:" + hashlib.sha256(value.encode("utf-8", "replace")).hexdigest()
    return f"{kind}:{value}"


def _latest_block(key_parameter: str) -> ScalarSelect[Any]:
    # One scope key per kind, or NULL when that limit is off (matches nothing):
    # a scalar keeps the statement's text fixed, so it can stay prepared.
    return (
        select(func.max(login_failures.c.blocked_until_us))
        .where(
            login_failures.c.scope_key == bindparam(key_parameter, type_=String()),
            login_failures.c.blocked_until_us > bindparam("now_us"),
        )
        .scalar_subquery()
    )


def _login_statement() -> Select:
    """Partner row and the latest block in force on its address and partner scopes, built
    once (statement construction costs more than the query itself)."""
    return select(
        _latest_block("address_scope_key").label("address_blocked_until_us"),
        _latest_block("partner_scope_key").label("partner_blocked_until_us"),
        *partners.c,
    ).select_from(_login_from())


def _login_from() -> Join:
    # FROM (SELECT 1) LEFT JOIN partners: one row even when the partner id is unknown.
    anchor = select(literal(1).label("one")).subquery()
    return anchor.outerjoin(partners, partners.c.id == bindparam("partner_id"))


_LOGIN_STATEMENT = prepared(_login_statement())
_COLLECTION_PREFIX = "collection_"


def _login_with_collection_statement() -> Select:
    """The login statement joined with a collection and the named partner's grant on it.

    A request on a collection needs both; asked together they are one round
    trip. The grant is the claimed partner's and is used only once the key is
    verified.
    """
    login = _login_statement()
    joined = _login_from()
    collection_found = and_(
        collections.c.id == bindparam("collection_id"),
        collections.c.api_root == bindparam("api_root"),
    )
    joined = joined.outerjoin(collections, collection_found).outerjoin(
        grants,
        and_(grants.c.collection_id == collections.c.id, grants.c.partner_id == partners.c.id),
    )
    return select(
        *login.selected_columns,
        *(column.label(_COLLECTION_PREFIX + column.name) for column in collections.c),
        grants.c.can_read,
        grants.c.can_write,
    ).select_from(joined)


_LOGIN_WITH_COLLECTION_STATEMENT = prepared(_login_with_collection_statement())


class _Prefixed:
    """A row's ``collection_*`` columns under their own names (for ``collection_from_row``)."""

    def __init__(self, row: Any) -> None:
        self._row = row

    def __getattr__(self, name: str) -> Any:
        return getattr(self._row, _COLLECTION_PREFIX + name)


def _collection_of(row: Any) -> tuple[CollectionInfo, Grant] | None:
    if getattr(row, _COLLECTION_PREFIX + "id") is None:
        return None
    grant = NO_ACCESS if row.can_read is None else Grant(bool(row.can_read), bool(row.can_write))
    return collection_from_row(_Prefixed(row)), grant


def check_login(
    connection: Connection,
    partner_id: str,
    api_key: str,
    scope_keys: list[str],
    now_us: int,
    collection: tuple[str, str] | None = None,
) -> LoginCheck:
    """Read the partner and any block on its scopes in one statement; verify the key.

    ``collection`` (api root, collection id): look that collection and the
    partner's grant up in the same statement (``LoginCheck.collection``).

    A blocked *address* is refused without comparing the key: guesses from it
    during a lockout teach nothing and cost no write. A blocked *partner id*
    still lets its right key in (wrong keys get 429 and are not counted):
    anyone who knows a partner id can trip that limit from anywhere, and it
    must not lock the real partner out of its own feed. With 256-bit keys the
    partner limit is there to make distributed guessing loud, not to stop it.
    """
    parameters: dict[str, Any] = {
        "address_scope_key": _only_scope_key(scope_keys, "address:"),
        "partner_scope_key": _only_scope_key(scope_keys, "partner:"),
        "now_us": now_us,
        "partner_id": partner_id,
    }
    statement = _LOGIN_STATEMENT
    if collection is not None:
        statement = _LOGIN_WITH_COLLECTION_STATEMENT
        parameters["api_root"], parameters["collection_id"] = collection
    row = connection.execute(statement, parameters).one()
    if row.address_blocked_until_us:
        return LoginCheck(partner=None, blocked_until_us=int(row.address_blocked_until_us))
    found = row if row.id is not None else None
    partner = partner_if_key_matches(found, api_key)
    if partner is None and row.partner_blocked_until_us:
        return LoginCheck(partner=None, blocked_until_us=int(row.partner_blocked_until_us))
    if partner is None or collection is None:
        return LoginCheck(partner=partner, blocked_until_us=0)
    return LoginCheck(partner=partner, blocked_until_us=0, collection=_collection_of(row))


def _only_scope_key(scope_keys: list[str], prefix: str) -> str | None:
    """The scope key of one kind (``LoginLimits.scopes`` gives at most one), or None."""
    found = [key for key in scope_keys if key.startswith(prefix)]
    if len(found) > 1:
        raise ValueError(f"more than one {prefix} scope key: {found}")
    return found[0] if found else None


def record_failure(
    connection: Connection, scopes: list[tuple[str, int]], window_us: int, now_us: int
) -> int:
    """Count one failure in every scope; return the most failures any scope has exceeded by.

    The result is > 0 when this failure went over a limit (a request that
    raced past the block check): the caller answers it with 429 too. The
    increment is a single atomic upsert, so concurrent workers never lose a count.
    """
    worst_excess = 0
    for key, limit in scopes:
        failures = _increment(connection, key, limit, window_us, now_us)
        worst_excess = max(worst_excess, failures - limit)
    return worst_excess


def _increment(connection: Connection, key: str, limit: int, window_us: int, now_us: int) -> int:
    table = login_failures
    dialect_insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    window_over = table.c.window_start_us <= now_us - window_us
    failures = case((window_over, 1), else_=table.c.failures + 1)
    window_start = case((window_over, now_us), else_=table.c.window_start_us)
    statement = dialect_insert(table).values(
        scope_key=key,
        window_start_us=now_us,
        failures=1,
        blocked_until_us=now_us + window_us if limit <= 1 else 0,
    )
    upsert = statement.on_conflict_do_update(
        index_elements=[table.c.scope_key],
        set_={
            "failures": failures,
            "window_start_us": window_start,
            "blocked_until_us": case((failures >= limit, window_start + window_us), else_=0),
        },
    ).returning(table.c.failures)
    return int(connection.execute(upsert).scalar_one())


def blocked_until(connection: Connection, scope_keys: list[str], now_us: int) -> int:
    """The end of the latest block in force on these scopes, 0 if none."""
    if not scope_keys:
        return 0
    value = connection.execute(
        select(func.max(login_failures.c.blocked_until_us)).where(
            login_failures.c.scope_key.in_(scope_keys),
            login_failures.c.blocked_until_us > now_us,
        )
    ).scalar()
    return int(value or 0)


def purge_expired(connection: Connection, window_us: int, now_us: int) -> int:
    """Drop counters whose window and block are over (addresses come and go)."""
    result = connection.execute(
        delete(login_failures).where(
            login_failures.c.window_start_us <= now_us - window_us,
            login_failures.c.blocked_until_us <= now_us,
        )
    )
    return result.rowcount or 0


def failure_counts(connection: Connection) -> dict[str, int]:
    """Every live counter, for administration and tests."""
    rows = connection.execute(select(login_failures.c.scope_key, login_failures.c.failures))
    return {row.scope_key: row.failures for row in rows}

"""Analyst accounts (people at a partner lab using the console) and their console sessions.

An analyst belongs to one partner and sees exactly what that partner's API
key sees: the console authorises every request as the partner, through the
same access checks as the TAXII endpoints. Passwords are generated here
(shown once, like API keys) and stored as argon2id hashes (argon2-cffi): a
person may reuse or weaken a password later, so unlike the 256-bit API keys
it needs a slow, memory-hard hash.

Sessions are server-side rows keyed by the SHA-256 of a random token (the
cookie holds the token), so logout, revocation and password rotation end them
in every worker at once. Each session carries its own CSRF token. Idle and
absolute lifetimes are checked on every request; ``last_seen_us`` is written
at most once a minute per session so reading pages does not become writes.

These functions use the Store's engine directly (``console_engine``): the
console's tables are its own, kept out of ``Store`` so the console stays one
separable module.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass, replace

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError
from sqlalchemy import Engine, delete, insert, select, update

from server.store import Store, audit
from server.store.console_schema import analysts, console_sessions
from server.store.engine import read_transaction, write_transaction
from server.store.errors import AlreadyExistsError, InvalidInputError, NotFoundError
from server.store.rate_limits import LoginLimits
from server.store.schema import partners
from server.store.timestamps import now_us
from server.store.types import Partner

_ANALYST_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,99}", re.ASCII)
_HASHER = PasswordHasher()  # argon2id, 64 MiB, 3 passes (RFC 9106's second recommendation)
# Verified against when the analyst is unknown, so timing does not reveal which names exist.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))
_TOUCH_INTERVAL_US = 60_000_000
MAX_PASSWORD_CHARS = 1024


@dataclass(frozen=True)
class SessionLimits:
    idle_us: int = 30 * 60 * 1_000_000
    absolute_us: int = 12 * 3600 * 1_000_000


@dataclass(frozen=True)
class ConsoleSession:
    partner: Partner
    analyst: str
    csrf_token: str
    token_hash: str


@dataclass(frozen=True)
class LoginOutcome:
    """A new session token and its CSRF token, or why not (blocked_until_us > 0: 429)."""

    token: str | None = None
    blocked_until_us: int = 0


def console_engine(store: Store) -> Engine:
    """The store's engine, for the console's own tables (see the module doc)."""
    return store._engine


def new_password() -> str:
    return secrets.token_urlsafe(18)


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _validate_name(name: str) -> None:
    if not isinstance(name, str) or not _ANALYST_NAME.fullmatch(name):
        raise InvalidInputError(
            f"analyst name {name!r} must be 1-100 characters of letters, digits and ._@-"
        )


def add_analyst(store: Store, partner_id: str, name: str, *, actor: str | None = None) -> str:
    """Create an analyst of ``partner_id``; return the password (shown once, stored hashed)."""
    _validate_name(name)
    password = new_password()
    now = now_us()
    with write_transaction(console_engine(store)) as connection:
        if (
            connection.execute(select(partners.c.id).where(partners.c.id == partner_id)).first()
            is None
        ):
            raise NotFoundError(f"no partner {partner_id!r}")
        exists = connection.execute(
            select(analysts.c.name).where(
                analysts.c.partner_id == partner_id, analysts.c.name == name
            )
        ).first()
        if exists:
            raise AlreadyExistsError(f"analyst {name!r} of partner {partner_id!r} already exists")
        connection.execute(
            insert(analysts).values(
                partner_id=partner_id,
                name=name,
                password_hash=_HASHER.hash(password),
                active=True,
                created_us=now,
                password_changed_us=now,
            )
        )
        audit.record(
            connection, at_us=now, actor=actor, action="analyst.add", target=f"{partner_id} {name}"
        )
    return password


def rotate_password(store: Store, partner_id: str, name: str, *, actor: str | None = None) -> str:
    """A new password (the old one and every open session stop working); reactivates."""
    password = new_password()
    now = now_us()
    with write_transaction(console_engine(store)) as connection:
        result = connection.execute(
            update(analysts)
            .where(analysts.c.partner_id == partner_id, analysts.c.name == name)
            .values(password_hash=_HASHER.hash(password), password_changed_us=now, active=True)
        )
        if result.rowcount != 1:
            raise NotFoundError(f"no analyst {name!r} of partner {partner_id!r}")
        _end_sessions(connection, partner_id, name)
        audit.record(
            connection,
            at_us=now,
            actor=actor,
            action="analyst.rotate_password",
            target=f"{partner_id} {name}",
        )
    return password


def revoke_analyst(store: Store, partner_id: str, name: str, *, actor: str | None = None) -> None:
    """The analyst can no longer log in; open sessions end at once."""
    now = now_us()
    with write_transaction(console_engine(store)) as connection:
        result = connection.execute(
            update(analysts)
            .where(analysts.c.partner_id == partner_id, analysts.c.name == name)
            .values(active=False)
        )
        if result.rowcount != 1:
            raise NotFoundError(f"no analyst {name!r} of partner {partner_id!r}")
        _end_sessions(connection, partner_id, name)
        audit.record(
            connection,
            at_us=now,
            actor=actor,
            action="analyst.revoke",
            target=f"{partner_id} {name}",
        )


def _end_sessions(connection, partner_id: str, name: str) -> None:
    connection.execute(
        delete(console_sessions).where(
            console_sessions.c.partner_id == partner_id, console_sessions.c.analyst == name
        )
    )


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _HASHER.verify(password_hash, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def password_matches(store: Store, partner_id: str, name: str, password: str) -> bool:
    """Whether this is the active analyst's password (no session, no failure counted)."""
    with read_transaction(console_engine(store)) as connection:
        row = connection.execute(
            select(analysts.c.password_hash, analysts.c.active).where(
                analysts.c.partner_id == partner_id, analysts.c.name == name
            )
        ).first()
    return row is not None and row.active and _verify(row.password_hash, password)


def log_in(
    store: Store,
    partner_id: str,
    name: str,
    password: str,
    address: str,
    limits: LoginLimits,
) -> LoginOutcome:
    """Check the password and open a session; failures count against the same per-partner
    and per-address limits as TAXII logins (``Store.record_login_failure``)."""
    # As for API keys (server.store.rate_limits.check_login): a blocked address is refused
    # outright; a blocked partner id still admits a right password, so a stranger who knows
    # the partner id cannot lock its analysts out, and its wrong passwords are not counted.
    address_block = store.login_blocked_until(partner_id, address, replace(limits, per_partner=0))
    if address_block:
        return LoginOutcome(blocked_until_us=address_block)
    partner_block = store.login_blocked_until(partner_id, address, replace(limits, per_address=0))
    row = None
    if (
        _ANALYST_NAME.fullmatch(name or "")
        and "\x00" not in partner_id
        and len(partner_id) <= 100
        and 0 < len(password) <= MAX_PASSWORD_CHARS
    ):
        with read_transaction(console_engine(store)) as connection:
            row = connection.execute(
                select(analysts.c.password_hash, analysts.c.active, partners.c.active.label("p"))
                .join(partners, partners.c.id == analysts.c.partner_id)
                .where(analysts.c.partner_id == partner_id, analysts.c.name == name)
            ).first()
    stored_hash = row.password_hash if row is not None else _DUMMY_HASH
    matches = _verify(stored_hash, password[:MAX_PASSWORD_CHARS])
    if row is None or not matches or not row.active or not row.p:
        if partner_block:
            return LoginOutcome(blocked_until_us=partner_block)
        if store.record_login_failure(partner_id, address, limits) > 0:
            blocked = store.login_blocked_until(partner_id, address, limits)
            return LoginOutcome(blocked_until_us=blocked)
        return LoginOutcome()
    token = secrets.token_urlsafe(32)
    now = now_us()
    with write_transaction(console_engine(store)) as connection:
        connection.execute(
            insert(console_sessions).values(
                token_hash=_token_hash(token),
                partner_id=partner_id,
                analyst=name,
                csrf_token=secrets.token_urlsafe(32),
                created_us=now,
                last_seen_us=now,
            )
        )
        connection.execute(
            delete(console_sessions).where(
                console_sessions.c.last_seen_us < now - SessionLimits.absolute_us
            )
        )
        audit.record(
            connection,
            at_us=now,
            actor=partner_id,
            action="console.login",
            target=f"{partner_id} {name}",
            detail={"address": address},
        )
    return LoginOutcome(token=token)


def session_for(store: Store, token: str | None, limits: SessionLimits) -> ConsoleSession | None:
    """The live session of this cookie value, or None (unknown, expired, analyst or partner
    revoked). Expired sessions are deleted."""
    if not token or len(token) > 200:
        return None
    token_hash = _token_hash(token)
    now = now_us()
    engine = console_engine(store)
    with read_transaction(engine) as connection:
        row = connection.execute(
            select(
                console_sessions,
                analysts.c.active,
                partners.c.active.label("partner_active"),
                partners.c.name.label("partner_name"),
                partners.c.identity_ref,
            )
            .join(
                analysts,
                (analysts.c.partner_id == console_sessions.c.partner_id)
                & (analysts.c.name == console_sessions.c.analyst),
            )
            .join(partners, partners.c.id == console_sessions.c.partner_id)
            .where(console_sessions.c.token_hash == token_hash)
        ).first()
    if row is None:
        return None
    expired = now - row.last_seen_us > limits.idle_us or now - row.created_us > limits.absolute_us
    if expired or not row.active or not row.partner_active:
        end_session(store, token_hash)
        return None
    if now - row.last_seen_us > _TOUCH_INTERVAL_US:
        with write_transaction(engine) as connection:
            connection.execute(
                update(console_sessions)
                .where(console_sessions.c.token_hash == token_hash)
                .values(last_seen_us=now)
            )
    partner = Partner(
        id=row.partner_id, name=row.partner_name, identity_ref=row.identity_ref, active=True
    )
    return ConsoleSession(partner, row.analyst, row.csrf_token, token_hash)


def csrf_matches(session: ConsoleSession, sent: str | None) -> bool:
    return bool(sent) and hmac.compare_digest(session.csrf_token.encode(), str(sent).encode())


def end_session(store: Store, token_hash: str) -> None:
    with write_transaction(console_engine(store)) as connection:
        connection.execute(
            delete(console_sessions).where(console_sessions.c.token_hash == token_hash)
        )


def record_export(store: Store, session: ConsoleSession, detail: dict) -> None:
    with write_transaction(console_engine(store)) as connection:
        audit.record(
            connection,
            at_us=now_us(),
            actor=session.partner.id,
            action="console.export",
            target=f"{session.partner.id} {session.analyst}",
            detail=detail,
        )

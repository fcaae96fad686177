"""Partners, API keys and grants."""

from __future__ import annotations

import hashlib

import pytest
from sqlalchemy import select

from server.store import AlreadyExistsError, InvalidInputError, NotFoundError, Store, rate_limits
from server.store.schema import partners
from server.store.types import ApiRootInfo, CollectionInfo, Grant, Partner, PartnerGrant
from tests.store.store_helpers import (
    API_ROOT,
    COLLECTION_ID,
    IDENTITY_A,
    IDENTITY_B,
    OTHER_COLLECTION_ID,
)


def test_a_new_key_authenticates_and_wrong_credentials_do_not(store: Store) -> None:
    key = store.add_partner("lab-a", "Lab A", IDENTITY_A)
    assert len(key) >= 43  # 32 random bytes, base64url
    expected = Partner(id="lab-a", name="Lab A", identity_ref=IDENTITY_A, active=True)
    assert store.authenticate("lab-a", key) == expected
    assert store.authenticate("lab-a", key + "x") is None
    assert store.authenticate("lab-a", "") is None
    assert store.authenticate("lab-b", key) is None
    assert store.authenticate("LAB-A", key) is None


def test_keys_are_stored_only_as_their_hash(store: Store) -> None:
    key = store.add_partner("lab-a", "Lab A", IDENTITY_A)
    with store._engine.connect() as connection:
        row = connection.execute(select(partners)).one()
    assert key not in [str(value) for value in row]
    assert row.key_hash == hashlib.sha256(key.encode()).hexdigest()


def test_each_partner_gets_a_different_key(store: Store) -> None:
    key_a = store.add_partner("lab-a", "Lab A", IDENTITY_A)
    key_b = store.add_partner("lab-b", "Lab B", IDENTITY_B)
    assert key_a != key_b
    assert store.authenticate("lab-a", key_b) is None


def test_rotation_invalidates_the_old_key_at_once(store_url: str, store: Store) -> None:
    old = store.add_partner("lab-a", "Lab A", IDENTITY_A)
    with Store(store_url) as other_process_view:
        assert other_process_view.authenticate("lab-a", old) is not None
        new = store.rotate_key("lab-a")
        assert new != old
        assert other_process_view.authenticate("lab-a", old) is None
        assert other_process_view.authenticate("lab-a", new) is not None


def test_deactivation_revokes_and_reactivation_restores(store: Store) -> None:
    key = store.add_partner("lab-a", "Lab A", IDENTITY_A)
    store.deactivate_partner("lab-a")
    assert store.authenticate("lab-a", key) is None
    assert store.get_partner("lab-a").active is False
    store.reactivate_partner("lab-a")
    assert store.authenticate("lab-a", key) is not None


def test_partner_errors_are_explicit(store: Store) -> None:
    store.add_partner("lab-a", "Lab A", IDENTITY_A)
    with pytest.raises(AlreadyExistsError, match="lab-a"):
        store.add_partner("lab-a", "Again", IDENTITY_B)
    with pytest.raises(InvalidInputError, match="partner id"):
        store.add_partner("lab:a", "Colon", IDENTITY_B)
    with pytest.raises(InvalidInputError, match="partner id"):
        store.add_partner("", "Empty", IDENTITY_B)
    with pytest.raises(InvalidInputError, match="identity_ref"):
        store.add_partner("lab-c", "Lab C", "identity--not-a-uuid")
    with pytest.raises(InvalidInputError, match="name"):
        store.add_partner("lab-c", " ", IDENTITY_B)
    with pytest.raises(NotFoundError):
        store.rotate_key("nobody")
    with pytest.raises(NotFoundError):
        store.deactivate_partner("nobody")
    assert store.get_partner("nobody") is None
    assert [partner.id for partner in store.list_partners()] == ["lab-a"]


def test_no_grant_means_no_access_and_grants_are_per_collection(store: Store) -> None:
    store.add_partner("lab-a", "Lab A", IDENTITY_A)
    assert store.get_grant("lab-a", COLLECTION_ID) == Grant(False, False)
    store.set_grant("lab-a", COLLECTION_ID, can_read=True, can_write=False)
    store.set_grant("lab-a", OTHER_COLLECTION_ID, can_read=True, can_write=True)
    assert store.get_grant("lab-a", COLLECTION_ID) == Grant(True, False)
    store.set_grant("lab-a", COLLECTION_ID, can_read=False, can_write=True)
    assert store.get_grant("lab-a", COLLECTION_ID) == Grant(False, True)
    assert store.get_grant("lab-b", COLLECTION_ID) == Grant(False, False)
    assert store.grants_for("lab-a", API_ROOT) == {
        COLLECTION_ID: Grant(False, True),
        OTHER_COLLECTION_ID: Grant(True, True),
    }
    assert store.list_grants("lab-a") == [
        PartnerGrant("lab-a", COLLECTION_ID, False, True),
        PartnerGrant("lab-a", OTHER_COLLECTION_ID, True, True),
    ]


def test_grants_for_is_limited_to_one_api_root(store: Store) -> None:
    store.add_partner("lab-a", "Lab A", IDENTITY_A)
    store.add_api_root(ApiRootInfo(name="second", title="Second"))
    elsewhere = "7a1e0c3d-2b4f-4e6a-8c9d-0e1f2a3b4c5d"
    store.add_collection(CollectionInfo(id=elsewhere, api_root="second", title="Far"))
    store.set_grant("lab-a", elsewhere, True, True)
    store.set_grant("lab-a", COLLECTION_ID, True, False)
    assert store.grants_for("lab-a", "second") == {elsewhere: Grant(True, True)}
    assert store.grants_for("lab-a", API_ROOT) == {COLLECTION_ID: Grant(True, False)}


def test_grants_need_an_existing_partner_and_collection(store: Store) -> None:
    store.add_partner("lab-a", "Lab A", IDENTITY_A)
    with pytest.raises(NotFoundError, match="partner"):
        store.set_grant("nobody", COLLECTION_ID, True, True)
    with pytest.raises(NotFoundError, match="collection"):
        store.set_grant("lab-a", "00000000-0000-4000-8000-000000000000", True, True)


def test_account_changes_are_audited(store: Store) -> None:
    first_key = store.add_partner("lab-a", "Lab A", IDENTITY_A, actor="ops")
    second_key = store.rotate_key("lab-a")
    store.set_grant("lab-a", COLLECTION_ID, True, False)
    store.deactivate_partner("lab-a")
    entries = store.audit_entries(10)
    assert [(entry.action, entry.target) for entry in entries] == [
        ("partner.revoke", "lab-a"),
        ("grant.set", f"lab-a {COLLECTION_ID}"),
        ("partner.rotate_key", "lab-a"),
        ("partner.add", "lab-a"),
    ]
    assert entries[-1].actor == "ops"
    assert entries[0].actor == "admin"
    assert entries[1].detail == {"can_read": True, "can_write": False}
    assert all("key" not in str(entry.detail).lower() for entry in entries)
    # Neither key, in any field of any entry.
    text = repr(entries)
    assert first_key not in text and second_key not in text


def test_login_checks_run_as_one_prepared_statement_on_postgresql(store: Store) -> None:
    """The login statement is planned once per connection on PostgreSQL, not once per request;
    its answers stay right whatever the limits (a key per kind, or none)."""
    key = store.add_partner("lab-a", "Lab A", IDENTITY_A)
    store.set_grant("lab-a", COLLECTION_ID, True, False)
    both = rate_limits.LoginLimits(per_partner=5, per_address=5, window_us=60_000_000)
    partner_only = rate_limits.LoginLimits(per_partner=5, per_address=0, window_us=60_000_000)
    with store.request_scope(collection=(API_ROOT, COLLECTION_ID)):
        for limits in (both, partner_only, both):
            found = store.check_login("lab-a", key, "192.0.2.7", limits)
            assert found.partner is not None and found.partner.id == "lab-a"
            assert found.collection is not None and found.collection[1] == Grant(True, False)
            assert store.check_login("lab-a", key + "x", "192.0.2.7", limits).partner is None
        if store.dialect == "postgresql":
            prepared = store._read(
                lambda connection: (
                    connection.exec_driver_sql("SELECT statement FROM pg_prepared_statements")
                    .scalars()
                    .all()
                )
            )
            assert any("login_failures" in statement for statement in prepared), prepared

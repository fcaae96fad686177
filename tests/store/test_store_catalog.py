"""API roots, collections and the discovery settings."""

from __future__ import annotations

import pytest

from server.store import AlreadyExistsError, InvalidInputError, NotFoundError, Store
from server.store.types import ApiRootInfo, CollectionInfo, Tlp
from tests.store.store_helpers import API_ROOT, COLLECTION_ID, OTHER_COLLECTION_ID, make_object


def test_api_roots_are_upserted_and_listed(store: Store) -> None:
    store.add_api_root(ApiRootInfo(name="alpha", title="Alpha", max_content_length=1000))
    store.add_api_root(ApiRootInfo(name="alpha", title="Alpha 2", description="changed"))
    assert store.get_api_root("alpha") == ApiRootInfo(
        name="alpha", title="Alpha 2", description="changed"
    )
    assert [root.name for root in store.list_api_roots()] == ["alpha", API_ROOT]
    assert store.get_api_root("missing") is None
    with pytest.raises(InvalidInputError):
        store.add_api_root(ApiRootInfo(name="a/b", title="Slash"))


def test_collections_keep_every_setting(store: Store) -> None:
    info = CollectionInfo(
        id="0d9a7c1e-1111-4222-8333-444455556666",
        api_root=API_ROOT,
        title="Capped",
        description="amber at most",
        alias="capped",
        media_types=("application/stix+json;version=2.1",),
        max_tlp=Tlp.AMBER,
        enforce_provenance=False,
    )
    store.add_collection(info)
    assert store.get_collection(API_ROOT, info.id) == info
    assert store.get_collection("other-root", info.id) is None
    assert [c.title for c in store.list_collections(API_ROOT)] == ["Capped", "Main", "Other"]
    assert store.list_collections("other-root") == []


def test_updating_a_collection_keeps_its_objects(store: Store) -> None:
    store.add_objects(
        API_ROOT, COLLECTION_ID, None, [make_object(1, "2021-01-01T00:00:00Z")], [], 0
    )
    store.add_collection(CollectionInfo(id=COLLECTION_ID, api_root=API_ROOT, title="Renamed"))
    assert store.get_collection(API_ROOT, COLLECTION_ID).title == "Renamed"
    assert store.count_objects(COLLECTION_ID) == 1


def test_collection_errors_are_explicit(store: Store) -> None:
    with pytest.raises(NotFoundError, match="API root"):
        store.add_collection(
            CollectionInfo(id="0d9a7c1e-1111-4222-8333-444455556666", api_root="x", title="T")
        )
    with pytest.raises(InvalidInputError, match="UUID"):
        store.add_collection(CollectionInfo(id="not-a-uuid", api_root=API_ROOT, title="T"))
    store.add_collection(
        CollectionInfo(id=COLLECTION_ID, api_root=API_ROOT, title="Main", alias="main")
    )
    with pytest.raises(AlreadyExistsError, match="alias"):
        store.add_collection(
            CollectionInfo(id=OTHER_COLLECTION_ID, api_root=API_ROOT, title="O", alias="main")
        )
    store.add_api_root(ApiRootInfo(name="second", title="Second"))
    with pytest.raises(AlreadyExistsError, match="already exists"):
        store.add_collection(CollectionInfo(id=COLLECTION_ID, api_root="second", title="Moved"))
    # The failed statements left the store usable and unchanged.
    assert store.get_collection(API_ROOT, OTHER_COLLECTION_ID).alias is None
    assert store.get_collection("second", COLLECTION_ID) is None


def test_discovery_is_stored_as_given(store: Store) -> None:
    assert store.get_discovery() == {}
    discovery = {"title": "Exchange", "description": "d", "contact": "ops@example.org"}
    store.set_discovery(discovery)
    assert store.get_discovery() == discovery
    store.set_discovery({"title": "Renamed"})
    assert store.get_discovery() == {"title": "Renamed"}

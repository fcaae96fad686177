"""The server the fuzzer attacks: who may do what, what is stored, and a snapshot of it.

Two partners: the *owner* publishes everything stored before the fuzz and is
never used by the fuzzer; the *fuzzer* is the attacker, holding a different
grant on each collection so every access branch is reachable:

* ``guarded``: fuzzer may only read (POST and DELETE must be refused);
* ``playground`` (alias ``playground``): fuzzer may read and write, so its
  POSTs and DELETEs really run; the owner's objects there must survive
  anyway (only an object's publisher may delete it, only its creator version it);
* ``write-only``: fuzzer may only write;
* ``hidden``: fuzzer holds no grant (must look like it does not exist).

Whatever the fuzzer sends, every version the owner stored must still be there
afterwards with the same body and ``date_added``: ``snapshot`` reads all of
them through the owner's eyes, before and after.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import orjson

from server.store.types import CollectionInfo
from tests.support.server import Client, PartnerSpec, Served, indicator

API_ROOT = "exchange"
OWNER = "lab-owner"
OWNER_IDENTITY = "identity--2b3f5a36-9d0e-4b8e-8c1e-0f9a7d6c5b41"
FUZZER = "lab-fuzz"
FUZZER_IDENTITY = "identity--7c1d9e2f-4a6b-4f3e-9d8c-1b2a3c4d5e6f"

GUARDED = "0c2d8a8e-5b7f-4e0f-9a51-3f6c1d2e4b10"
PLAYGROUND = "6e4b9f1a-2c3d-4e5f-8a7b-9c0d1e2f3a40"
WRITE_ONLY = "a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c50"
HIDDEN = "f0e1d2c3-b4a5-4968-8776-655443322160"
PLAYGROUND_ALIAS = "playground"

# Small, so that "huge" bodies are cheap to send; the limit itself is what is tested.
MAX_CONTENT_LENGTH = 64 * 1024

COLLECTIONS = [
    CollectionInfo(GUARDED, API_ROOT, "Guarded", description="read-only for the fuzzer"),
    CollectionInfo(PLAYGROUND, API_ROOT, "Playground", alias=PLAYGROUND_ALIAS),
    CollectionInfo(WRITE_ONLY, API_ROOT, "Write only"),
    CollectionInfo(HIDDEN, API_ROOT, "Hidden"),
]
PARTNERS = [
    PartnerSpec(
        OWNER,
        OWNER_IDENTITY,
        {c.id: (True, True) for c in COLLECTIONS},
    ),
    PartnerSpec(
        FUZZER,
        FUZZER_IDENTITY,
        {
            GUARDED: (True, False),
            PLAYGROUND: (True, True),
            WRITE_ONLY: (False, True),
        },
    ),
]


def _owner_objects(seed: int) -> list[dict]:
    """Indicators with two versions each, names full of SQL/LIKE metacharacters, an observable."""
    objects = []
    for number, name in enumerate(["100% proxy_range", "O'Brien; DROP TABLE objects; --", "ёж"]):
        stix_id = f"indicator--{uuid.UUID(int=seed * 1000 + number, version=4)}"
        objects.append(indicator(OWNER_IDENTITY, stix_id=stix_id, name=name))
        objects.append(
            indicator(
                OWNER_IDENTITY,
                stix_id=stix_id,
                modified="2026-02-01T00:00:00.123456789Z",
                name=name + " (v2)",
            )
        )
    objects.append(
        {
            "type": "ipv4-addr",
            "id": f"ipv4-addr--{uuid.UUID(int=seed, version=4)}",
            "value": "203.0.113.7",
        }
    )
    return objects


OWNER_OBJECTS = {
    GUARDED: _owner_objects(1),
    PLAYGROUND: _owner_objects(2),
    HIDDEN: _owner_objects(3),
}
OWNER_OBJECT_IDS = sorted({o["id"] for objs in OWNER_OBJECTS.values() for o in objs})
OWNER_ID_SET = frozenset(OWNER_OBJECT_IDS)


@dataclass(frozen=True)
class Live:
    """Values only known once the server runs: the fuzzer's own status id and a `next` token."""

    fuzzer_key: str
    owner_status_id: str
    fuzzer_status_id: str
    next_token: str
    fuzzer_object_id: str


def populate(running: Served) -> Live:
    """Store the owner's objects (and one of the fuzzer's) before the fuzz starts."""
    owner = running.client(OWNER)
    status_id = ""
    for collection, objects in OWNER_OBJECTS.items():
        response = owner.post_objects(f"/{API_ROOT}/collections/{collection}/objects/", objects)
        assert response.status_code == 202, response.text
        status = response.json()
        assert status["success_count"] == len(objects), status
        status_id = status["id"]
    fuzzer = running.client(FUZZER)
    own = indicator(FUZZER_IDENTITY, name="fuzzer's own")
    response = fuzzer.post_objects(f"/{API_ROOT}/collections/{PLAYGROUND}/objects/", [own])
    assert response.status_code == 202 and response.json()["success_count"] == 1, response.text
    listing = fuzzer.get(f"/{API_ROOT}/collections/{GUARDED}/objects/", {"limit": 1})
    return Live(
        fuzzer_key=running.keys[FUZZER],
        owner_status_id=status_id,
        fuzzer_status_id=response.json()["id"],
        next_token=listing.json()["next"],
        fuzzer_object_id=own["id"],
    )


Snapshot = dict[tuple[str, str, str], tuple[str, bytes]]


def _pages(client: Client, path: str, params: dict[str, str]) -> list[dict]:
    pages = []
    query = dict(params)
    while True:
        response = client.get(path, query)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        if not page.get("more"):
            return pages
        query = {**params, "next": page["next"]}


def snapshot(running: Served) -> Snapshot:
    """(collection, id, version) -> (date_added, JSON) of every version of the owner's objects."""
    owner = running.client(OWNER)
    taken: Snapshot = {}
    params = {"match[version]": "all", "limit": "1000"}
    for collection in OWNER_OBJECTS:
        base = f"/{API_ROOT}/collections/{collection}"
        added = {}
        for page in _pages(owner, f"{base}/manifest/", params):
            for record in page.get("objects", []):
                added[record["id"], record["version"]] = record["date_added"]
        for page in _pages(owner, f"{base}/objects/", params):
            for obj in page.get("objects", []):
                if obj["id"] not in OWNER_ID_SET:
                    continue  # the fuzzer's own objects come and go legitimately
                version = obj.get("modified") or obj.get("created") or "1970-01-01T00:00:00.000Z"
                key = (obj["id"], _version_of(added, obj["id"], version))
                taken[(collection, *key)] = (
                    added[key],
                    orjson.dumps(obj, option=orjson.OPT_SORT_KEYS),
                )
    return taken


def _version_of(added: dict[tuple[str, str], str], stix_id: str, version: str) -> str:
    """The manifest's spelling of a version (it normalises the fraction)."""
    if (stix_id, version) in added:
        return version
    prefix = version.rstrip("Z").split(".")[0]
    matches = [v for (i, v) in added if i == stix_id and v.startswith(prefix)]
    assert len(matches) == 1, (stix_id, version, matches)
    return matches[0]


def owner_data_intact(before: Snapshot, after: Snapshot) -> list[str]:
    """What the fuzz lost or changed of the owner's data, or versioned in the owner's name."""
    problems = []
    for key, value in before.items():
        if key not in after:
            problems.append(f"lost {key}")
        elif after[key] != value:
            problems.append(f"changed {key}: {value} -> {after[key]}")
    # Collections are independent: the same id may be new in another collection.
    owned = {(collection, stix_id) for collection, stix_id, _ in before}
    for key in after.keys() - before.keys():
        if key[:2] in owned:
            problems.append(f"new version of an owner's object {key}")
    return problems

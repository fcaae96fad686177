"""Two labs post the same observable at different TLPs: what the exchange serves.

Lab A (TLP:AMBER) and lab B (TLP:GREEN) both name one address range, one AS
and one account hash; each also names an account hash of its own. Observables
have deterministic ids, so the shared ones are one object on the server. They
carry no marking (docs/stix-mapping.md, "Markings of shared observables"), so
whichever lab posts first, the served observable is byte-for-byte what both
posted, and each lab's own statements about it keep their own marking. A
consumer exporting at TLP:GREEN gets lab B's observables and never the hash
only lab A (AMBER) names. Both orders, SQLite and PostgreSQL, over a real
server and the `dx` commands.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from exchange.feed.store import FeedStore
from mappings.convert import bundle_json, records_to_bundle
from mappings.records import MemberHash
from mappings.well_known import TLP_MARKING_IDS
from tests.mappings import stix_factories as factories
from tests.support.exchange import Exchange, Lab, build_exchange, run_dx
from tests.support.server import database

SHARED = factories.keyed_hash("shared.account@example.com")
ONLY_A = factories.keyed_hash("only.lab.a@example.com")
ONLY_B = factories.keyed_hash("only.lab.b@example.com")
CIDR = "198.51.100.0/24"


def _bundle(lab: str, tlp: str, own_hash: str, directory: Path) -> Path:
    producer = factories.LAB_A if lab == "lab-a" else factories.LAB_B
    members = [MemberHash(kind="email", hash=h) for h in (SHARED, own_hash)]
    records = [
        factories.cluster(tlp=tlp, members=members, member_count=2, ip_range_refs=[CIDR]),
        factories.ip_range(tlp=tlp, cidr=CIDR),
    ]
    path = directory / f"{lab}-{tlp}.json"
    path.write_bytes(bundle_json(records_to_bundle(records, producer)))
    return path


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
)
def exchange(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Exchange]:
    directory = tmp_path_factory.mktemp(f"markings-{request.param}")
    with database(request.param, directory) as url:
        running = build_exchange(directory, database_url=url)
        running.start()
        try:
            yield running
        finally:
            running.stop()


def _served(lab: Lab) -> dict[str, dict[str, Any]]:
    lab.dx("poll", "--once", "--quiet")
    with FeedStore(lab.store) as store:
        return {obj["id"]: obj for obj in store.current_objects()}


@pytest.mark.parametrize("first", ["lab-a", "lab-b"])
def test_shared_observables_are_served_the_same_whoever_posts_first(
    exchange: Exchange, first: str, tmp_path: Path
) -> None:
    collection = exchange.add_collection(f"markings {first} first", f"markings-{first}")
    labs = {
        name: exchange.lab(f"{name}-{first}", name, collections=[collection])
        for name in ("lab-a", "lab-b")
    }
    bundles = {
        "lab-a": _bundle("lab-a", "amber", ONLY_A, tmp_path),
        "lab-b": _bundle("lab-b", "green", ONLY_B, tmp_path),
    }
    posted = {
        name: {o["id"]: o for o in json.loads(path.read_text("utf-8"))["objects"]}
        for name, path in bundles.items()
    }
    order = [first, "lab-b" if first == "lab-a" else "lab-a"]
    for name in order:
        summary = json.loads(
            labs[name].dx("publish", str(bundles[name]), "--json", "--quiet").stdout
        )
        assert summary["refused"] == [], summary

    served = _served(labs["lab-b"])
    shared_ids = set(posted["lab-a"]) & set(posted["lab-b"])
    shared_observables = {i for i in shared_ids if "created" not in posted["lab-a"][i]}
    # The address range, its AS and the shared account hash, identical as posted by both.
    assert {served[i]["type"] for i in shared_observables} == {
        "ipv4-addr",
        "autonomous-system",
        "user-account",
    }
    for object_id in shared_observables:
        assert posted["lab-a"][object_id] == posted["lab-b"][object_id]
        assert served[object_id] == posted["lab-a"][object_id]
        assert "object_marking_refs" not in served[object_id]
    # Each lab's statements keep its own marking, in both orders.
    for name, level in (("lab-a", "amber"), ("lab-b", "green")):
        identity = labs[name].producer.identity_id
        statements = [
            o
            for o in served.values()
            if o.get("created_by_ref") == identity and o["type"] != "identity"
        ]
        assert statements
        assert all(o["object_marking_refs"] == [TLP_MARKING_IDS[level]] for o in statements)

    # A GREEN export carries lab B's observables, as references of its GREEN objects,
    # and never the account hash only the AMBER lab names.
    out = tmp_path / "green.json"
    run_dx("export", "--from-store", str(labs["lab-b"].config), "--max-tlp", "green",
           "-o", str(out), "--quiet")  # fmt: skip
    exported = json.loads(out.read_text("utf-8"))["objects"]
    hashes = {o["user_id"] for o in exported if o["type"] == "user-account"}
    assert hashes == {SHARED, ONLY_B}
    assert ONLY_A not in out.read_text("utf-8")
    assert any(o.get("value") == CIDR for o in exported)
    lab_a = labs["lab-a"].producer.identity_id
    assert not [o for o in exported if o.get("created_by_ref") == lab_a and o["type"] != "identity"]

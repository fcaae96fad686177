"""Moving from medallion: import its data file with one command, serve it back.

``dx server import-medallion`` loads a medallion data file (the project's own,
``tests/data/medallion-export.json``); listing it through the API (taxii2-client,
every version and spec version) must give back the same objects, the same
versions and the same date_added values.
"""

from __future__ import annotations

import orjson
import pytest
from taxii2client.v21 import ApiRoot, Collection, Server, as_pages

from server.store import Store
from server.store.timestamps import stix_timestamp_us, version_key
from tests.support.server import BACKENDS, REPO, ServerProcess, database, run_cli, write_config

DATA_FILE = REPO / "tests" / "data" / "medallion-export.json"
READER = "migrated-lab"
READER_IDENTITY = "identity--0c5e4d2a-6b1f-4c8e-9d7a-3f2e1b0a9c88"


def _version(obj: dict) -> str:
    return obj.get("modified") or obj["created"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_import_then_list_gives_the_same_objects_versions_and_dates(tmp_path, backend):
    data = orjson.loads(DATA_FILE.read_bytes())
    roots = {name: root for name, root in data.items() if name != "/discovery"}
    with database(backend, tmp_path) as url:
        config = write_config(tmp_path / "server.toml", url)
        run_cli("import-medallion", str(DATA_FILE), "--config", str(config))
        again = run_cli("import-medallion", str(DATA_FILE), "--config", str(config))
        assert "0 object versions added" in again.stderr  # idempotent
        with Store(url) as store:  # partners are not part of a medallion file
            key = store.add_partner(READER, "Migrated lab", READER_IDENTITY)
            for root in roots.values():
                for collection in root["collections"]:
                    store.set_grant(READER, collection["id"], True, False)
        server = ServerProcess(config, tmp_path / "server.log").start()
        try:
            discovery = Server(f"{server.base_url}/taxii2/", user=READER, password=key)
            assert discovery.title == data["/discovery"]["title"]
            assert discovery.description == data["/discovery"]["description"]
            compared = 0
            for root_name, root in roots.items():
                if not root["collections"]:
                    continue
                api_root = ApiRoot(f"{server.base_url}/{root_name}/", user=READER, password=key)
                assert api_root.title == root["information"]["title"]
                assert api_root.max_content_length == root["information"]["max_content_length"]
                assert {c.id for c in api_root.collections} == {
                    c["id"] for c in root["collections"]
                }
                for expected in root["collections"]:
                    url = f"{server.base_url}/{root_name}/collections/{expected['id']}/"
                    collection = Collection(url, user=READER, password=key)
                    assert collection.title == expected["title"]
                    filters = {"version": "all", "spec_version": "2.0,2.1"}
                    manifest = [
                        record
                        for page in as_pages(collection.get_manifest, per_request=3, **filters)
                        for record in page.get("objects", [])
                    ]
                    objects = [
                        obj
                        for page in as_pages(collection.get_objects, per_request=3, **filters)
                        for obj in page.get("objects", [])
                    ]
                    want_manifest = sorted(
                        (
                            m["id"],
                            version_key(m["version"]),
                            stix_timestamp_us(m["date_added"]),
                            m["media_type"],
                        )
                        for m in expected.get("manifest", [])
                    )
                    got_manifest = sorted(
                        (
                            m["id"],
                            version_key(m["version"]),
                            stix_timestamp_us(m["date_added"]),
                            m["media_type"],
                        )
                        for m in manifest
                    )
                    assert got_manifest == want_manifest
                    dates = [stix_timestamp_us(m["date_added"]) for m in manifest]
                    assert dates == sorted(dates)
                    key_of = lambda o: (o["id"], version_key(_version(o)))  # noqa: E731
                    assert sorted(objects, key=key_of) == sorted(
                        expected.get("objects", []), key=key_of
                    )
                    compared += len(objects)
            assert (
                compared
                == sum(len(c.get("objects", [])) for r in roots.values() for c in r["collections"])
                > 0
            )
        finally:
            server.stop()

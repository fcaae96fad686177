"""`next` tokens survive a crash and work on any server process sharing the secret.

Pagination is stateless: a token issued before the server is killed is
followed after it restarts, and with two server processes on one database a
poller alternating between them sees every object exactly once, even while
new objects are being published through both.
"""

from __future__ import annotations

import secrets
import uuid

import pytest
from taxii2client.v21 import Collection

from server.store.types import CollectionInfo
from tests.support.server import (
    BACKENDS,
    Client,
    PartnerSpec,
    ServerProcess,
    database,
    indicator,
    seed,
    write_config,
)

LAB = "lab-a"
LAB_IDENTITY = "identity--8f6b6a4e-3c1f-4d1e-9a53-5b1c9e0d2a11"
COLLECTION = str(uuid.uuid4())


def _seeded(url: str) -> dict[str, str]:
    return seed(
        url,
        "exchange",
        [CollectionInfo(COLLECTION, "exchange", "Feed")],
        [PartnerSpec(LAB, LAB_IDENTITY, {COLLECTION: (True, True)})],
    )


def _publish(base_url: str, key: str, count: int) -> list[str]:
    collection = Collection(
        f"{base_url}/exchange/collections/{COLLECTION}/", user=LAB, password=key
    )
    objects = [indicator(LAB_IDENTITY, name=f"n{n}") for n in range(count)]
    status = collection.add_objects({"objects": objects})
    assert status.success_count == count
    return [o["id"] for o in objects]


@pytest.mark.parametrize("backend", BACKENDS)
def test_pagination_continues_after_a_server_crash(tmp_path, backend):
    with database(backend, tmp_path) as url:
        key = _seeded(url)[LAB]
        config = write_config(tmp_path / "server.toml", url, default_page_size=7)
        server = ServerProcess(config, tmp_path / "server.log").start()
        try:
            published = []
            for _ in range(5):
                published += _publish(server.base_url, key, 5)
            client = Client(server.base_url, LAB, key)
            path = f"/exchange/collections/{COLLECTION}/objects/"
            page = client.get(path, {"limit": 7}).json()
            seen = [o["id"] for o in page["objects"]]
            restarts = 0
            while page["more"]:
                server.kill()
                server = ServerProcess(config, tmp_path / "server.log").start()
                restarts += 1
                response = Client(server.base_url, LAB, key).get(path, {"next": page["next"]})
                assert response.status_code == 200, response.text
                page = response.json()
                seen += [o["id"] for o in page.get("objects", [])]
            assert restarts == 3
            assert seen == published
        finally:
            server.stop()


@pytest.mark.parametrize("backend", BACKENDS)
def test_poller_alternating_between_two_servers_sees_everything_once(tmp_path, backend):
    with database(backend, tmp_path) as url:
        key = _seeded(url)[LAB]
        secret = secrets.token_urlsafe(32)
        servers = [
            ServerProcess(
                write_config(tmp_path / f"server{n}.toml", url, cursor_secret=secret),
                tmp_path / f"server{n}.log",
            )
            for n in range(2)
        ]
        for server in servers:
            server.start()
        try:
            published = []
            for server in servers:
                published += _publish(server.base_url, key, 10)
            path = f"/exchange/collections/{COLLECTION}/manifest/"
            clients = [Client(server.base_url, LAB, key) for server in servers]
            page = clients[0].get(path, {"limit": 3}).json()
            seen = [o["id"] for o in page["objects"]]
            turn = 0
            while page["more"]:
                turn += 1
                # Publish through the other server between pages: new objects
                # come after everything already listed and must show up too.
                published += _publish(servers[(turn + 1) % 2].base_url, key, 1)
                response = clients[turn % 2].get(path, {"next": page["next"], "limit": 3})
                assert response.status_code == 200, response.text
                page = response.json()
                seen += [o["id"] for o in page.get("objects", [])]
            assert turn >= 5  # several alternations happened
            assert len(seen) == len(set(seen))
            assert seen == published
        finally:
            for server in servers:
                server.stop()

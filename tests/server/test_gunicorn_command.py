"""The documented production command line (gunicorn's own CLI) serves the same protocol.

docs/server.md offers ``gunicorn ... 'server.wsgi:build_app()'`` as an
alternative to ``dx server serve``. That path skips our gunicorn wrapper, so
this test runs the command as documented and checks what the wrapper would
otherwise guarantee: errors gunicorn answers itself are TAXII error bodies, and
a request line long enough for a few dozen ``match[id]`` values is served.
"""

from __future__ import annotations

import http.client
import re
import sys
import uuid
from pathlib import Path

import orjson
import pytest

from server.store.types import CollectionInfo
from tests.support.server import (
    REPO,
    TAXII,
    PartnerSpec,
    ServerProcess,
    basic,
    database,
    free_port,
    new_id,
    seed,
    write_config,
)

COLLECTION = CollectionInfo(str(uuid.uuid4()), "exchange", "Indicators", alias="indicators")
LAB = "lab-a"


def documented_gunicorn_options() -> list[str]:
    """The option words of the gunicorn command in docs/server.md, without -b and the app."""
    text = (REPO / "docs" / "server.md").read_text(encoding="utf-8")
    match = re.search(r"gunicorn (.+?)\s+-b \S+ 'server\.wsgi:build_app\(\)'", text, re.S)
    assert match, "docs/server.md no longer shows the gunicorn command line"
    return [word for word in match.group(1).split() if word != "\\"]


@pytest.fixture
def gunicorn_server(tmp_path: Path):
    with database("sqlite", tmp_path) as url:
        lab = PartnerSpec(LAB, new_id("identity"), {COLLECTION.id: (True, False)})
        keys = seed(url, "exchange", [COLLECTION], [lab])
        port = free_port()
        config = write_config(tmp_path / "server.toml", url, port=port)
        options = documented_gunicorn_options()
        options[options.index("-w") + 1] = "2"  # the documented 8 workers, scaled to a test
        argv = [
            "env",
            f"DX_CONFIG={config}",
            sys.executable,
            "-m",
            "gunicorn",
            *options,
            "-b",
            f"127.0.0.1:{port}",
            "server.wsgi:build_app()",
        ]
        process = ServerProcess(config, tmp_path / "server.log", argv=argv, port=port)
        process.start()
        try:
            yield process, keys[LAB]
        finally:
            process.kill()


def raw_get(port: int, target: str, headers: dict[str, str]) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.putrequest("GET", target, skip_accept_encoding=True)
    for name, value in headers.items():
        connection.putheader(name, value)
    connection.endheaders()
    return connection.getresponse()


def test_protocol_errors_are_taxii_bodies(gunicorn_server):
    server, _key = gunicorn_server
    response = raw_get(server.port, "/taxii2/" + "a" * 9000, {})
    assert response.status == 414
    assert response.getheader("Content-Type") == TAXII
    assert orjson.loads(response.read())["http_status"] == "414"


def test_a_long_match_list_is_served(gunicorn_server):
    server, key = gunicorn_server
    ids = ",".join(new_id("indicator") for _ in range(120))  # ~6,000 characters
    target = f"/exchange/collections/{COLLECTION.id}/objects/?match[id]={ids}"
    assert 4094 < len(target) < 8190  # past gunicorn's default limit, within ours
    response = raw_get(server.port, target, {"Accept": TAXII, "Authorization": basic(LAB, key)})
    assert response.status == 200
    assert response.getheader("Content-Type") == TAXII
    assert orjson.loads(response.read()).get("objects", []) == []

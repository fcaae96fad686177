"""HTTPS served by the server itself (``tls_certfile``/``tls_keyfile``), used by taxii2-client.

A throwaway certificate authority and a server certificate for 127.0.0.1 are
made in the test with the ``cryptography`` package; the client trusts only
that CA (``verify=`` its file), as a partner would trust a private CA or a
public one. Also: a client that does not trust the CA is refused, plain HTTP
on the TLS port gets nothing, and a config naming a missing key file stops the
server at start with one line.
"""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import requests
from taxii2client.v21 import ApiRoot, Server

from server.store.types import CollectionInfo
from tests.support.server import (
    REPO,
    PartnerSpec,
    ServerProcess,
    database,
    indicator,
    seed,
    write_config,
)
from tests.support.tls import make_ca_and_server_cert

COLLECTION = str(uuid.uuid4())
IDENTITY = f"identity--{uuid.uuid4()}"


class HttpsServerProcess(ServerProcess):
    """The harness's server process, reached over HTTPS and trusted through ``ca_path``."""

    def __init__(self, config_path: Path, log_path: Path, ca_path: Path) -> None:
        super().__init__(config_path, log_path)
        self.base_url = f"https://127.0.0.1:{self.port}"
        self.ca_path = ca_path
        self.verify = ca_path


def test_server_serves_https_that_taxii2_client_trusts_through_the_ca(tmp_path, monkeypatch):
    # requests lets these variables override a session's own `verify` (the one
    # taxii2-client sets), so a client run with them set would ignore verify=.
    for variable in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.delenv(variable, raising=False)
    ca, cert, key = make_ca_and_server_cert(tmp_path)
    with database("sqlite", tmp_path) as url:
        keys = seed(
            url,
            "exchange",
            [CollectionInfo(COLLECTION, "exchange", "TLS")],
            [PartnerSpec("lab-t", IDENTITY, {COLLECTION: (True, True)})],
        )
        config = write_config(
            tmp_path / "server.toml", url, tls_certfile=str(cert), tls_keyfile=str(key)
        )
        server = HttpsServerProcess(config, tmp_path / "server.log", ca).start()
        try:
            discovery = Server(
                f"{server.base_url}/taxii2/", user="lab-t", password=keys["lab-t"], verify=str(ca)
            )
            assert discovery.title and [r.url for r in discovery.api_roots] == [
                f"{server.base_url}/exchange/"
            ]
            root = ApiRoot(
                f"{server.base_url}/exchange/", user="lab-t", password=keys["lab-t"], verify=str(ca)
            )
            (collection,) = root.collections
            published = indicator(IDENTITY)
            status = collection.add_objects({"objects": [published]})
            assert status.status == "complete" and status.success_count == 1
            served = collection.get_objects()["objects"]
            assert [o["id"] for o in served] == [published["id"]]

            # A client that does not trust the CA refuses the server...
            with pytest.raises(requests.exceptions.SSLError):
                requests.get(f"{server.base_url}/taxii2/", timeout=5)
            # ...and plain HTTP on the TLS port gets no TAXII answer.
            with pytest.raises(requests.exceptions.ConnectionError):
                requests.get(f"http://127.0.0.1:{server.port}/taxii2/", timeout=5)
        finally:
            server.kill()


def test_a_missing_key_file_stops_the_server_with_one_line(tmp_path):
    _, cert, _ = make_ca_and_server_cert(tmp_path)
    config = write_config(
        tmp_path / "server.toml",
        f"sqlite:///{tmp_path / 'x.sqlite3'}",
        tls_certfile=str(cert),
        tls_keyfile=str(tmp_path / "missing-key.pem"),
    )
    result = subprocess.run(
        [sys.executable, "-m", "server.wsgi", "--config", str(config)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "tls_keyfile" in result.stderr and "missing-key.pem" in result.stderr

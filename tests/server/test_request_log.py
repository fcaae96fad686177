"""The JSON request log of a real node: request ids, partners, and never a key.

Each request the app answers leaves one JSON line (the node's access log) with
the request id the response echoes (the client's own ``X-Request-ID`` when it
is a sane token), the authenticated partner, the status and the client
address; keys, real or tried, appear nowhere in the log.
"""

from __future__ import annotations

import base64
import re
import time
import uuid

import orjson
import pytest
import requests

from server.store.types import CollectionInfo
from tests.support.server import TAXII, PartnerSpec, basic, served

FEED = str(uuid.uuid4())
LAB_B = "identity--bbbbbbbb-2222-4222-8222-bbbbbbbbbbbb"
HANG_GUARD_S = 60.0
GENERATED = re.compile(r"[0-9a-f]{32}")


@pytest.fixture(scope="module")
def node(tmp_path_factory):
    with served(
        tmp_path_factory.mktemp("request-log"),
        "sqlite",
        [CollectionInfo(FEED, "exchange", "Feed")],
        [PartnerSpec("lab-b", LAB_B, {FEED: (True, False)})],
        workers=2,
        login_failures_per_address=0,
        login_failures_per_partner=0,
    ) as running:
        yield running


def line_for(node, request_id: str) -> dict:
    """The log line of one request (waiting only as a hang guard)."""
    deadline = time.monotonic() + HANG_GUARD_S
    while True:
        for text in node.server.log_path.read_text(encoding="utf-8").splitlines():
            if text.startswith("{") and request_id in text:
                line = orjson.loads(text)
                if line["request_id"] == request_id:
                    return line
        if time.monotonic() > deadline:
            raise AssertionError(f"no log line for {request_id}:\n{node.server.log()}")
        time.sleep(0.05)


def test_a_sane_request_id_is_kept_echoed_and_logged_with_the_partner(node):
    request_id = f"lb-{uuid.uuid4().hex}.1_x"
    response = requests.get(
        f"{node.base_url}/exchange/collections/{FEED}/objects/",
        params={"limit": "5"},
        headers={
            "Authorization": basic("lab-b", node.keys["lab-b"]),
            "Accept": TAXII,
            "X-Request-ID": request_id,
            "X-Forwarded-For": "198.51.100.7",  # not from a trusted proxy: not believed
        },
        timeout=30,
    )
    assert response.status_code == 200
    assert response.headers["X-Request-ID"] == request_id
    line = line_for(node, request_id)
    assert line["partner"] == "lab-b" and line["status"] == 200 and line["method"] == "GET"
    assert line["path"] == f"/exchange/collections/{FEED}/objects/"  # no query string
    assert line["endpoint"] == "taxii_objects.get_objects"
    assert line["remote_addr"] == "127.0.0.1"
    assert line["bytes"] == len(response.content)
    assert line["duration_ms"] >= 0 and isinstance(line["pid"], int)
    assert {"time", "user_agent"} <= line.keys()


@pytest.mark.parametrize("offered", ["has space", "x" * 129, "semi;colon", ""])
def test_an_unfit_request_id_is_replaced(node, offered):
    response = requests.get(
        f"{node.base_url}/taxii2/", headers={"X-Request-ID": offered}, timeout=30
    )
    assert response.status_code == 401
    generated = response.headers["X-Request-ID"]
    assert GENERATED.fullmatch(generated), generated
    line = line_for(node, generated)
    assert line["partner"] is None and line["status"] == 401


def test_no_key_reaches_the_log(node):
    tried = f"guess-{uuid.uuid4().hex}"
    ids = []
    for password in (node.keys["lab-b"], tried):
        request_id = uuid.uuid4().hex
        ids.append(request_id)
        requests.get(
            f"{node.base_url}/taxii2/?api_key={password}",
            headers={
                "Authorization": basic("lab-b", password),
                "Accept": TAXII,
                "X-Request-ID": request_id,
            },
            timeout=30,
        )
    lines = [line_for(node, request_id) for request_id in ids]
    assert [line["status"] for line in lines] == [200, 401]
    assert lines[0]["partner"] == "lab-b" and lines[1]["partner"] is None
    log = node.server.log_path.read_text(encoding="utf-8")
    for secret in (node.keys["lab-b"], tried):
        assert secret not in log
        assert base64.b64encode(f"lab-b:{secret}".encode()).decode() not in log

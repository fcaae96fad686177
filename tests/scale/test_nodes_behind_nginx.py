"""Three nodes behind nginx with TLS, on one PostgreSQL primary, while nodes crash.

Publishers (taxii2-client, retrying 502/503/504 and dropped connections) and
pollers (a taxii2-client loop following ``next`` then ``added_after``, and
``dx poll --follow`` with the test CA in its lab config) run through nginx's
HTTPS while a driver SIGKILLs a random node (gunicorn master and workers) after
every few acknowledged envelopes, waits for more acknowledgements with the
node down, and starts it again on the same port: at least ten kills. Then:

* the primary holds every acknowledged object (nothing acknowledged is lost);
* each poller holds exactly the server's objects, each once;
* nginx passed a POST to a second node only when the first refused the
  connection (its retry policy: GET and HEAD only once a node has the
  request), and a ``next`` token made by one node was honoured by others.
"""

from __future__ import annotations

import random
import re
import threading
import uuid
from collections import Counter
from pathlib import Path

import pytest
import requests

from server.store.types import CollectionInfo
from tests.scale.clients import (
    FollowingDxPoll,
    Publisher,
    TaxiiPoller,
    dx_poll_once,
    feed_store_versions,
    taxii_collection,
    wait_for,
    write_lab_config,
)
from tests.support.server import PartnerSpec
from tests.support.topology import API_ROOT, topology

pytestmark = pytest.mark.slow

COLLECTION = str(uuid.uuid4())
IDENTITY = f"identity--{uuid.uuid4()}"
KILLS = 10
# Acknowledged objects between kills (and while the killed node is down).
OBJECTS_PER_KILL = 20


def _upstreams(line: str) -> tuple[list[str], list[str]]:
    """The nodes nginx tried for one request (its access log line), and their statuses."""
    found = re.search(r"upstream=(.*?) upstream_status=(.*?) request_id=", line)
    assert found, line
    return found.group(1).split(", "), found.group(2).split(", ")


def test_sync_and_publish_survive_node_kills(tmp_path: Path) -> None:
    partners = [
        PartnerSpec("lab-a", IDENTITY, {COLLECTION: (True, True)}),
        PartnerSpec("lab-b", f"identity--{uuid.uuid4()}", {COLLECTION: (True, False)}),
    ]
    collections = [CollectionInfo(id=COLLECTION, api_root=API_ROOT, title="Indicators")]
    rng = random.Random()
    with topology(tmp_path, nodes=3, partners=partners, collections=collections) as t:
        url = t.collection_url(COLLECTION)
        publishers = [
            Publisher(taxii_collection(url, "lab-a", t.keys["lab-a"], t.ca_file), IDENTITY)
            for _ in range(2)
        ]
        # Small pages, so the poller follows `next` tokens made by one node on others.
        poller = TaxiiPoller(taxii_collection(url, "lab-b", t.keys["lab-b"], t.ca_file), limit=7)
        lab = write_lab_config(
            tmp_path / "lab-b", t.api_root_url, "lab-b", t.keys["lab-b"], COLLECTION, t.ca_file
        )
        following = FollowingDxPoll(lab).start()

        def acknowledged() -> int:
            return sum(publisher.count() for publisher in publishers)

        def await_more_acknowledged(count: int, what: str) -> None:
            target = acknowledged() + count
            wait_for(what, lambda: bool(errors) or acknowledged() >= target)
            assert not errors, errors

        stop_publishing, stop_polling = threading.Event(), threading.Event()
        errors: list[BaseException] = []

        def guarded(run, stop: threading.Event) -> threading.Thread:
            def body() -> None:
                try:
                    run(stop)
                except BaseException as error:
                    errors.append(error)
                    stop_publishing.set()
                    stop_polling.set()

            thread = threading.Thread(target=body, daemon=True)
            thread.start()
            return thread

        workers = [guarded(publisher.run_until, stop_publishing) for publisher in publishers]
        poll_thread = guarded(poller.run_until, stop_polling)
        kills = 0
        try:
            for _ in range(KILLS):
                await_more_acknowledged(OBJECTS_PER_KILL, "acknowledged objects")
                victim = rng.randrange(len(t.nodes))
                t.kill_node(victim)
                kills += 1
                await_more_acknowledged(
                    OBJECTS_PER_KILL // 2, f"publishing with node {victim} down"
                )
                t.restart_node(victim)
        finally:
            # Publishers first: the pollers' last round starts after the last acknowledgement.
            stop_publishing.set()
            for thread in workers:
                thread.join(timeout=300)
            stop_polling.set()
            poll_thread.join(timeout=300)
            status = following.stop()
        assert not errors, errors
        assert status == 0, following.log()
        dx_poll_once(lab)

        stored = {
            row[0]
            for row in t.primary.sql(
                "SELECT stix_id FROM objects WHERE collection_id = %s", (COLLECTION,)
            )
        }
        acked = [stix_id for publisher in publishers for stix_id in publisher.acknowledged]
        assert kills >= KILLS
        assert len(acked) >= KILLS * OBJECTS_PER_KILL
        assert set(acked) <= stored, f"{len(set(acked) - stored)} acknowledged objects lost"

        polled = Counter(stix_id for stix_id, _ in poller.received)
        assert set(polled) == stored
        assert max(polled.values()) == 1, [i for i, n in polled.items() if n > 1][:5]

        in_store = Counter(stix_id for stix_id, _ in feed_store_versions(lab, COLLECTION))
        assert set(in_store) == stored
        assert max(in_store.values()) == 1

        access = t.nginx.access_log().splitlines()
        posts = [_upstreams(line) for line in access if '"POST ' in line]
        assert posts
        # A POST moves to another node only when nginx could not connect (its 502 for a
        # refused connection): never after a node answered or timed out.
        for nodes, statuses in posts:
            assert all(status == "502" for status in statuses[:-1]), (nodes, statuses)
        nodes_seen = {_upstreams(line)[0][-1] for line in access if "next=" in line}
        assert len(nodes_seen) >= 2, "next tokens were only ever served by one node"
        # A client's request id goes through to the node and back, and into nginx's log.
        request_id = f"test-{uuid.uuid4()}"
        answer = requests.get(
            t.base_url + "taxii2/",
            headers={"X-Request-ID": request_id},
            verify=t.ca_file,
            timeout=30,
        )
        assert answer.status_code == 401
        assert answer.headers["X-Request-ID"] == request_id
        assert answer.headers["Strict-Transport-Security"].startswith("max-age=")
        # nginx and the node write their log lines after the answer has gone out.
        wait_for(
            "the client's request id in nginx's access log",
            lambda: f"request_id={request_id}" in t.nginx.access_log(),
        )
        wait_for(
            "the client's request id in a node's request log",
            lambda: any(request_id in node.process.log_path.read_text() for node in t.nodes),
        )
        unsafe = requests.get(
            t.base_url + "taxii2/", headers={"X-Request-ID": "a b"}, verify=t.ca_file, timeout=30
        )
        assert unsafe.headers["X-Request-ID"] != "a b"
        replaced = unsafe.headers["X-Request-ID"]
        wait_for(
            "the replacement request id in nginx's access log",
            lambda: f"request_id={replaced}" in t.nginx.access_log(),
        )
        print(
            f"kills={kills} acknowledged={len(acked)} stored={len(stored)} "
            f"publish_retries={sum(p.retries[0] for p in publishers)} "
            f"poll_retries={poller.retries[0]} pages={poller.pages}"
        )

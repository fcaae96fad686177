"""Prometheus metrics of a real gunicorn node: counts add up over workers and survive a crash.

A client's requests (taxii2-client and raw HTTP, over fresh connections so
that every worker serves some) must appear in ``/-/metrics`` exactly: one
count per request, by endpoint, method and status, whichever worker answers
the scrape; scrapes and probes count for nothing; a worker killed with
SIGKILL takes none of the counts with it. SQLite and PostgreSQL.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable

import orjson
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from taxii2client.v21 import Collection

from server.store import Store
from server.store.types import CollectionInfo
from tests.support.ports import free_port
from tests.support.server import (
    BACKENDS,
    TAXII,
    PartnerSpec,
    Served,
    ServerProcess,
    assert_taxii_error,
    basic,
    database,
    indicator,
    seed,
    served,
    write_config,
)

FEED = str(uuid.uuid4())
LAB_A = "identity--aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa"
LAB_B = "identity--bbbbbbbb-2222-4222-8222-bbbbbbbbbbbb"
HANG_GUARD_S = 60.0

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


@pytest.fixture(scope="module", params=BACKENDS)
def node(request, tmp_path_factory):
    directory = tmp_path_factory.mktemp(f"metrics-{request.param}")
    partners = [
        PartnerSpec("lab-a", LAB_A, {FEED: (True, True)}),
        PartnerSpec("lab-b", LAB_B, {FEED: (True, False)}),
    ]
    with served(
        directory,
        request.param,
        [CollectionInfo(FEED, "exchange", "Feed")],
        partners,
        workers=2,
        threads=2,
        login_failures_per_address=0,
        login_failures_per_partner=0,
    ) as running:
        yield running
        log = running.server.log()
    assert "Traceback" not in log, log


def scrape(base_url: str) -> Samples:
    response = requests.get(f"{base_url}/-/metrics", timeout=30)
    assert response.status_code == 200, response.text[:500]
    assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
    samples: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def requests_by_label(samples: Samples) -> dict[tuple[str, str, str], float]:
    return {
        (labels["endpoint"], labels["method"], labels["status"]): value
        for (name, items) in samples
        if name == "dx_http_requests_total"
        for labels in [dict(items)]
        for value in [samples[(name, items)]]
    }


def delta(before: Samples, after: Samples) -> Counter[tuple[str, str, str]]:
    old, new = requests_by_label(before), requests_by_label(after)
    return Counter(
        {
            key: int(value - old.get(key, 0))
            for key, value in new.items()
            if value != old.get(key, 0)
        }
    )


def wait_for(what: str, condition: Callable[[], object]) -> object:
    """Poll until ``condition`` is truthy; the time limit is a hang guard only."""
    deadline = time.monotonic() + HANG_GUARD_S
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not seen within {HANG_GUARD_S} s")
        time.sleep(0.05)


def request_lines(server: ServerProcess) -> list[dict]:
    lines = []
    for line in server.log_path.read_text(encoding="utf-8", errors="replace").splitlines():
        if line.startswith("{"):
            lines.append(orjson.loads(line))
    return lines


def pids_of(server: ServerProcess, marker: str) -> set[int]:
    return {line["pid"] for line in request_lines(server) if line["request_id"].startswith(marker)}


def fresh(node: Served, partner: str) -> Collection:
    """A taxii2-client collection on its own connection (so requests spread over workers)."""
    return Collection(node.collection_url(FEED), user=partner, password=node.keys[partner])


def test_counts_equal_the_clients_requests_over_all_workers(node):
    before = scrape(node.base_url)
    expected: Counter[tuple[str, str, str]] = Counter()
    # taxii2-client reads the collection resource before it reads or writes objects.
    for n in range(3):
        status = fresh(node, "lab-a").add_objects(
            {"objects": [indicator(LAB_A, name=f"m{n}")]}, wait_for_completion=False
        )
        assert status.success_count == 1
        expected[("taxii_collections.collection", "GET", "200")] += 1
        expected[("taxii_objects.add_objects", "POST", "202")] += 1
    for _ in range(4):
        assert len(fresh(node, "lab-b").get_objects()["objects"]) >= 3
        expected[("taxii_collections.collection", "GET", "200")] += 1
        expected[("taxii_objects.get_objects", "GET", "200")] += 1
    for _ in range(2):
        assert fresh(node, "lab-b").get_manifest()["objects"]
        expected[("taxii_collections.collection", "GET", "200")] += 1
        expected[("taxii_objects.manifest", "GET", "200")] += 1
    auth = {"Authorization": basic("lab-b", node.keys["lab-b"])}
    statuses = [
        ("/taxii2/", {}, 401, "taxii_server_info.discovery", "GET"),
        (
            "/taxii2/",
            {"Authorization": basic("lab-b", "wrong")},
            401,
            "taxii_server_info.discovery",
            "GET",
        ),
        ("/taxii2/", {**auth, "Accept": "text/html"}, 406, "taxii_server_info.discovery", "GET"),
        ("/no/such/taxii/url/", {**auth, "Accept": TAXII}, 404, "unmatched", "GET"),
        ("/taxii2/", {**auth, "Accept": TAXII}, 405, "unmatched", "PUT"),
        (
            f"/exchange/collections/{FEED}/objects/",
            {**auth, "Accept": TAXII},
            403,
            "taxii_objects.add_objects",
            "POST",
        ),
    ]
    for path, headers, status_code, endpoint, method in statuses:
        response = requests.request(method, node.base_url + path, headers=headers, timeout=30)
        assert response.status_code == status_code, (path, response.text[:300])
        expected[(endpoint, method, str(status_code))] += 1
    # Probes and scrapes in between count for nothing.
    for path in ("/-/healthz", "/-/readyz", "/-/metrics"):
        assert requests.get(node.base_url + path, timeout=30).status_code == 200
    # Until both workers have served this test: then the scrape must add up both.
    marker = f"spread-{uuid.uuid4().hex[:8]}"
    sent = 0
    while len(pids_of(node.server, marker)) < 2:
        assert sent < 400, "every request went to one worker"
        response = requests.get(
            f"{node.base_url}/taxii2/",
            headers={**auth, "Accept": TAXII, "X-Request-ID": f"{marker}-{sent}"},
            timeout=30,
        )
        assert response.status_code == 200
        sent += 1
        expected[("taxii_server_info.discovery", "GET", "200")] += 1
        # The line is written before the response is sent: this worker is known now.
    after = scrape(node.base_url)
    assert delta(before, after) == expected
    # The latency histogram saw the same requests.
    for endpoint, method in {(e, m) for e, m, _ in expected}:
        key = (
            "dx_http_request_duration_seconds_count",
            (("endpoint", endpoint), ("method", method)),
        )
        counted = after.get(key, 0) - before.get(key, 0)
        assert counted == sum(
            n for (e, m, _), n in expected.items() if (e, m) == (endpoint, method)
        )


def _gauge(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, tuple(sorted(labels.items()))))


def test_partner_activity_stored_objects_and_pool_gauges(node):
    started = time.time()
    fresh(node, "lab-a").add_objects(
        {"objects": [indicator(LAB_A, name="gauge")]}, wait_for_completion=False
    )
    fresh(node, "lab-b").get_manifest()
    samples = scrape(node.base_url)
    published = _gauge(samples, "dx_partner_last_publish_timestamp_seconds", partner="lab-a")
    polled = _gauge(samples, "dx_partner_last_poll_timestamp_seconds", partner="lab-b")
    assert published is not None and started - 1 <= published <= time.time() + 1
    assert polled is not None and started - 1 <= polled <= time.time() + 1
    # lab-b never published; lab-a's POST is not a poll.
    assert _gauge(samples, "dx_partner_last_publish_timestamp_seconds", partner="lab-b") is None
    with Store(node.database_url) as store:
        stored = store.count_objects(FEED)
    # The count is cached for a few seconds: wait until it shows this test's object.
    wait_for(
        "dx_objects_stored at the store's count",
        lambda: (
            _gauge(scrape(node.base_url), "dx_objects_stored", api_root="exchange", collection=FEED)
            == stored
        ),
    )
    size = _gauge(samples, "dx_db_pool_size")
    checked_out = _gauge(samples, "dx_db_pool_checked_out")
    assert size is not None and size >= 2  # at least a connection per worker
    assert checked_out is not None and 0 <= checked_out <= size


def _booted_workers(server: ServerProcess) -> list[int]:
    text = server.log_path.read_text(encoding="utf-8", errors="replace")
    return [int(pid) for pid in re.findall(r"Booting worker with pid: (\d+)", text)]


def test_a_killed_worker_takes_no_counts_with_it(node):
    auth = {"Authorization": basic("lab-b", node.keys["lab-b"]), "Accept": TAXII}
    marker = f"kill-{uuid.uuid4().hex[:8]}"
    for n in range(6):
        response = requests.get(
            f"{node.base_url}/taxii2/",
            headers={**auth, "X-Request-ID": f"{marker}-{n}"},
            timeout=30,
        )
        assert response.status_code == 200
    wait_for(
        "the requests' log lines",
        lambda: (
            len([x for x in request_lines(node.server) if x["request_id"].startswith(marker)]) == 6
        ),
    )
    before = scrape(node.base_url)
    pool_size = _gauge(before, "dx_db_pool_size")
    victim = sorted(pids_of(node.server, marker))[0]
    booted = len(_booted_workers(node.server))
    os.kill(victim, signal.SIGKILL)
    wait_for("a replacement worker", lambda: len(_booted_workers(node.server)) > booted)
    # The dead worker's pool gauge leaves the sum and the new worker's joins it.
    after = wait_for(
        "the pool gauges of the live workers only",
        lambda: (s := scrape(node.base_url)) and _gauge(s, "dx_db_pool_size") == pool_size and s,
    )
    assert isinstance(after, dict)
    assert delta(before, after) == Counter()
    assert requests_by_label(after) == requests_by_label(before)
    for _ in range(3):
        assert requests.get(f"{node.base_url}/taxii2/", headers=auth, timeout=30).status_code == 200
    assert delta(after, scrape(node.base_url)) == Counter(
        {("taxii_server_info.discovery", "GET", "200"): 3}
    )


def test_metrics_are_refused_outside_metrics_networks(tmp_path, monkeypatch):
    monkeypatch.setenv("DX_METRICS_NETWORKS", "10.0.0.0/8,fd00::/8")
    with served(
        tmp_path,
        "sqlite",
        [CollectionInfo(FEED, "exchange", "Feed")],
        [PartnerSpec("lab-b", LAB_B, {FEED: (True, False)})],
        workers=1,
    ) as running:
        refused = requests.get(f"{running.base_url}/-/metrics", timeout=30)
        body = assert_taxii_error(refused, 403)
        assert body["error_code"] == "metrics-not-allowed"
        assert "dx_http_requests" not in refused.text and "lab-b" not in refused.text
        # From a peer that is no trusted proxy, X-Forwarded-For is not believed.
        spoofed = requests.get(
            f"{running.base_url}/-/metrics", headers={"X-Forwarded-For": "10.1.2.3"}, timeout=30
        )
        assert_taxii_error(spoofed, 403)
        assert requests.get(f"{running.base_url}/-/healthz", timeout=30).status_code == 200


def test_the_plain_gunicorn_command_line_shares_metrics_over_workers(tmp_path):
    """``gunicorn -c python:server.observability.gunicorn_hooks ...``: one directory per run."""
    with database("sqlite", tmp_path) as url:
        keys = seed(
            url,
            "exchange",
            [CollectionInfo(FEED, "exchange", "Feed")],
            [PartnerSpec("lab-b", LAB_B, {FEED: (True, False)})],
        )
        port = free_port()
        config = write_config(tmp_path / "server.toml", url, port=port)
        argv = [
            "env",
            f"DX_CONFIG={config}",
            sys.executable,
            "-m",
            "gunicorn",
            "-c",
            "python:server.observability.gunicorn_hooks",
            "-w",
            "2",
            "-k",
            "server.buffering.BufferingThreadWorker",
            "--threads",
            "2",
            "-b",
            f"127.0.0.1:{port}",
            "server.wsgi:build_app()",
        ]
        process = ServerProcess(config, tmp_path / "server.log", argv=argv, port=port).start()
        try:
            before = scrape(process.base_url)
            headers = {"Authorization": basic("lab-b", keys["lab-b"]), "Accept": TAXII}
            marker = f"plain-{uuid.uuid4().hex[:8]}"
            sent = 0
            while len(pids_of(process, marker)) < 2:
                assert sent < 400, "every request went to one worker"
                response = requests.get(
                    f"{process.base_url}/taxii2/",
                    headers={**headers, "X-Request-ID": f"{marker}-{sent}"},
                    timeout=30,
                )
                assert response.status_code == 200
                sent += 1
            assert delta(before, scrape(process.base_url)) == Counter(
                {("taxii_server_info.discovery", "GET", "200"): sent}
            )
            assert "is not set" not in process.log()  # no single-worker warning
        finally:
            process.stop()

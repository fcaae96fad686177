"""`dx poll` failure paths: one clear line, a non-zero exit, never a traceback.

Server-side refusals (404, 401, 403) come from the real server. Outages are
real too: a port nobody listens on, and a small fault-injecting proxy on
127.0.0.1 in front of the real server that answers 500/429/503 or stalls for
the first requests (the thing under test is the client's retry logic).
"""

from __future__ import annotations

import http.server
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import requests

from exchange.feed.store import FeedStore
from exchange.lab_config import load_lab_config
from tests.feed.stix_factory import indicator, write_bundle
from tests.support.exchange import Exchange, run_dx
from tests.support.ports import free_port

FAST_RETRIES = ("--attempts", "3", "--backoff", "0.05")


def failed_poll(lab: Path, *args: str):
    done = run_dx("poll", "--config", str(lab), *FAST_RETRIES, *args, check=False)
    lines = [line for line in done.stderr.splitlines() if not line.startswith("{")]
    assert "Traceback" not in done.stderr
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("dx poll: error: ")
    return done.returncode, lines[0]


def test_server_down_is_retried_then_one_line(exchange: Exchange) -> None:
    lab = exchange.lab_config("down", api_root=f"http://127.0.0.1:{free_port()}/exchange/")
    code, line = failed_poll(lab)
    assert code == 3
    assert "connection refused" in line
    assert "gave up after 3 attempts" in line


def test_unknown_collection_id_is_404_in_one_line(exchange: Exchange) -> None:
    missing = str(uuid.uuid4())
    lab = exchange.lab_config("missing", collections=[missing])
    code, line = failed_poll(lab)
    assert code == 1
    assert missing in line
    assert "not found" in line


def test_unknown_collection_name_lists_what_is_visible(exchange: Exchange) -> None:
    lab = exchange.lab_config("unknown-name", collections=["no-such-feed"])
    code, line = failed_poll(lab)
    assert code == 1
    assert "'no-such-feed'" in line
    assert "feed" in line.split("visible:")[1]


def test_revoked_key_says_so(exchange: Exchange) -> None:
    (exchange.keys["lab-c"],) = exchange.admin(
        ["add-partner", "lab-c", "--name", "Lab C", "--identity", f"identity--{uuid.uuid4()}"]
    )
    exchange.admin(["grant", "lab-c", exchange.collection_id, "--read"])
    lab = exchange.lab_config("revoked", partner="lab-c")
    run_dx("poll", "--config", str(lab))
    exchange.admin(["revoke", "lab-c"])
    code, line = failed_poll(lab)
    assert code == 1
    assert "401" in line
    assert "revoked" in line


def test_write_only_grant_cannot_poll(exchange: Exchange) -> None:
    (exchange.keys["lab-w"],) = exchange.admin(
        ["add-partner", "lab-w", "--name", "Lab W", "--identity", f"identity--{uuid.uuid4()}"]
    )
    exchange.admin(["grant", "lab-w", exchange.collection_id, "--write"])
    code, line = failed_poll(exchange.lab_config("write-only", partner="lab-w"))
    assert code == 1
    assert "lab-w" in line


def test_missing_config_and_unusable_store_are_one_line(exchange: Exchange, tmp_path: Path) -> None:
    code, line = failed_poll(tmp_path / "nope.toml")
    assert code == 1
    assert "nope.toml" in line
    lab = exchange.lab_config("bad-store")
    load_lab_config(lab).store_path.write_bytes(b"garbage" * 1000)
    code, line = failed_poll(lab)
    assert code == 1
    assert "feed.sqlite3" in line


class FaultyProxy:
    """Forwards GETs to the real server, after answering the first ``faults`` with a fault."""

    def __init__(self, upstream: str, fault: Callable[[http.server.BaseHTTPRequestHandler], None]):
        self.upstream = upstream
        self.fault = fault
        self.faults_left = 0
        self.requests = 0
        self.port = free_port()

    def handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                proxy.requests += 1
                if proxy.faults_left > 0:
                    proxy.faults_left -= 1
                    proxy.fault(self)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                answer = requests.get(proxy.upstream + self.path, headers=headers, timeout=10)
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower().startswith(("content-type", "x-taxii", "www-auth")):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.content)))
                self.end_headers()
                self.wfile.write(answer.content)

            def log_message(self, *_args: object) -> None:
                pass

        return Handler

    @contextmanager
    def running(self) -> Iterator[FaultyProxy]:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), self.handler())
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)


def status_fault(code: int, retry_after: str | None = None):
    def fault(handler: http.server.BaseHTTPRequestHandler) -> None:
        body = b'{"title": "fault", "http_status": "%d"}' % code
        handler.send_response(code)
        handler.send_header("Content-Type", "application/taxii+json;version=2.1")
        if retry_after is not None:
            handler.send_header("Retry-After", retry_after)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return fault


def stall_fault(handler: http.server.BaseHTTPRequestHandler) -> None:
    time.sleep(1.5)
    status_fault(504)(handler)


def test_transient_faults_are_retried_and_the_sync_completes(
    exchange: Exchange, tmp_path: Path
) -> None:
    collection_id = exchange.add_collection("faults", "faults")
    objects = [indicator(f"fault-{i}", f"198.18.{i}.0/24") for i in range(5)]
    exchange.load(write_bundle(tmp_path / "faults.json", objects), collection_id)
    upstream = f"http://127.0.0.1:{exchange.port}"
    for name, fault in [
        ("500", status_fault(500)),
        ("429", status_fault(429, retry_after="0")),
        ("503", status_fault(503, retry_after="0")),
        ("slow", stall_fault),
    ]:
        proxy = FaultyProxy(upstream, fault)
        lab = exchange.lab_config(
            f"fault-{name}",
            api_root=f"http://127.0.0.1:{proxy.port}/exchange/",
            collections=[collection_id],
            timeout_seconds=0.5,
        )
        with proxy.running():
            proxy.faults_left = 2
            done = run_dx("poll", "--config", str(lab), *FAST_RETRIES, "--page-size", "2")
        assert "Traceback" not in done.stderr
        retries = [line for line in done.stderr.splitlines() if '"event":"retry"' in line]
        assert len(retries) == 2, (name, done.stderr)
        with FeedStore(load_lab_config(lab).store_path) as store:
            assert store.count_versions(collection_id) == 5, name


def test_persistent_500_gives_up_in_one_line(exchange: Exchange) -> None:
    proxy = FaultyProxy(f"http://127.0.0.1:{exchange.port}", status_fault(500))
    lab = exchange.lab_config("always-500", api_root=f"http://127.0.0.1:{proxy.port}/exchange/")
    with proxy.running():
        proxy.faults_left = 100
        code, line = failed_poll(lab)
    assert code == 3
    assert "HTTP 500" in line
    assert proxy.requests == 3

"""Slow clients cannot hold the server's threads (issue 12).

64 clients trickle bytes at a real server (2 workers x 2 threads): half send
an unauthenticated POST's headers a byte at a time, half send a partner's
complete headers and then a body that crawls. Meanwhile a partner's GETs are
answered in under a second (median). With short read deadlines, a client that
stalls gets a 408 TAXII error and is disconnected.
"""

from __future__ import annotations

import socket
import statistics
import threading
import time
import uuid

import pytest

from server.store.types import CollectionInfo
from tests.support.server import BACKENDS, TAXII, PartnerSpec, basic, served

FEED = str(uuid.uuid4())
LAB = "identity--aaaaaaaa-1111-4111-8111-aaaaaaaaaaaa"
SLOW_CLIENTS = 64
GETS = 15


def _headers_only(port: int) -> bytes:
    return (
        f"POST /exchange/collections/{FEED}/objects/ HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        f"Content-Type: {TAXII}\r\n"
        "Content-Length: 100000\r\n\r\n"
    ).encode()


def _stalled_body(port: int, key: str) -> bytes:
    head = (
        f"POST /exchange/collections/{FEED}/objects/ HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        f"Authorization: {basic('lab', key)}\r\n"
        f"Accept: {TAXII}\r\n"
        f"Content-Type: {TAXII}\r\n"
        "Content-Length: 100000\r\n\r\n"
    ).encode()
    return head + b'{"objects":[' + b" " * 100_000


class Trickler:
    """Sends each slow client's bytes a few at a time, round after round, from one thread."""

    def __init__(self, port: int, payloads: list[tuple[bytes, int]]) -> None:
        # (payload, bytes sent at once): headers go 1 byte a round; bodies start
        # with their whole headers, then crawl.
        self.sockets = []
        self.plans = []
        for payload, first in payloads:
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            self.sockets.append(sock)
            self.plans.append([payload, first])
        self.rounds = 0
        self.closed_by_server = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            for sock, plan in zip(self.sockets, self.plans, strict=True):
                payload, first = plan
                size = first if first else 1
                if not payload:
                    continue
                try:
                    sock.sendall(payload[:size])
                except OSError:
                    plan[0] = b""
                    self.closed_by_server += 1
                    continue
                plan[0], plan[1] = payload[size:], 0
            self.rounds += 1
            self._stop.wait(0.25)

    def __enter__(self) -> Trickler:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join(10)
        for sock in self.sockets:
            sock.close()

    def wait_rounds(self, rounds: int, limit_s: float = 60) -> None:
        deadline = time.monotonic() + limit_s
        while self.rounds < rounds:
            assert time.monotonic() < deadline, "the trickler made no progress"
            time.sleep(0.05)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_partner_is_served_while_64_clients_trickle(tmp_path, backend):
    partners = [PartnerSpec("lab", LAB, {FEED: (True, True)})]
    collections = [CollectionInfo(FEED, "exchange", "Feed")]
    with served(
        tmp_path,
        backend,
        collections,
        partners,
        request_header_timeout_seconds=120,
        request_body_timeout_seconds=120,
    ) as server:
        port = server.server.port
        key = server.keys["lab"]
        head_size = len(_stalled_body(port, key)) - 100_000 - len(b'{"objects":[')
        payloads = [
            (_headers_only(port), 0) if n % 2 == 0 else (_stalled_body(port, key), head_size + 5)
            for n in range(SLOW_CLIENTS)
        ]
        client = server.client("lab")
        with Trickler(port, payloads) as trickler:
            trickler.wait_rounds(8)  # every slow client is connected and sending
            latencies = []
            for _ in range(GETS):
                started = time.monotonic()
                answer = client.get(f"/exchange/collections/{FEED}/objects/")
                latencies.append(time.monotonic() - started)
                assert answer.status_code == 200, answer.text
            assert trickler.closed_by_server == 0  # they were still trickling throughout
        assert statistics.median(latencies) < 1.0, latencies
    assert "Traceback" not in server.server.log()


def _read_all(sock: socket.socket, limit_s: float) -> bytes:
    sock.settimeout(limit_s)
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


@pytest.mark.parametrize("backend", BACKENDS)
def test_stalled_headers_and_bodies_get_408_and_are_cut_off(tmp_path, backend):
    partners = [PartnerSpec("lab", LAB, {FEED: (True, True)})]
    collections = [CollectionInfo(FEED, "exchange", "Feed")]
    with served(
        tmp_path,
        backend,
        collections,
        partners,
        request_header_timeout_seconds=2,
        request_body_timeout_seconds=2,
    ) as server:
        port = server.server.port
        key = server.keys["lab"]
        stalled_head = socket.create_connection(("127.0.0.1", port), timeout=10)
        stalled_head.sendall(_headers_only(port)[:20])
        full = _stalled_body(port, key)
        stalled_body = socket.create_connection(("127.0.0.1", port), timeout=10)
        stalled_body.sendall(full[: len(full) - 100_000 + 10])
        for sock in (stalled_head, stalled_body):
            answer = _read_all(sock, 30)
            sock.close()
            assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
            assert b'"http_status":"408"' in answer and TAXII.encode() in answer
        # The server is fine afterwards.
        assert server.client("lab").get(f"/exchange/collections/{FEED}/objects/").status_code == 200
    assert "Traceback" not in server.server.log()

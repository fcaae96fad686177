"""A small fault-injecting HTTP proxy on 127.0.0.1, in front of the real exchange.

Only for the fault cases: the thing under test is the client (retries,
backoff, Retry-After, status following, one-line failures), so the proxy
answers the chosen requests with a fault and forwards everything else to
the real server unchanged.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import requests

from tests.support.ports import free_port

Fault = Callable[[http.server.BaseHTTPRequestHandler], None]

_FORWARDED_HEADERS = ("content-type", "x-taxii", "www-authenticate", "retry-after")


def status_fault(code: int, retry_after: str | None = None) -> Fault:
    """Answer with ``code`` and a TAXII error body (and Retry-After if given)."""

    def fault(handler: http.server.BaseHTTPRequestHandler) -> None:
        body = json.dumps({"title": "injected fault", "http_status": str(code)}).encode()
        handler.send_response(code)
        handler.send_header("Content-Type", "application/taxii+json;version=2.1")
        if retry_after is not None:
            handler.send_header("Retry-After", retry_after)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return fault


@dataclass(frozen=True)
class Stall:
    """A server too slow for the client: hold the request ``seconds``, then answer 504.

    With ``forward_first`` the request reaches the real server and is processed
    before the stall (the slow part is the answer, so a client that times out
    and retries sends data the server already holds); without it the server
    never sees the request.
    """

    seconds: float
    forward_first: bool = False


@dataclass
class FaultyProxy:
    """Forwards to ``upstream``; the next ``faults_left`` requests matching ``applies``
    get ``fault`` instead. ``rewrite`` may change a forwarded POST's JSON answer."""

    upstream: str
    fault: Fault | Stall
    applies: Callable[[str, str], bool] = lambda method, path: True
    rewrite: Callable[[dict], dict] | None = None
    faults_left: int = 0
    port: int = field(default_factory=free_port)
    seen: list[tuple[str, str, int]] = field(default_factory=list)
    stalled: int = 0

    def _handler(self) -> type[http.server.BaseHTTPRequestHandler]:
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _serve(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if proxy.faults_left > 0 and proxy.applies(method, self.path):
                    proxy.faults_left -= 1
                    if isinstance(proxy.fault, Stall):
                        self._stall(method, body, proxy.fault)
                        return
                    proxy.seen.append((method, self.path, -1))
                    proxy.fault(self)
                    return
                answer = self._forward(method, body)
                content = answer.content
                if method == "POST" and proxy.rewrite is not None and answer.ok:
                    content = json.dumps(proxy.rewrite(answer.json())).encode()
                proxy.seen.append((method, self.path, answer.status_code))
                self.send_response(answer.status_code)
                for name, value in answer.headers.items():
                    if name.lower().startswith(_FORWARDED_HEADERS):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                self.wfile.write(content)

            def _forward(self, method: str, body: bytes | None) -> requests.Response:
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                return requests.request(
                    method, proxy.upstream + self.path, headers=headers, data=body, timeout=30
                )

            def _stall(self, method: str, body: bytes | None, stall: Stall) -> None:
                status = self._forward(method, body).status_code if stall.forward_first else -1
                proxy.seen.append((method, self.path, status))
                proxy.stalled += 1
                time.sleep(stall.seconds)
                with contextlib.suppress(OSError):  # the client has usually hung up by now
                    status_fault(504)(self)

            def do_GET(self) -> None:
                self._serve("GET")

            def do_POST(self) -> None:
                self._serve("POST")

            def log_message(self, *_args: object) -> None:
                pass

        return Handler

    @contextmanager
    def running(self) -> Iterator[FaultyProxy]:
        server = http.server.ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            server.shutdown()
            server.server_close()
            thread.join(timeout=10)

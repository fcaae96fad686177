"""Sending hostile requests byte for byte, and judging the server's answers.

``requests`` and ``http.client`` refuse to send much of what an attacker
sends (control characters in paths, invalid header values, lying
Content-Length, raw non-UTF-8 bytes), so the fuzzer writes the request bytes
to a socket itself and lets ``http.client`` parse only the answer. One
connection per request, half-closed after sending: a body shorter than its
Content-Length then ends in EOF instead of a hung worker thread.

``problems()`` is the oracle every fuzzed request is held to: no 5xx, no
HTML, every 4xx a TAXII error body with the TAXII media type, every 2xx body
as the OpenAPI description says, and nothing in any body that reveals the
server's insides (tracebacks, SQL, driver or table names) unless the client
sent those very words itself.
"""

from __future__ import annotations

import http.client
import socket
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import orjson

from tests.reliability.fuzz_openapi import TAXII, Operation, response_errors

TIMEOUT_S = 30.0

# Text that only the server's internals would produce. Lower case; matched in
# lower-cased bodies and ignored when the request itself contains it (error
# messages may quote a client's own value back).
LEAK_MARKERS = (
    "traceback",
    'file "/',
    "sqlalchemy",
    "psycopg",
    "sqlite3",
    "operationalerror",
    "integrityerror",
    "programmingerror",
    "dataerror",
    "background on this error",
    "[sql:",
    "select ",
    "insert into",
    "update ",
    "delete from",
    " where ",
    "login_failures",
    "audit_log",
    "stix_id",
    "date_added_us",
    "exception",
    "<html",
    "werkzeug",
    "gunicorn",
)


@dataclass(frozen=True)
class RawRequest:
    """One HTTP/1.1 request as bytes on the wire (``content_length`` None: the true length)."""

    method: str
    target: bytes  # path and query string, already encoded (or deliberately not)
    headers: tuple[tuple[bytes, bytes], ...] = ()
    body: bytes | None = None
    content_length: bytes | None = None
    chunked: bool = False
    operation: Operation | None = None  # what it was built from; None for hand-made cases
    pristine: bool = False  # URL exactly as the description defines it (schema-checkable)
    label: str = ""
    expect: int | None = None  # hand-made cases may pin the exact status

    def wire(self, host: bytes) -> bytes:
        lines = [
            self.method.encode("latin-1") + b" " + self.target + b" HTTP/1.1",
            b"Host: " + host,
        ]
        lines += [name + b": " + value for name, value in self.headers]
        body = self.body
        if body is not None and self.chunked:
            lines.append(b"Transfer-Encoding: chunked")
            body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body) if body else b"0\r\n\r\n"
        elif body is not None or self.content_length is not None:
            length = self.content_length
            if length is None:
                length = str(len(body or b"")).encode()
            lines.append(b"Content-Length: " + length)
        lines.append(b"Connection: close")
        return b"\r\n".join(lines) + b"\r\n\r\n" + (body or b"")

    def text(self) -> str:
        """Everything the client sent, decoded leniently, for the leak check."""
        parts = [self.method.encode(), self.target, *(v for _, v in self.headers), self.body or b""]
        joined = b"\n".join(parts)
        decoded = joined.decode("utf-8", "replace")
        # The server decodes percent-escapes and base64 credentials; compare against those too.
        from urllib.parse import unquote_to_bytes

        return (decoded + "\n" + unquote_to_bytes(joined).decode("utf-8", "replace")).lower()


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes


def send(port: int, request: RawRequest) -> Answer:
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S) as sock:
        try:
            sock.sendall(request.wire(f"127.0.0.1:{port}".encode()))
            sock.shutdown(socket.SHUT_WR)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer (and close) before reading a huge request
        response = http.client.HTTPResponse(sock, method=request.method.upper())
        response.begin()
        body = response.read()
        headers = {name.lower(): value for name, value in response.getheaders()}
        return Answer(response.status, headers, body)


def _leaks(request: RawRequest, body: bytes) -> list[str]:
    lowered = body.decode("utf-8", "replace").lower()
    sent = request.text()
    return [
        f"body reveals {marker!r}"
        for marker in LEAK_MARKERS
        if marker in lowered and marker not in sent
    ]


def _is_head(request: RawRequest) -> bool:
    return request.method.upper() == "HEAD"


def problems(request: RawRequest, answer: Answer) -> list[str]:
    """Everything wrong with ``answer`` as a reply to ``request`` (empty: all good)."""
    found: list[str] = []
    if request.expect is not None and answer.status != request.expect:
        found.append(f"status {answer.status}, expected {request.expect}")
    if answer.status >= 500:
        found.append(f"status {answer.status}")
    if answer.headers.get("content-type") != TAXII:
        found.append(f"content-type {answer.headers.get('content-type')!r}")
    found += _leaks(request, answer.body)
    if _is_head(request):
        if answer.body:
            found.append("HEAD answered with a body")
        return found
    if answer.status >= 400:
        found += _error_body_problems(answer)
    elif request.operation is not None and request.pristine:
        found += _success_body_problems(request.operation, answer)
    return found


def _error_body_problems(answer: Answer) -> list[str]:
    try:
        body = orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        return [f"error body is not JSON: {answer.body[:200]!r}"]
    if not isinstance(body, dict):
        return ["error body is not a JSON object"]
    found = []
    if not (isinstance(body.get("title"), str) and body["title"]):
        found.append("error body has no title")
    if body.get("http_status") != str(answer.status):
        found.append(f"error body http_status {body.get('http_status')!r} != {answer.status}")
    return found


def _success_body_problems(operation: Operation, answer: Answer) -> list[str]:
    if operation.method == "DELETE":
        return [] if answer.body == b"" else ["DELETE success has a body"]
    try:
        body: Any = orjson.loads(answer.body)
    except orjson.JSONDecodeError:
        return [f"success body is not JSON: {answer.body[:200]!r}"]
    return [
        f"{operation.operation_id} {answer.status}: {e}"
        for e in response_errors(operation, answer.status, body)
    ]


@dataclass
class Tally:
    """What the fuzz sent and got, for the summary the report cites."""

    requests: int = 0
    health_checks: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    operations: Counter[str] = field(default_factory=Counter)

    slowest: list[tuple[float, str]] = field(default_factory=list)
    send_seconds: float = 0.0

    def record(self, request: RawRequest, answer: Answer, seconds: float = 0.0) -> None:
        self.requests += 1
        self.send_seconds += seconds
        self.slowest.append(
            (seconds, f"{request.method} {request.target[:80]!r} -> {answer.status}")
        )
        self.slowest = sorted(self.slowest, reverse=True)[:5]
        self.statuses[answer.status] += 1
        name = request.operation.operation_id if request.operation else request.label or "raw"
        self.operations[name] += 1

    def as_dict(self) -> dict[str, object]:
        return {
            "requests": self.requests,
            "health_checks": self.health_checks,
            "statuses": {str(k): v for k, v in sorted(self.statuses.items())},
            "operations": dict(sorted(self.operations.items())),
            "send_seconds": round(self.send_seconds, 1),
            "slowest": [[round(sec, 3), what] for sec, what in self.slowest],
        }

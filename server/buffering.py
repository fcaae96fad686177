"""A gunicorn worker that reads each request whole before a thread takes it.

Gunicorn's gthread worker hands a connection to a thread as soon as its first
byte arrives; the thread then reads headers and body with blocking calls and
no deadline. Sixteen clients trickling a byte a second were enough to hold
every thread of a default server, and a partner's GET waited behind them.

This worker does what nginx's request buffering does, in the worker's own
event loop: a connection's bytes are collected with non-blocking reads until
the headers are complete and then the whole body (``Content-Length`` bytes, or
a chunked body up to its last chunk) has arrived; only then does a thread
parse and serve the request, from memory. A client gets
``request_header_timeout_seconds`` from the moment the connection is accepted
(or, on a kept-alive connection, from its next request's first byte) to send
its headers, and ``request_body_timeout_seconds`` more for the body; past
either it is answered 408 with a TAXII error body and disconnected. Threads
only ever run complete requests, so slow clients cost a socket and their
buffered bytes, not a thread.

Bounds: a request whose declared body exceeds ``MAX_BUFFERED_BODY`` (larger
than any API root's usual ``max_content_length``), one that sends
``Expect: 100-continue``, or one arriving while the worker already buffers
``MAX_WORKER_BUFFER`` bytes is handed to a thread after its headers; that
thread's socket reads then time out after ``request_body_timeout_seconds``
of silence (the app answers 408). TLS connections (``tls_certfile``) take
gunicorn's own path: put nginx in front for TLS and buffering (docs/server.md).
"""

from __future__ import annotations

import contextlib
import errno
import selectors
import time
from dataclasses import dataclass, field
from functools import partial
from typing import Any, ClassVar

import orjson
from gunicorn import http
from gunicorn.workers.gthread import TConn, ThreadWorker

from server.taxii.media import TAXII_CONTENT_TYPE

MAX_HEADER_BYTES = 64 * 1024
MAX_BUFFERED_BODY = 16 * 1024 * 1024
MAX_WORKER_BUFFER = 256 * 1024 * 1024
_RECV_BYTES = 256 * 1024


@dataclass
class _Pending:
    """A request being collected: its bytes so far and what it still needs."""

    deadline: float
    data: bytearray = field(default_factory=bytearray)
    body_start: int | None = None  # index after the blank line, once headers are in
    total: int | None = None  # full length when Content-Length is known
    chunked: bool = False


def _header_fields(head: bytes) -> dict[bytes, bytes]:
    fields: dict[bytes, bytes] = {}
    for line in head.split(b"\r\n")[1:]:
        name, sep, value = line.partition(b":")
        if sep:
            fields[name.strip().lower()] = value.strip().lower()
    return fields


def _timeout_response(what: str) -> bytes:
    body = orjson.dumps(
        {
            "title": "Request Timeout",
            "description": f"The request {what} did not arrive in time; the connection is closed.",
            "http_status": "408",
            "error_code": "request-timeout",
        }
    )
    head = (
        "HTTP/1.1 408 Request Timeout\r\n"
        "Connection: close\r\n"
        f"Content-Type: {TAXII_CONTENT_TYPE}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode("latin-1") + body


class _Conn(TConn):
    """A connection whose blocking reads in a thread give up after the body timeout."""

    read_timeout: ClassVar[float] = 120.0

    def init(self) -> None:
        super().init()
        # gthread re-blocks the socket before each request (no timeout); set one.
        self.sock.settimeout(self.read_timeout)


class BufferingThreadWorker(ThreadWorker):
    """gthread, with each request collected in the event loop before a thread serves it."""

    header_timeout: ClassVar[float] = 10.0
    body_timeout: ClassVar[float] = 120.0

    @classmethod
    def configure(cls, header_timeout: float, body_timeout: float) -> None:
        """Set the timeouts (in the master, before workers fork)."""
        cls.header_timeout = header_timeout
        cls.body_timeout = body_timeout
        _Conn.read_timeout = body_timeout

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._pending: dict[_Conn, _Pending] = {}
        self._buffered = 0

    # -- where connections come in ------------------------------------------------

    def accept(self, listener: Any) -> None:
        try:
            client_sock, client_addr = listener.accept()
        except OSError as error:
            if error.errno not in (errno.EAGAIN, errno.ECONNABORTED, errno.EWOULDBLOCK):
                raise
            return
        self.nr_conns += 1
        conn = _Conn(self.cfg, client_sock, client_addr, listener.getsockname())
        if self.cfg.is_ssl:
            client_sock.setblocking(True)
            self.enqueue_req(conn)
            return
        self._collect(conn)

    def on_client_socket_readable(self, conn: Any, client: Any) -> None:
        """A kept-alive connection has a next request: collect it too."""
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        if self.cfg.is_ssl:
            self.enqueue_req(conn)
            return
        self._collect(conn)

    # -- collecting a request -------------------------------------------------------

    def _collect(self, conn: _Conn) -> None:
        conn.sock.setblocking(False)
        self._pending[conn] = _Pending(deadline=time.monotonic() + self.header_timeout)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._on_bytes, conn))

    def _on_bytes(self, conn: _Conn, _client: Any) -> None:
        pending = self._pending.get(conn)
        if pending is None:
            return
        try:
            data = conn.sock.recv(_RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:
            if pending.data:
                # The client stopped sending mid-request (half-closed): gunicorn and
                # the app answer what arrived, as they would without buffering.
                self._hand_over(conn, pending)
            else:
                self._drop(conn, pending)
            return
        pending.data += data
        self._buffered += len(data)
        if self._complete(pending):
            self._hand_over(conn, pending)

    def _complete(self, pending: _Pending) -> bool:
        """Whether a thread can take the request now (whole, or too big to keep here)."""
        data = pending.data
        if pending.body_start is None:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                return len(data) > MAX_HEADER_BYTES  # gunicorn will refuse it
            pending.body_start = end + 4
            pending.deadline = time.monotonic() + self.body_timeout
            fields = _header_fields(bytes(data[:end]))
            if fields.get(b"expect") == b"100-continue":
                return True  # the client waits for gunicorn's 100 Continue
            encoding = fields.get(b"transfer-encoding")
            if encoding is not None and (encoding != b"chunked" or b"content-length" in fields):
                return True  # anything unusual: gunicorn's parser decides (mostly 400)
            if encoding == b"chunked":
                pending.chunked = True
            else:
                try:
                    length = int(fields.get(b"content-length", b"0") or b"0")
                except ValueError:
                    return True  # gunicorn answers the malformed header
                if length > MAX_BUFFERED_BODY or length < 0:
                    return True  # the app refuses it from the header alone (413)
                pending.total = pending.body_start + length
        if self._buffered > MAX_WORKER_BUFFER:
            return True
        if pending.chunked:
            body = data[pending.body_start :]
            return (
                (body.startswith(b"0\r\n") and body.endswith(b"\r\n\r\n"))
                or body.endswith(b"\r\n0\r\n\r\n")
                or len(body) > MAX_BUFFERED_BODY
            )
        assert pending.total is not None
        return len(data) >= pending.total

    def _hand_over(self, conn: _Conn, pending: _Pending) -> None:
        self._forget(conn, pending)
        if conn.parser is None:
            conn.parser = http.get_parser(self.cfg, conn.sock, conn.client)
        conn.parser.unreader.unread(bytes(pending.data))
        conn.data_ready = True
        self.enqueue_req(conn)

    def _forget(self, conn: _Conn, pending: _Pending) -> None:
        self._pending.pop(conn, None)
        self._buffered -= len(pending.data)
        with contextlib.suppress(KeyError, ValueError, OSError):
            self.poller.unregister(conn.sock)

    def _drop(self, conn: _Conn, pending: _Pending, answer: bytes = b"") -> None:
        self._forget(conn, pending)
        if answer:
            with contextlib.suppress(OSError):
                conn.sock.send(answer)
        self.nr_conns -= 1
        conn.close()

    # -- deadlines ------------------------------------------------------------------

    def murder_pending(self) -> None:
        """gthread's expiry of idle connections, plus the request read deadlines."""
        super().murder_pending()
        now = time.monotonic()
        for conn, pending in list(self._pending.items()):
            if now >= pending.deadline:
                what = "headers" if pending.body_start is None else "body"
                if pending.data or pending.body_start is not None:
                    self._drop(conn, pending, _timeout_response(what))
                else:
                    self._drop(conn, pending)

"""Loopback ports for test servers, safe when tests run in parallel on a busy machine.

``bind(("127.0.0.1", 0))`` hands out a port from the kernel's ephemeral range,
the range every outgoing connection also takes its local port from: a port
found free there can be taken by a client connection (the load and crash
tests open thousands) before the server binds it, and then the server's start
fails, or a probe reaches someone else's server. Ports here come from just
below the ephemeral range, at random, and are checked bindable; a port is
never handed out twice by one process. ``ServerProcess`` also waits for its
own gunicorn's "Listening at" line, so a port taken in between is an error
that says so, never a test talking to another server.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

_handed_out: set[int] = set()
_random = random.SystemRandom()


def _port_range() -> tuple[int, int]:
    """[low, high) below the ephemeral range (Linux default 32768-60999)."""
    try:
        ephemeral_low = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        ephemeral_low = 32768
    high = max(ephemeral_low, 12_000)
    return max(1024, high - 12_000), high


def free_port() -> int:
    low, high = _port_range()
    for _ in range(500):
        port = _random.randrange(low, high)
        if port in _handed_out:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        _handed_out.add(port)
        return port
    raise RuntimeError(f"no free loopback port in {low}-{high}")

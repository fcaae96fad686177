"""One JSON line per request, the node's access log (logger ``dx.request``).

A line carries what an operator needs to follow one request across the load
balancer, the node and the partner's own logs: the request id (the client's
``X-Request-ID`` when it sent a sane one, else a new one; echoed in the
response), the partner, the status, the duration. It never carries a header
value other than the request id and the user agent, nor the query string: no
credential can reach the log, even one a confused client put in the URL.
"""

from __future__ import annotations

import logging
import logging.handlers
import re
import secrets
import sys
from typing import Any

import orjson

LOGGER_NAME = "dx.request"
HEADER = "X-Request-ID"
_SANE_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
MAX_PATH_CHARS = 2048
MAX_AGENT_CHARS = 256

logger = logging.getLogger(LOGGER_NAME)


def request_id(incoming: str | None) -> str:
    """The client's id when it is a short token (safe in logs and headers), else a new one."""
    if incoming is not None and _SANE_ID.fullmatch(incoming):
        return incoming
    return secrets.token_hex(16)


def configure(destination: str) -> None:
    """Send request lines to ``destination`` ("-": stdout, else a file) in this process.

    A file is reopened when logrotate moves it (WatchedFileHandler).
    """
    for old in list(logger.handlers):
        logger.removeHandler(old)
        old.close()
    handler: logging.Handler
    if destination == "-":
        handler = logging.StreamHandler(sys.stdout)
    else:
        handler = logging.handlers.WatchedFileHandler(destination, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False  # one line, not a second copy through the root logger


def emit(fields: dict[str, Any]) -> None:
    try:
        line = orjson.dumps(fields).decode()
    except TypeError:  # e.g. a lone surrogate in a path
        safe = {
            key: repr(value) if isinstance(value, str) else value for key, value in fields.items()
        }
        line = orjson.dumps(safe).decode()
    logger.info(line)

"""Structured logs: one JSON object per line on stderr.

Pollers run under cron or a service manager whose logs are shipped to a log
store, so each line is a self-contained JSON object (``event`` plus fields
such as ``collection``, ``objects``, ``cursor``, ``duration_ms``) that can be
filtered without parsing prose.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Any, TextIO

import orjson


class JsonLog:
    """Writes events as JSON lines; ``quiet`` keeps only warnings and errors."""

    def __init__(self, stream: TextIO | None = None, *, quiet: bool = False) -> None:
        self._stream = stream
        self.quiet = quiet

    def event(self, event: str, *, level: str = "info", **fields: Any) -> None:
        if self.quiet and level == "info":
            return
        record = {
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": level,
            "event": event,
            **fields,
        }
        stream = self._stream or sys.stderr
        stream.write(orjson.dumps(record, default=str).decode("utf-8") + "\n")
        stream.flush()

    def warning(self, event: str, **fields: Any) -> None:
        self.event(event, level="warning", **fields)

    def error(self, event: str, **fields: Any) -> None:
        self.event(event, level="error", **fields)

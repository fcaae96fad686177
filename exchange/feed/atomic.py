"""Replace a file so that readers see the old content or the new, never a torn mix.

Enforcement systems (nginx reloads, firewall loaders, watchlist readers) may
read an artifact at any moment, and a crash may hit at any moment: the new
content goes to a temporary file in the same directory (same file system, so
the rename is atomic), is flushed to disk, and then renamed over the old
name; the directory is synced so the rename itself survives a power cut.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from exchange.feed.errors import FeedError


def write_atomically(path: Path, content: bytes) -> None:
    """Write ``content`` to ``path`` atomically; errors become one FeedError line."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise FeedError(f"{path}: cannot write: {exc.strerror}") from None
    try:
        with os.fdopen(handle, "wb") as temp:
            temp.write(content)
            temp.flush()
            os.fsync(temp.fileno())
        os.chmod(temp_name, 0o644)
        os.replace(temp_name, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            os.unlink(temp_name)
        raise FeedError(f"{path}: cannot write: {exc.strerror}") from None
    _sync_directory(path.parent)


def _sync_directory(directory: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

"""Writing a command's output all at once, or not at all.

A half-written bundle is worse than none: a cron job could publish it, and an
existing good file would be lost. So output goes to a temporary file in the
target's directory (same file system, so the final rename is atomic) and
replaces the target only when everything succeeded. ``-`` means standard
output; there the bytes are held in memory until commit, so a failure still
prints nothing.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import IO

STDOUT = "-"


class OutputError(Exception):
    """The output cannot be written; the message is one line naming the path."""


def check_output_target(target: str | Path) -> None:
    """Fail before doing any work when the output obviously cannot be written."""
    if str(target) == STDOUT:
        return
    path = Path(target)
    if path.is_dir():
        raise OutputError(f"{target}: is a directory; give a file name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{target}: the directory {parent} does not exist")


def _new_file_mode() -> int:
    """The mode a plainly created file would get (0666 minus the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


class AtomicOutput:
    """``with AtomicOutput(path) as out: out.write(b"..."); out.commit()``.

    Leaving the block without ``commit()`` (an exception, an error exit)
    discards everything written; the target is never created or truncated.
    """

    def __init__(self, target: str | Path) -> None:
        self.target = str(target)
        self._buffer: IO[bytes] | None = None
        self._temp_path: Path | None = None
        self._committed = False

    def __enter__(self) -> AtomicOutput:
        if self.target == STDOUT:
            self._buffer = io.BytesIO()
            return self
        path = Path(self.target)
        directory = path.parent if str(path.parent) else Path(".")
        try:
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
        except OSError as exc:
            raise OutputError(f"{self.target}: cannot write: {exc.strerror or exc}") from None
        self._temp_path = Path(name)
        self._buffer = os.fdopen(fd, "wb")
        return self

    def write(self, data: bytes | memoryview) -> None:
        self.writelines([data])

    def writelines(self, chunks: Iterable[bytes | memoryview]) -> None:
        """Write ``chunks`` in order; a full disk or a file size limit is an
        ``OutputError`` naming the target (the temporary file is then removed)."""
        assert self._buffer is not None, "use AtomicOutput as a context manager"
        try:
            self._buffer.writelines(chunks)
        except OSError as exc:
            raise OutputError(f"{self.target}: cannot write: {exc.strerror or exc}") from None

    def commit(self) -> None:
        """Make the output visible: flush to stdout, or rename over the target."""
        assert self._buffer is not None
        if self.target == STDOUT:
            assert isinstance(self._buffer, io.BytesIO)
            sys.stdout.buffer.write(self._buffer.getvalue())
            sys.stdout.buffer.flush()
            self._committed = True
            return
        assert self._temp_path is not None
        path = Path(self.target)
        try:
            self._buffer.flush()
            os.fsync(self._buffer.fileno())
            self._buffer.close()
            existing = path.stat().st_mode & 0o777 if path.exists() else _new_file_mode()
            os.chmod(self._temp_path, existing)
            os.replace(self._temp_path, path)
        except OSError as exc:
            raise OutputError(f"{self.target}: cannot write: {exc.strerror or exc}") from None
        self._committed = True

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._buffer is not None and not self._buffer.closed:
            self._buffer.close()
        if self._temp_path is not None and not self._committed:
            with contextlib.suppress(FileNotFoundError):
                self._temp_path.unlink()


def write_atomically(target: str | Path, data: bytes) -> None:
    """Write ``data`` to ``target`` (or stdout for ``-``) in one atomic step."""
    write_chunks_atomically(target, [data])


def write_chunks_atomically(target: str | Path, chunks: Iterable[bytes | memoryview]) -> None:
    """Write ``chunks`` one after another to ``target`` (or stdout) in one atomic step;
    a large bundle is written from its pieces without first being joined."""
    with AtomicOutput(target) as out:
        out.writelines(chunks)
        out.commit()

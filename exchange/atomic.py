"""Writing a file all at once, or not at all: the lab side's one file writer.

A half-written bundle is worse than none (a cron job could publish it, and an
existing good file would be lost), and an enforcement system may read an
artifact at any moment. So output goes to a temporary file in the target's
directory (same file system, so the final rename is atomic), is flushed and
fsynced, then renamed over the target, and the directory is fsynced so the
rename itself survives a power cut. Readers see the old content or the new,
never a mix; a failure leaves the old file as it was and no temporary behind.

``-`` means standard output; there the bytes are held until commit (in
memory while small, then in an anonymous temporary file), so a failure
still prints nothing and a large output does not fill memory.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from types import TracebackType
from typing import IO

from exchange.errors import DxError

STDOUT = "-"
"""The output name that means standard output."""
_STDOUT_IN_MEMORY = 16 << 20


class OutputError(DxError):
    """The output cannot be written; the message is one line naming the path."""


class OutputExists(OutputError):
    """An ``exclusive`` write found the target already there (it is left as it was)."""


def is_stdout(target: str | Path) -> bool:
    return str(target) == STDOUT


def check_output_target(target: str | Path) -> None:
    """Fail before doing any work when the output obviously cannot be written."""
    if is_stdout(target):
        return
    path = Path(target)
    if path.is_dir():
        raise OutputError(f"{target}: is a directory; give a file name")
    parent = path.parent if str(path.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"{target}: the directory {parent} does not exist")


def sync_directory(directory: Path) -> None:
    """fsync a directory so renames and new names in it survive a power cut.

    Best effort: some file systems refuse to open or sync a directory, and the
    data itself is already synced by then.
    """
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _new_file_mode() -> int:
    """The mode a plainly created file would get (0666 minus the umask)."""
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def _cannot_write(target: str, exc: OSError) -> OutputError:
    return OutputError(f"{target}: cannot write: {exc.strerror or exc}")


class AtomicOutput:
    """``with AtomicOutput(path) as out: out.write(b"..."); out.commit()``.

    Leaving the block without ``commit()`` (an exception, an error exit)
    discards everything written; the target is never created or truncated.
    ``mode`` sets the file's permissions (e.g. 0o600 for secrets); by default
    a replaced file keeps its mode and a new one gets the umask's.
    ``exclusive`` never replaces an existing file (``OutputExists``): the
    complete file appears under its name with one hard link, or not at all.
    """

    def __init__(
        self, target: str | Path, *, mode: int | None = None, exclusive: bool = False
    ) -> None:
        self.target = str(target)
        self._mode = mode
        self._exclusive = exclusive
        self._buffer: IO[bytes] | None = None
        self._temp_path: Path | None = None
        self._committed = False

    def __enter__(self) -> AtomicOutput:
        if is_stdout(self.target):
            self._buffer = tempfile.SpooledTemporaryFile(max_size=_STDOUT_IN_MEMORY)
            return self
        path = Path(self.target)
        directory = path.parent if str(path.parent) else Path(".")
        try:
            fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
        except OSError as exc:
            raise _cannot_write(self.target, exc) from None
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
            raise _cannot_write(self.target, exc) from None

    def commit(self) -> None:
        """Make the output visible: flush to stdout, or sync and rename over the target."""
        assert self._buffer is not None
        if is_stdout(self.target):
            self._buffer.seek(0)
            shutil.copyfileobj(self._buffer, sys.stdout.buffer)
            sys.stdout.buffer.flush()
            self._committed = True
            return
        assert self._temp_path is not None
        path = Path(self.target)
        try:
            self._buffer.flush()
            os.fsync(self._buffer.fileno())
            self._buffer.close()
            if self._mode is not None:
                mode = self._mode
            else:
                mode = path.stat().st_mode & 0o777 if path.exists() else _new_file_mode()
            os.chmod(self._temp_path, mode)
            if self._exclusive:
                os.link(self._temp_path, path)  # fails if the name exists, atomically
                self._temp_path.unlink()
            else:
                os.replace(self._temp_path, path)
        except FileExistsError:
            raise OutputExists(f"{self.target}: already exists") from None
        except OSError as exc:
            raise _cannot_write(self.target, exc) from None
        self._committed = True
        sync_directory(path.parent if str(path.parent) else Path("."))

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


def write_atomically(
    target: str | Path, data: bytes, *, mode: int | None = None, exclusive: bool = False
) -> None:
    """Write ``data`` to ``target`` (or stdout for ``-``) in one atomic step."""
    write_chunks_atomically(target, [data], mode=mode, exclusive=exclusive)


def write_chunks_atomically(
    target: str | Path,
    chunks: Iterable[bytes | memoryview],
    *,
    mode: int | None = None,
    exclusive: bool = False,
) -> None:
    """Write ``chunks`` one after another to ``target`` (or stdout) in one atomic step;
    a large bundle is written from its pieces without first being joined."""
    with AtomicOutput(target, mode=mode, exclusive=exclusive) as out:
        out.writelines(chunks)
        out.commit()

"""Replace a file so that readers see the old content or the new, never a torn mix.

Enforcement systems (nginx reloads, firewall loaders, watchlist readers) may
read an artifact at any moment, and a crash may hit at any moment: the new
content goes to a temporary file in the same directory (same file system, so
the rename is atomic), is flushed to disk, and then renamed over the old
name; the directory is synced so the rename itself survives a power cut.

``write_file_set`` goes one step further for files that belong together (a
blocklist and a watchlist from one feed): they are written into a new
directory and one symlink rename switches all of them at once. POSIX only
(symlinks, ``flock``), like the enforcement systems that read them.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import secrets
import shutil
import tempfile
from collections.abc import Iterator, Mapping
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


# A set of files published together (the enforcement artifacts). Each run writes
# a new generation directory, then one rename swaps CURRENT_LINK to it; every
# published name is a symlink through CURRENT_LINK, so all names change at once.
CURRENT_LINK = ".dx-current"
GENERATION_PREFIX = ".dx-gen-"
LINK_TEMP_PREFIX = ".dx-link-"
LOCK_NAME = ".dx-write.lock"


def write_file_set(directory: Path, contents: Mapping[str, bytes]) -> None:
    """Publish ``contents`` (name -> bytes) in ``directory`` as one consistent set.

    ``directory/NAME`` stays a readable, complete file at every instant (a
    symlink to ``CURRENT_LINK/NAME``), and one rename of ``CURRENT_LINK``
    switches every name to the new generation at once. A reader that needs
    files from one run resolves ``CURRENT_LINK`` once and reads through the
    resolved directory. The previous generation is kept (for such a reader
    still at work) and older ones, or leftovers of a killed run, are removed.
    Concurrent writers to one directory take turns on a lock file. Errors
    become one FeedError line.
    """
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with _exclusive_lock(directory / LOCK_NAME):
            previous = _link_target(directory / CURRENT_LINK)
            generation = Path(tempfile.mkdtemp(prefix=GENERATION_PREFIX, dir=directory))
            os.chmod(generation, 0o755)
            for name, content in contents.items():
                _write_synced(generation / name, content)
            _sync_directory(generation)
            _point(directory / CURRENT_LINK, generation.name)
            for name in contents:
                target = f"{CURRENT_LINK}/{name}"
                if _link_target(directory / name) != target:
                    _point(directory / name, target)  # first run, or a new name
            _sync_directory(directory)
            _remove_leftovers(directory, keep={generation.name, previous})
    except OSError as exc:
        where = exc.filename or directory
        raise FeedError(f"{where}: cannot write: {exc.strerror}") from None


@contextlib.contextmanager
def _exclusive_lock(path: Path) -> Iterator[None]:
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


def _write_synced(path: Path, content: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    os.chmod(path, 0o644)


def _link_target(path: Path) -> str | None:
    try:
        return os.readlink(path)
    except OSError:  # missing, or a regular file left by an older dx act
        return None


def _point(link: Path, target: str) -> None:
    """Make ``link`` a symlink to ``target`` with one rename (readers never see it missing)."""
    temp = link.parent / f"{LINK_TEMP_PREFIX}{secrets.token_hex(8)}"
    os.symlink(target, temp)
    try:
        os.replace(temp, link)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _remove_leftovers(directory: Path, keep: set[str | None]) -> None:
    for entry in directory.iterdir():
        if entry.name.startswith(GENERATION_PREFIX) and entry.name not in keep:
            shutil.rmtree(entry, ignore_errors=True)
        elif entry.name.startswith(LINK_TEMP_PREFIX):
            with contextlib.suppress(OSError):
                entry.unlink()

"""Replace a set of files so that readers see the old set or the new, never a mix.

Enforcement systems (nginx reloads, firewall loaders, watchlist readers) may
read an artifact at any moment, and a crash may hit at any moment. One file is
replaced with ``exchange.atomic`` (the lab side's one file writer);
``write_file_set`` goes one step further for files that belong together (a
blocklist and a watchlist from one feed): each is written, with that writer,
into a new directory, and one symlink rename switches all of them at once.
POSIX only (symlinks, ``flock``), like the enforcement systems that read them.
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

from exchange.atomic import sync_directory, write_atomically
from exchange.feed.errors import FeedError

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
                write_atomically(generation / name, content, mode=0o644)
            sync_directory(generation)
            _point(directory / CURRENT_LINK, generation.name)
            for name in contents:
                target = f"{CURRENT_LINK}/{name}"
                if _link_target(directory / name) != target:
                    _point(directory / name, target)  # first run, or a new name
            sync_directory(directory)
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

"""The directory through which a node's gunicorn workers share their metrics.

prometheus-client's multiprocess mode has each worker write its values to
memory-mapped files in ``$PROMETHEUS_MULTIPROC_DIR``; a scrape, answered by
any one worker, reads and aggregates the files of all of them. The directory
must belong to one server run: files left by an earlier run would be added to
this one's (live gauges of workers long gone would never leave), so the
gunicorn master empties it before forking workers and removes a dead worker's
live gauges when it exits (``mark_dead``).

When the operator names no directory, the master makes one per run under the
system temporary directory (``dx-metrics-<uid>/<master pid>``) and removes it
at exit; directories of earlier runs whose master is gone (killed without a
chance to clean up) are swept at the next start.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import stat
import tempfile
from collections.abc import MutableMapping
from pathlib import Path

from prometheus_client import multiprocess, values

log = logging.getLogger(__name__)

ENV = "PROMETHEUS_MULTIPROC_DIR"


def is_enabled(environ: MutableMapping[str, str] | None = None) -> bool:
    return bool((os.environ if environ is None else environ).get(ENV))


def _private_base() -> Path:
    """``$TMPDIR/dx-metrics-<uid>``, ours alone (created 0700; refused if someone else's)."""
    base = Path(tempfile.gettempdir()) / f"dx-metrics-{os.getuid()}"
    base.mkdir(mode=0o700, exist_ok=True)
    info = base.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        raise OSError(f"{base}: not a private directory of this user; set {ENV}")
    return base


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _sweep_stale(base: Path) -> None:
    for entry in base.iterdir():
        if entry.name.isdigit() and not _alive(int(entry.name)):
            shutil.rmtree(entry, ignore_errors=True)


def _empty(directory: Path) -> None:
    for entry in directory.glob("*.db"):  # only what prometheus-client writes
        with contextlib.suppress(FileNotFoundError):
            entry.unlink()


def prepare(environ: MutableMapping[str, str] | None = None) -> Path | None:
    """In the gunicorn master, before workers fork: an empty metrics directory for this run.

    Returns the directory when it was made here (the caller removes it at
    exit with ``remove``), None when the operator named it in
    ``$PROMETHEUS_MULTIPROC_DIR`` (then it is only emptied).
    """
    environ = os.environ if environ is None else environ
    given = environ.get(ENV)
    created: Path | None = None
    if given:
        directory = Path(given)
        directory.mkdir(parents=True, exist_ok=True)
    else:
        base = _private_base()
        _sweep_stale(base)
        directory = created = base / str(os.getpid())
        directory.mkdir(mode=0o700, exist_ok=True)
        environ[ENV] = str(directory)
    _empty(directory)
    # prometheus-client chooses where values live when it is first imported,
    # which in this process happened before the directory was known: ask it
    # to choose again, once, before any metric exists and before the fork.
    if values.ValueClass.__name__ != "MmapedValue":
        values.ValueClass = values.get_value_class()
    return created


def remove(directory: Path | None) -> None:
    if directory is not None:
        shutil.rmtree(directory, ignore_errors=True)


def mark_dead(pid: int) -> None:
    """A worker exited: its live gauges (database pool) no longer count; its counters stay."""
    if is_enabled():
        multiprocess.mark_process_dead(pid)

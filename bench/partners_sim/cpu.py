"""CPU seconds used so far by the server's processes and by the database serving it.

Read from ``/proc``, so on a shared machine it counts the work done, not the
time spent waiting for a core. A process tree (a gunicorn master and its
workers, a PostgreSQL postmaster and its backends) is counted whole: every
live process's own time plus the time of children already reaped, which the
kernel adds to the parent (``cutime``, ``cstime``); so a worker or a backend
that exits during the measurement keeps counting. On a shared PostgreSQL
cluster the postmaster serves other databases too, so there only the live
backends connected to the exchange's database (``pg_stat_activity``) are
counted, which misses connections that open and close between two readings.
"""

from __future__ import annotations

import os
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int, *, reaped_children: bool = False) -> float:
    """utime + stime, and with ``reaped_children`` also cutime + cstime."""
    with suppress(OSError, IndexError, ValueError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ticks = int(fields[11]) + int(fields[12])
        if reaped_children:
            ticks += int(fields[13]) + int(fields[14])
        return ticks / _TICKS
    return 0.0


def tree_cpu_s(root: int) -> float:
    """A parent with its live children and everything its reaped children used."""
    children = [pid for pid in _process_tree(root) if pid != root]
    return _cpu_s(root, reaped_children=True) + sum(
        _cpu_s(pid, reaped_children=True) for pid in children
    )


def _process_tree(pid: int) -> list[int]:
    """``pid`` and its children (gunicorn's master and its workers)."""
    found = [pid]
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with suppress(OSError, IndexError, ValueError):
                stat = (entry / "stat").read_text()
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
    return found


@dataclass
class Meters:
    """CPU seconds so far of the server's processes and of this database's backends."""

    server_pids: list[int]  # gunicorn masters, one per node
    database_urls: list[str]  # the primary's database, and a replica's if reads go there
    postmaster_pids: list[int] = field(default_factory=list)  # clusters the exchange owns

    def backends(self) -> list[int]:
        pids = []
        for url in self.database_urls:
            conninfo = url.replace("+psycopg", "")
            with psycopg.connect(conninfo, autocommit=True) as connection:
                rows = connection.execute(
                    "SELECT pid FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                ).fetchall()
            pids += [row[0] for row in rows]
        return pids

    def read(self) -> tuple[float, float]:
        server = sum(tree_cpu_s(root) for root in self.server_pids)
        if self.postmaster_pids:
            database = sum(tree_cpu_s(root) for root in self.postmaster_pids)
        else:
            database = sum(_cpu_s(pid) for pid in self.backends())
        return server, database

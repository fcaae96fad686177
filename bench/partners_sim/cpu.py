"""CPU seconds used so far by the server's processes and by the database backends serving it.

Read from ``/proc`` (utime + stime), so on a shared machine it counts the work
done, not the time spent waiting for a core. The database side is every
backend connected to the exchange's database (``pg_stat_activity``), which
leaves out the other databases of a shared PostgreSQL cluster.
"""

from __future__ import annotations

import os
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import psycopg

_TICKS = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    with suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime
    return 0.0


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
        server = sum(_cpu_s(pid) for root in self.server_pids for pid in _process_tree(root))
        database = sum(_cpu_s(pid) for pid in self.backends())
        return server, database

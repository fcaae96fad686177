"""When a process refreshes the planner's statistics: each time its inserts double.

Why: PostgreSQL plans a page ("is_latest, ORDER BY date_added_us, seq LIMIT
101") from the table's statistics. On a table filled faster than autovacuum
looks at it, the statistics still say "a handful of rows", and the planner
then reads every matching row and sorts them instead of walking the index:
the first page of a freshly loaded 10,000-object collection took 28 ms
instead of 0.3 ms, and the cost grows with N. Running ANALYZE when this
process's inserted rows pass 1,000, 2,000, 4,000, ... keeps the statistics
within a factor of two of the truth (times the number of worker processes)
at a cost of a few ANALYZEs per doubling: PostgreSQL samples a fixed 30,000
rows, SQLite is bounded by ``PRAGMA analysis_limit`` (see ``engine``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass

FIRST_THRESHOLD = 1_000


@dataclass
class AnalyzeSchedule:
    inserted: int = 0
    next_threshold: int = FIRST_THRESHOLD

    def record_inserted(self, rows: int) -> bool:
        """Count ``rows`` new rows; True when statistics should be refreshed now."""
        self.inserted += rows
        if self.inserted < self.next_threshold:
            return False
        while self.next_threshold <= self.inserted:
            self.next_threshold *= 2
        return True


class BackgroundRefresh:
    """Runs ``refresh`` on a thread of its own, never two at once.

    Why: on PostgreSQL an ANALYZE of the objects table takes about 200 ms; run
    inside the POST that crossed a threshold, the publisher waited for it (a
    tenth of the time of a 100,000-object publish). The POST has committed by
    then, so nothing the publisher is told depends on it. A request made while
    a refresh runs makes it run once more when it ends, so the last growth is
    always counted.
    """

    def __init__(self, refresh: Callable[[], None]) -> None:
        self._refresh = refresh
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._again = False

    def request(self) -> None:
        with self._lock:
            if self._thread is not None:
                self._again = True
                return
            self._thread = threading.Thread(
                target=self._run, name="dx-statistics-refresh", daemon=True
            )
            self._thread.start()

    def _run(self) -> None:
        while True:
            self._refresh()
            with self._lock:
                if not self._again:
                    self._thread = None
                    return
                self._again = False

    def wait(self, timeout: float | None = None) -> None:
        """Let a running refresh finish (a process about to exit, a test)."""
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

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

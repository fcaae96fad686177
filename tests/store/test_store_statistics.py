"""The planner's statistics follow the growth of the objects table.

PostgreSQL plans a first page by walking the date_added index only when it
knows the table is large; a table filled faster than autovacuum looks at it
would otherwise be read whole and sorted. The store runs ANALYZE when its
inserts pass 1,000, 2,000, 4,000, ... rows: at once on SQLite, on a
background thread on PostgreSQL (so the publisher does not wait for it).
"""

from __future__ import annotations

import threading

from sqlalchemy import text

from server.store import Store
from server.store.analyze_schedule import BackgroundRefresh
from server.store.timestamps import now_us
from tests.store.store_helpers import API_ROOT, COLLECTION_ID, make_object


def _planner_row_estimate(store: Store) -> float:
    with store._engine.connect() as connection:
        if store.dialect == "postgresql":
            return float(
                connection.execute(
                    text("SELECT reltuples FROM pg_class WHERE oid = 'objects'::regclass")
                ).scalar_one()
            )
        analysed = connection.execute(
            text("SELECT 1 FROM sqlite_master WHERE name = 'sqlite_stat1'")
        ).first()
        if analysed is None:
            return 0.0
        rows = connection.execute(
            text("SELECT stat FROM sqlite_stat1 WHERE tbl = 'objects' AND idx IS NOT NULL")
        ).all()
        return max((float(row.stat.split()[0]) for row in rows), default=0.0)


def test_statistics_are_refreshed_after_the_table_grows(store: Store) -> None:
    assert _planner_row_estimate(store) < 1_000
    objects = [make_object(n, "2021-01-01T00:00:00Z") for n in range(1_200)]
    status = store.add_objects(API_ROOT, COLLECTION_ID, None, objects, [], now_us())
    assert len(status.successes) == 1_200
    store._background_analyze.wait(timeout=120)  # PostgreSQL: the ANALYZE runs in the background
    assert _planner_row_estimate(store) >= 1_000


def test_a_refresh_asked_for_while_one_runs_runs_once_more_afterwards() -> None:
    started, release = threading.Semaphore(0), threading.Event()
    runs: list[int] = []

    def refresh() -> None:
        runs.append(len(runs))
        started.release()
        release.wait(timeout=60)

    background = BackgroundRefresh(refresh)
    background.request()
    assert started.acquire(timeout=60)  # the first refresh is running
    background.request()
    background.request()  # several requests meanwhile: one more run covers them all
    assert runs == [0]
    release.set()
    assert started.acquire(timeout=60)
    background.wait(timeout=60)
    assert runs == [0, 1]
    background.request()  # idle again: a new request starts a new run
    background.wait(timeout=60)
    assert runs == [0, 1, 2]

"""Database pool use as gauges, kept current by the pool's own checkout/checkin events.

Updating on each event (a few microseconds) rather than at scrape time means
an idle worker reports what it really holds (nothing), not whatever was in use
when it last served a request, and the sum over workers is right whichever
worker answers the scrape.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Engine, event
from sqlalchemy.pool import Pool

from server.observability.metrics import Metrics


def _checked_out(pool: Pool) -> int:
    counter = getattr(pool, "checkedout", None)  # QueuePool; single-connection pools have none
    return int(counter()) if callable(counter) else 0


def _size(pool: Pool) -> int:
    size = getattr(pool, "size", None)
    return int(size()) if callable(size) else 1


def watch_pools(engines: Sequence[Engine], metrics: Metrics) -> None:
    """Keep ``dx_db_pool_size`` and ``dx_db_pool_checked_out`` current for these engines."""
    pools = [engine.pool for engine in engines]

    def in_use() -> int:
        return sum(_checked_out(pool) for pool in pools)

    def on_checkout(*_args: Any) -> None:
        metrics.pool_checked_out.set(in_use())

    def on_checkin(*_args: Any) -> None:
        # The event fires before the connection is back in the pool.
        metrics.pool_checked_out.set(max(0, in_use() - 1))

    metrics.pool_size.set(sum(_size(pool) for pool in pools))
    metrics.pool_checked_out.set(in_use())
    for engine in engines:
        event.listen(engine, "checkout", on_checkout)
        event.listen(engine, "checkin", on_checkin)

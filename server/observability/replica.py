"""How far behind is the read replica? The rule readiness applies, and its metric.

A replica node (``replica_database_url``) answers polls from a PostgreSQL
streaming standby. A standby that is down makes those polls fail; one that is
far behind serves old pages. Readiness therefore asks the replica, on its own
short-timeout connection, for its replay lag, with one statement:

* not in recovery (``pg_is_in_recovery()`` false: a primary, or a plain
  second database as in tests): lag 0, it is the data;
* in recovery and everything received has been replayed
  (``pg_last_wal_replay_lsn() >= pg_last_wal_receive_lsn()``): lag 0. The
  comparison is ``>=``, not ``=``: after a standby restarts, the WAL receiver
  reports the position it resumed streaming from, the start of a WAL segment,
  which may lie before what was already replayed;
* otherwise (WAL waits to be replayed, or nothing was received by streaming:
  the receive position is NULL): lag = ``now() - pg_last_xact_replay_timestamp()``,
  the age of the last replayed commit. Unknown (NULL: no commit replayed
  since the standby started, as on a fresh ``pg_basebackup`` copy of an idle
  primary) counts as too far behind.

Why not the timestamp alone: it is the time of the last *commit* replayed, so
on an idle primary it grows for ever while the standby is fully caught up.
Two known imprecisions remain, both towards "behind": right after an idle
spell, the first new commit makes the lag look as old as the idle spell for
the milliseconds its replay takes (a load balancer's usual two or three
failed probes absorb that); and the commit time is the primary's clock while
``now()`` is the standby's, so clock skew between the hosts adds to the lag.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Connection, text

# One round trip; NULLs where a function has nothing to say (not a standby, no streaming yet).
_LAG_SQL = text(
    "SELECT pg_is_in_recovery(),"
    " pg_last_wal_replay_lsn() >= pg_last_wal_receive_lsn(),"
    " EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float8"
)


def replay_lag(
    in_recovery: bool, replayed_all_received: bool | None, since_last_replay: float | None
) -> float | None:
    """Seconds the replica is behind by the rule above; None when it cannot tell."""
    if not in_recovery or replayed_all_received:
        return 0.0
    if since_last_replay is None:
        return None
    return max(0.0, float(since_last_replay))


def measure_lag(connection: Connection) -> float | None:
    """The replica's replay lag (``replay_lag``), asked over ``connection``."""
    if connection.dialect.name != "postgresql":
        return 0.0  # SQLite has no replication: a second database is its own data
    in_recovery, replayed_all, since = connection.execute(_LAG_SQL).one()
    return replay_lag(bool(in_recovery), replayed_all, since)


def _seconds(value: float) -> str:
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


def lag_verdict(lag: float | None, max_lag_seconds: float) -> str:
    """Either "ok" or one line saying how far behind (the probe is public: no details)."""
    if lag is None:
        return "replay lag unknown (no commit replayed since the replica started)"
    if lag > max_lag_seconds:
        return f"replay lag {_seconds(lag)} s over {max_lag_seconds:g} s"
    return "ok"


_NAME = "dx_replica_replay_lag_seconds"
_HELP = "Replay lag of the node's read replica, as readiness measures it (0: caught up)."


class ReplicaLagCollector(Collector):
    """The lag readiness last measured, at scrape time; absent while it is not known.

    Like ``dx_objects_stored`` it is the database's figure, the same whichever
    worker answers, so it needs no multiprocess aggregation.
    """

    def __init__(self, lag_seconds: Callable[[], float | None]) -> None:
        self._lag_seconds = lag_seconds

    def describe(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily(_NAME, _HELP)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        lag = self._lag_seconds()
        if lag is None:
            return
        yield GaugeMetricFamily(_NAME, _HELP, value=lag)

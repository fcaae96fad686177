"""``dx poll``: sync the lab's collections from the exchange into its local feed store.

``--once`` (the default) suits cron: sync every collection until caught up,
then exit. ``--follow`` suits a service: sync, sleep ``--interval`` seconds,
repeat until SIGTERM/SIGINT; a server outage is logged and retried at the next
round instead of ending the service, while a refused key or a missing
collection still stops it (those need a human). Logs are JSON lines on
stderr. Exit codes: 0 done, 1 refused (key, grant, collection, config, store),
3 server unavailable through every retry, 130 interrupted.
"""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from types import FrameType

import click

from exchange.commands.failures import DxCommand, command_errors, fail
from exchange.feed.client import RetryPolicy, TaxiiSession
from exchange.feed.errors import ServerUnavailable
from exchange.feed.logs import JsonLog
from exchange.feed.poller import DEFAULT_PAGE_SIZE, poll_once
from exchange.feed.store import FeedStore
from exchange.lab_config import LabConfig, load_lab_config


def _collections(config: LabConfig, chosen: tuple[str, ...]) -> list[str]:
    refs = list(chosen) or list(config.server.collections)
    if not refs:
        fail(
            "poll",
            f"{config.source}: no collections to poll: set server.collections or pass --collection",
        )
    return refs


def _stop_on_signals(stop: threading.Event) -> None:
    def handler(_signum: int, _frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)


_EXAMPLE = """
\b
Examples:
  dx poll --config lab.toml --once                  # from cron
  dx poll --config lab.toml --follow --interval 300 --collection indicators
"""


@click.command("poll", cls=DxCommand, epilog=_EXAMPLE)
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The lab's lab.toml.",
)
@click.option(
    "--collection",
    "collections",
    multiple=True,
    help="Collection id, alias or title (repeatable; default: server.collections).",
)
@click.option("--once", "mode", flag_value="once", default=True, help="Sync once and exit.")
@click.option("--follow", "mode", flag_value="follow", help="Sync every --interval seconds.")
@click.option(
    "--interval",
    type=click.FloatRange(min=0.1),
    default=60.0,
    show_default=True,
    help="Seconds between rounds with --follow.",
)
@click.option(
    "--rounds",
    type=click.IntRange(min=0),
    default=0,
    help="With --follow: stop after this many rounds (0: until stopped).",
)
@click.option(
    "--page-size",
    type=click.IntRange(1, 10_000),
    default=DEFAULT_PAGE_SIZE,
    show_default=True,
    help="Objects per request (the server may cap it).",
)
@click.option(
    "--attempts",
    type=click.IntRange(1, 100),
    default=5,
    show_default=True,
    help="Tries per request when the server is down, slow or answers 5xx/429.",
)
@click.option(
    "--backoff",
    type=click.FloatRange(min=0),
    default=0.5,
    show_default=True,
    help="First retry delay in seconds (doubles each retry, with jitter).",
)
@click.option("--quiet", is_flag=True, help="Log only warnings and errors.")
def poll(
    config_path: Path,
    collections: tuple[str, ...],
    mode: str,
    interval: float,
    rounds: int,
    page_size: int,
    attempts: int,
    backoff: float,
    quiet: bool,
) -> None:
    """Sync collections from the exchange into the local feed store (all versions)."""
    log = JsonLog(quiet=quiet)
    retry = RetryPolicy(attempts=attempts, base_delay_s=backoff)
    with command_errors("poll"):
        config = load_lab_config(config_path)
        refs = _collections(config, collections)
        stop = threading.Event()
        if mode == "follow":
            _stop_on_signals(stop)
        with (
            FeedStore(config.store_path) as store,
            TaxiiSession.from_config(config, retry=retry, log=log) as session,
        ):
            if mode == "once":
                poll_once(store, session, refs, page_size=page_size, should_stop=stop.is_set)
                return
            done = 0
            while not stop.is_set():
                try:
                    poll_once(store, session, refs, page_size=page_size, should_stop=stop.is_set)
                except ServerUnavailable as error:
                    log.error("round_failed", problem=str(error))
                done += 1
                if rounds and done >= rounds:
                    break
                stop.wait(interval)
            log.event("stopped", rounds=done)


if __name__ == "__main__":
    poll()

"""``dx act``: write the enforcement artifacts from the local feed store.

Run it after each ``dx poll`` (same cron line: ``dx poll ... && dx act ...``).
It reads only the local store, so enforcement keeps working from the last
good sync when the exchange is unreachable. See ``exchange.feed.artifacts``
for the files and their formats.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import click

from exchange.commands.failures import DxCommand, command_errors
from exchange.commands.params import TIME
from exchange.feed.artifacts import DEFAULT_BLOCK_ACTIONS, write_artifacts
from exchange.feed.current import current_feed, normalise_action
from exchange.feed.logs import JsonLog
from exchange.feed.store import FeedStore
from exchange.lab_config import load_lab_config

_EXAMPLE = """
\b
Examples:
  dx act --config lab.toml
  dx act --config lab.toml --block-actions block,rate-limit --min-confidence 60 \\
      --out /etc/nginx/dx --at 2026-05-01T00:00:00Z
"""


@click.command("act", cls=DxCommand, epilog=_EXAMPLE)
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The lab's lab.toml.",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Output directory (default: local.artifacts of the config).",
)
@click.option(
    "--block-actions",
    default=",".join(DEFAULT_BLOCK_ACTIONS),
    show_default=True,
    help="Recommended actions whose ranges go into the blocklists (comma list of "
    "block, rate-limit, step-up, monitor, unspecified).",
)
@click.option(
    "--min-confidence",
    type=click.IntRange(0, 100),
    default=0,
    show_default=True,
    help="Leave out entries with a lower confidence.",
)
@click.option(
    "--at",
    "at_time",
    type=TIME,
    default=None,
    help="Judge expiry (valid_until) at this instant instead of now (STIX timestamp).",
)
@click.option("--quiet", is_flag=True, help="No summary log line.")
def act(
    config_path: Path,
    out_dir: Path | None,
    block_actions: str,
    min_confidence: int,
    at_time: datetime | None,
    quiet: bool,
) -> None:
    """Write blocklists, the account-hash watchlist and the fingerprint set from the local store."""
    log = JsonLog(quiet=quiet)
    with command_errors("act"):
        config = load_lab_config(config_path)
        actions = sorted({normalise_action(a) for a in block_actions.split(",") if a.strip()})
        now = at_time or datetime.now(UTC)
        target = out_dir or config.artifacts_dir
        with FeedStore(config.store_path) as store:
            feed = current_feed(store.current_objects(), now)
        summary = write_artifacts(
            feed, target, block_actions=actions, min_confidence=min_confidence
        )
        for object_id, reason in feed.skipped:
            log.warning("skipped", object=object_id, reason=reason)
        log.event(
            "artifacts",
            out=str(target),
            blocked_ranges=summary.blocked_ranges,
            ranges=summary.ranges,
            watchlist_rows=summary.watchlist_rows,
            fingerprints=summary.fingerprints,
            expired=summary.expired,
            skipped=summary.skipped,
        )


if __name__ == "__main__":
    act()

"""``dx correlate``: which campaigns of different labs look like one operation.

Reads the lab's local store (run ``dx poll`` first), or with
``--from-server`` the config's collections on the exchange; either way it
sees exactly what the exchange lets this lab read; see ``exchange.correlate`` for what links
campaigns and how strength is measured. ``--stix FILE`` writes the links as a
bundle of groupings authored by this lab (its ``[producer]`` identity), and
``--publish`` posts them to the lab's collection.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import orjson

from exchange.atomic import write_atomically
from exchange.commands.failures import DxCommand, command_errors
from exchange.commands.publish import print_report, target_collection
from exchange.correlate import correlate, correlation_bundle, current_server_objects
from exchange.errors import EXIT_FAILED, DxError
from exchange.feed.client import TaxiiSession
from exchange.feed.export import ServerSource
from exchange.feed.logs import JsonLog
from exchange.feed.store import FeedStore
from exchange.lab_config import load_lab_config
from exchange.publish import Publisher

_EXAMPLE = """
\b
Examples:
  dx poll --config lab.toml --once
  dx correlate --config lab.toml
  dx correlate --config lab.toml --json --min-shared 3
  dx correlate --config lab.toml --from-server
  dx correlate --config lab.toml --stix links.json      # then: dx publish links.json
  dx correlate --config lab.toml --publish
"""


@click.command("correlate", cls=DxCommand, epilog=_EXAMPLE)
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The lab's lab.toml.",
)
@click.option(
    "--min-shared",
    type=click.IntRange(1),
    default=1,
    show_default=True,
    help="Leave out pairs sharing fewer items (accounts + fingerprints + ranges).",
)
@click.option(
    "--from-server",
    is_flag=True,
    help="Read the config's collections on the exchange (as this lab's partner) instead of "
    "the local store.",
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per correlation.")
@click.option(
    "--stix",
    "stix_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the links as a STIX bundle of groupings authored by this lab.",
)
@click.option("--publish", is_flag=True, help="Post the groupings to the lab's collection.")
@click.option("--collection", default=None, help="Collection to publish to (default: config).")
def correlate_command(
    config_path: Path,
    min_shared: int,
    from_server: bool,
    as_json: bool,
    stix_path: Path | None,
    publish: bool,
    collection: str | None,
) -> None:
    """List campaigns of different labs linked by shared account hashes, prompt
    fingerprints or overlapping address ranges, from the local store."""
    command = "correlate"
    with command_errors(command):
        config = load_lab_config(config_path)
        if from_server:
            with TaxiiSession.from_config(config, log=JsonLog(quiet=True)) as session:
                source = ServerSource(session, list(config.server.collections))
                objects = current_server_objects(source)
        else:
            with FeedStore(config.store_path) as store:
                objects = store.current_objects()
        found = correlate(objects, min_shared=min_shared)
        for item in found:
            if as_json:
                click.echo(orjson.dumps(item.to_dict(), option=orjson.OPT_SORT_KEYS).decode())
                continue
            click.echo(f"{item.first.name} <-> {item.second.name}  (score {item.score:.2f})")
            click.echo(f"  campaigns: {item.first.campaign_id} {item.second.campaign_id}")
            for label, link in (
                ("account hashes", item.accounts),
                ("prompt fingerprints", item.fingerprints),
                ("address ranges", item.ranges),
            ):
                if link.count:
                    click.echo(
                        f"  {link.count} shared {label} (Jaccard {link.jaccard:.2f}): "
                        + ", ".join(link.shared)
                    )
        if not found:
            click.echo(f"dx {command}: no campaigns of different labs share anything", err=True)
        if stix_path is None and not publish:
            return
        producer = config.producer_identity()
        if producer is None:
            raise DxError(f"{config.source}: producer: --stix/--publish need a [producer] table")
        bundle = correlation_bundle(found, producer)
        if stix_path is not None:
            option = orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE
            write_atomically(stix_path, orjson.dumps(bundle, option=option))
        if publish and found:
            ref = target_collection(config, collection, "publish")
            with TaxiiSession.from_config(config, log=JsonLog(quiet=True)) as session:
                report = Publisher(session).publish(ref, bundle["objects"])
            print_report(command, report, False)
            if not report.ok:
                sys.exit(EXIT_FAILED)


if __name__ == "__main__":
    correlate_command()

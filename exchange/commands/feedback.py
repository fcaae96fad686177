"""``dx feedback``: sightings and opinions between labs, and the producer's view of them.

* ``dx feedback sighting --matches matches.jsonl``: publish one sighting per
  shared object that ``dx match`` matched (deterministic ids: re-running with
  the same report publishes nothing new).
* ``dx feedback opinion --object ID --opinion disagree --explanation "..."``:
  publish (or update) this lab's opinion on shared objects.
* ``dx feedback show``: from the local store (after ``dx poll``), who sighted
  this lab's objects and who agrees or disagrees with them.

Exit codes as ``dx publish``: 0 done, 1 bad input or refused, 3 server
unavailable through every retry.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import click
import orjson

from exchange.commands.failures import DxGroup, command_errors, fail
from exchange.commands.publish import print_report, target_collection
from exchange.errors import EXIT_FAILED
from exchange.feed.client import RetryPolicy, TaxiiSession
from exchange.feed.logs import JsonLog
from exchange.feed.store import FeedStore
from exchange.feedback import (
    feedback_on_own_objects,
    latest_opinion,
    read_matches,
    render_rows,
    sightings_from_matches,
)
from exchange.lab_config import LabConfig, load_lab_config
from exchange.publish import Publisher
from mappings.feedback import DEFAULT_FEEDBACK_TLP, OPINIONS, feedback_objects, opinion_object
from mappings.producer import Producer
from mappings.timestamps import parse_stix_timestamp
from mappings.well_known import TLP_MARKING_IDS

_FILE = click.Path(dir_okay=False, path_type=Path)


def _producer(config: LabConfig, command: str) -> Producer:
    producer = config.producer_identity()
    if producer is None:
        fail(command, f"{config.source}: producer: feedback needs a [producer] table (key, name)")
    return producer


def _config_option(function: Any) -> Any:
    return click.option(
        "--config", "config_path", required=True, type=_FILE, help="The lab's lab.toml."
    )(function)


def _publishing_options(function: Any) -> Any:
    options = [
        click.option(
            "--collection",
            default=None,
            help="Collection id, alias or title (default: the only one in server.collections).",
        ),
        click.option(
            "--tlp",
            type=click.Choice(list(TLP_MARKING_IDS)),
            default=DEFAULT_FEEDBACK_TLP,
            show_default=True,
            help="TLP 2.0 marking of the feedback.",
        ),
        click.option(
            "--attempts",
            type=click.IntRange(1, 100),
            default=5,
            show_default=True,
            help="Tries per request when the server is down, slow or answers 5xx/429.",
        ),
        click.option(
            "--backoff",
            type=click.FloatRange(min=0),
            default=0.5,
            show_default=True,
            help="First retry delay in seconds (doubles each retry, with jitter).",
        ),
        click.option(
            "--dry-run", is_flag=True, help="Print the objects as a bundle; publish nothing."
        ),
        click.option("--quiet", is_flag=True, help="No JSON log lines."),
        click.option("--json", "as_json", is_flag=True, help="Also print the summary as JSON."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _print_bundle(objects: list[dict[str, Any]]) -> None:
    bundle: dict[str, Any] = {
        "type": "bundle",
        "id": "bundle--00000000-0000-4000-8000-000000000000",
    }
    bundle["objects"] = objects
    option = orjson.OPT_SORT_KEYS | orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE
    click.echo(orjson.dumps(bundle, option=option).decode(), nl=False)


def _publish(
    command: str,
    session: TaxiiSession,
    collection: str,
    objects: list[dict[str, Any]],
    as_json: bool,
) -> None:
    report = Publisher(session).publish(collection, objects)
    print_report(command, report, as_json)
    if not report.ok:
        sys.exit(EXIT_FAILED)


_EXAMPLE = """
\b
Examples:
  dx match --config lab.toml --prompts prompts.txt -o matches.jsonl
  dx feedback sighting --config lab.toml --matches matches.jsonl
  dx feedback opinion --config lab.toml --object indicator--... --opinion disagree \\
      --explanation "This range also carries a university's NAT"
  dx feedback show --config lab.toml
"""


@click.group("feedback", cls=DxGroup, epilog=_EXAMPLE)
def feedback() -> None:
    """Sightings and opinions: tell producers what you saw and what you think."""


@feedback.command("sighting")
@_config_option
@click.option(
    "--matches", "matches_file", required=True, type=_FILE, help="JSON Lines from dx match."
)
@_publishing_options
def sighting(
    config_path: Path,
    matches_file: Path,
    collection: str | None,
    tlp: str,
    attempts: int,
    backoff: float,
    dry_run: bool,
    quiet: bool,
    as_json: bool,
) -> None:
    """Publish one sighting per shared object matched in a dx match report.

    Each sighting references the matched object and carries the number of
    matching input lines, the first and last time seen and the best match
    confidence; never the inputs themselves. Re-running with the same report
    publishes nothing new.
    """
    command = "feedback sighting"
    with command_errors(command):
        config = load_lab_config(config_path)
        producer = _producer(config, command)
        matches = read_matches(matches_file)
        plan = sightings_from_matches(matches, producer, tlp=tlp)  # type: ignore[arg-type]
        if plan.own_objects_skipped:
            click.echo(
                f"dx {command}: note: {plan.own_objects_skipped} matches of this lab's own "
                "objects are not reported",
                err=True,
            )
        if not plan.sightings:
            click.echo(
                f"dx {command}: no matches of other labs' objects: nothing to report", err=True
            )
            return
        objects = feedback_objects(producer, plan.sightings)
        if dry_run:
            _print_bundle(objects)
            return
        ref = target_collection(config, collection, "publish")
        retry = RetryPolicy(attempts=attempts, base_delay_s=backoff)
        with TaxiiSession.from_config(config, retry=retry, log=JsonLog(quiet=quiet)) as session:
            _publish(command, session, ref, objects, as_json)


def _same_opinion(existing: dict[str, Any], wanted: dict[str, Any]) -> bool:
    fields = ("opinion", "explanation", "object_refs", "object_marking_refs")
    return all(existing.get(name) == wanted.get(name) for name in fields)


def _now() -> datetime:
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


@feedback.command("opinion")
@_config_option
@click.option(
    "--object",
    "object_ids",
    multiple=True,
    required=True,
    help="Id of the shared object the opinion is about (repeatable).",
)
@click.option("--opinion", "opinion", required=True, type=click.Choice(OPINIONS))
@click.option("--explanation", default=None, help='Why, e.g. "this range is a university NAT".')
@_publishing_options
def opinion_command(
    config_path: Path,
    object_ids: tuple[str, ...],
    opinion: str,
    explanation: str | None,
    collection: str | None,
    tlp: str,
    attempts: int,
    backoff: float,
    dry_run: bool,
    quiet: bool,
    as_json: bool,
) -> None:
    """Publish this lab's opinion (agree ... disagree) on shared objects.

    The objects must be in the local store (run dx poll first), which also
    catches mistyped ids. Giving a different opinion or explanation later
    publishes a new version of the same opinion object; repeating the same
    one publishes nothing.
    """
    command = "feedback opinion"
    with command_errors(command):
        config = load_lab_config(config_path)
        producer = _producer(config, command)
        with FeedStore(config.store_path) as store:
            known = store.latest_by_id(object_ids)
        missing = [object_id for object_id in object_ids if object_id not in known]
        if missing:
            fail(
                command,
                f"--object {missing[0]}: not in the local store {config.store_path} "
                "(mistyped, or run dx poll first)",
            )
        ref = target_collection(config, collection, "publish")
        retry = RetryPolicy(attempts=attempts, base_delay_s=backoff)
        with TaxiiSession.from_config(config, retry=retry, log=JsonLog(quiet=quiet)) as session:
            target = Publisher(session).writable_collection(ref)
            existing = latest_opinion(session, target, producer, object_ids)
            now = _now()
            created, modified = now, now
            if existing is not None:
                created = parse_stix_timestamp(str(existing["created"]))
                previous = parse_stix_timestamp(str(existing["modified"]))
                modified = max(now, previous + timedelta(milliseconds=1))
            try:
                obj = opinion_object(
                    producer,
                    object_ids,
                    opinion,
                    created=created,
                    modified=modified,
                    explanation=explanation,
                    tlp=tlp,  # type: ignore[arg-type]
                )
            except ValueError as exc:
                fail(command, str(exc))
            if existing is not None and _same_opinion(existing, obj):
                click.echo(
                    f"dx {command}: {obj['id']} already says {opinion}: nothing to publish",
                    err=True,
                )
                return
            objects = feedback_objects(producer, [obj])
            if dry_run:
                _print_bundle(objects)
                return
            _publish(command, session, target.id, objects, as_json)


@feedback.command("show")
@_config_option
@click.option("--json", "as_json", is_flag=True, help="JSON Lines instead of the listing.")
def show(config_path: Path, as_json: bool) -> None:
    """List who sighted this lab's objects and who agrees or disagrees (local store)."""
    command = "feedback show"
    with command_errors(command):
        config = load_lab_config(config_path)
        producer = _producer(config, command)
        with FeedStore(config.store_path) as store:
            rows = feedback_on_own_objects(store, producer.identity_id)
        if as_json:
            option = orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
            click.echo(
                b"".join(orjson.dumps(row.to_dict(), option=option) for row in rows), nl=False
            )
        else:
            click.echo(render_rows(rows), nl=False)
        sightings = sum(1 for row in rows if row.feedback == "sighting")
        click.echo(
            f"dx {command}: {sightings} sightings and {len(rows) - sightings} opinions on "
            f"objects of {producer.name} ({producer.identity_id})",
            err=True,
        )


if __name__ == "__main__":
    feedback()

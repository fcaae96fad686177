"""``dx publish``: put detections (or a ready bundle) on the exchange.

Detection files are converted with the lab's producer (``[producer]`` in
lab.toml) and validated, bundles are validated, and nothing is sent until
every input is good. Objects go out in envelopes that fit the API root's
``max_content_length``; transient failures are retried with backoff; each
status resource is followed to the end. Re-running the same command is safe
(ids are deterministic, the server keeps each version once), which is also
how a run killed half-way is finished.

Exit codes: 0 everything stored (or already there); 1 bad input, refused
access, or objects the server refused (each listed with its reason); 3 the
server stayed unavailable through every retry; 130 interrupted.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click
import orjson
from tqdm import tqdm

from exchange.feed.cli_errors import one_line_errors
from exchange.feed.client import RetryPolicy, TaxiiSession
from exchange.feed.logs import JsonLog
from exchange.id_secret import IdSecretError, build_producer
from exchange.lab_config import LabConfig, LabConfigError, load_lab_config
from exchange.publish import (
    DEFAULT_MAX_OBJECTS,
    DEFAULT_STATUS_TIMEOUT_S,
    Publisher,
    PublishInputError,
    PublishReport,
    load_batch,
)
from mappings.producer import Producer

EXIT_REFUSED = 1


def lab_producer(config: LabConfig) -> Producer | None:
    """The lab's producer from its config, if the config names one."""
    if config.producer is None:
        return None
    try:
        return build_producer(
            config.producer.key,
            config.producer.name,
            id_secret_file=config.id_secret_path,
            id_scheme=config.producer.id_scheme,
            where=f"{config.source}: producer",
        )
    except IdSecretError as exc:
        raise LabConfigError(str(exc)) from None
    except ValueError as exc:
        raise LabConfigError(f"{config.source}: producer: {exc}") from None


def target_collection(config: LabConfig, chosen: str | None, command: str) -> str:
    """--collection, else the config's only collection; several configured need a choice."""
    if chosen:
        return chosen
    configured = list(config.server.collections)
    if len(configured) == 1:
        return configured[0]
    if not configured:
        raise LabConfigError(
            f"{config.source}: no collection to {command} to: pass --collection or set "
            "server.collections"
        )
    raise LabConfigError(
        f"{config.source}: server.collections lists {len(configured)} collections; "
        f"say which one to {command} to with --collection"
    )


def print_report(command: str, report: PublishReport, as_json: bool) -> None:
    """The summary line and one line per refused or pending object, on stderr."""
    click.echo(f"dx {command}: {report.summary()}", err=True)
    for refusal in report.refused:
        click.echo(f"dx {command}: refused: {refusal}", err=True)
    for pending in report.pending:
        click.echo(f"dx {command}: not confirmed: {pending}", err=True)
    if as_json:
        click.echo(orjson.dumps(report.to_dict(), option=orjson.OPT_SORT_KEYS).decode())


_EXAMPLE = """
\b
Examples:
  dx publish --config lab.toml samples/lab-a/detections.jsonl
  dx publish --config lab.toml bundle.json --collection distillation-indicators
"""


@click.command("publish", epilog=_EXAMPLE, short_help="Publish detections or a bundle.")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--config",
    "config_path",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The lab's lab.toml.",
)
@click.option(
    "--collection",
    default=None,
    help="Collection id, alias or title (default: the only one in server.collections).",
)
@click.option(
    "--max-objects",
    type=click.IntRange(1, 100_000),
    default=DEFAULT_MAX_OBJECTS,
    show_default=True,
    help="Objects per request at most (requests also stay under max_content_length).",
)
@click.option(
    "--no-validate",
    is_flag=True,
    help="Skip stix2-validator on the bundle (the server still checks every object).",
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
@click.option(
    "--status-timeout",
    type=click.FloatRange(min=0),
    default=DEFAULT_STATUS_TIMEOUT_S,
    show_default=True,
    help="Seconds to wait for a pending status to complete.",
)
@click.option("--progress", is_flag=True, help="Show a progress bar even when not on a terminal.")
@click.option("--quiet", is_flag=True, help="No JSON log lines, only the summary and errors.")
@click.option("--json", "as_json", is_flag=True, help="Also print the summary as JSON on stdout.")
def publish(
    files: tuple[Path, ...],
    config_path: Path,
    collection: str | None,
    max_objects: int,
    no_validate: bool,
    attempts: int,
    backoff: float,
    status_timeout: float,
    progress: bool,
    quiet: bool,
    as_json: bool,
) -> None:
    """Publish detection records (JSON, JSONL, CSV) and/or STIX bundles to a collection.

    Everything is read and validated first; bad input prints one line per
    error (FILE:LINE: FIELD: MESSAGE) and sends nothing. At the end a summary
    says how many objects were sent, accepted, already present and refused;
    any refusal is listed with the server's reason and the exit status is 1.
    """
    with one_line_errors("publish"):
        config = load_lab_config(config_path)
        ref = target_collection(config, collection, "publish")
        try:
            batch = load_batch(list(files), lab_producer(config), validate=not no_validate)
        except PublishInputError as exc:
            for line in exc.lines:
                click.echo(line, err=True)
            sys.exit(EXIT_REFUSED)
        show_bar = progress or sys.stderr.isatty()
        log = JsonLog(quiet=quiet or show_bar)
        retry = RetryPolicy(attempts=attempts, base_delay_s=backoff)
        with (
            TaxiiSession.from_config(config, retry=retry, log=log) as session,
            tqdm(
                total=len(batch.objects),
                unit="objects",
                desc="publishing",
                file=sys.stderr,
                disable=not show_bar,
                dynamic_ncols=True,
            ) as bar,
        ):
            publisher = Publisher(
                session,
                max_objects=max_objects,
                status_timeout_s=status_timeout,
                on_progress=bar.update,
            )
            report = publisher.publish(ref, batch.objects)
        print_report("publish", report, as_json)
        if not report.ok:
            sys.exit(EXIT_REFUSED)


if __name__ == "__main__":
    publish()

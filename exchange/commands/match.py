"""``dx match``: match the lab's own traffic against the feed in its local store.

Prompts are fingerprinted and account identifiers pseudonymised with the
consortium key on this machine; addresses are looked up in the shared ranges.
Nothing is sent to the exchange. The output (JSON Lines by default, or a
table) names the input file and line of each match, which shared object it
matched, whose it is, by which rule and how strongly; it never repeats the
prompt or the identifier. ``dx feedback sighting --matches FILE`` turns the
JSON Lines into sightings for the producers.

Inputs are streamed: matched batch by batch as they are read, the matches
written to a temporary file that replaces the output only once every input
has been read and found good, so memory stays bounded whatever the size of
the input and a bad line (even the last) leaves no output. On a terminal a
progress bar (bytes of input read) shows on stderr.

Exit codes: 0 done (with or without matches); 1 bad input (one line per
problem, nothing written), missing key or unusable store.
"""

from __future__ import annotations

import gc
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import click

from exchange.atomic import AtomicOutput, check_output_target
from exchange.commands.failures import DxCommand, command_errors
from exchange.commands.params import TIME
from exchange.commands.terminal import progress_bar
from exchange.errors import DEFAULT_MAX_ERRORS
from exchange.feed.current import current_feed
from exchange.feed.store import FeedStore
from exchange.lab_config import load_lab_config
from exchange.match import ColumnSpec, Match, MatchInputs, jsonl
from exchange.match.index import open_prompt_index
from exchange.match.matcher import input_bytes, stream_match
from exchange.match.results import TableWriter
from exchange.privacy import ConsortiumKey, load_key


class _Column(click.ParamType):
    name = "COLUMN:KIND"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, ColumnSpec):
            return value
        try:
            return ColumnSpec.parse(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class _Progress:
    """Bytes read, passed to the bar a megabyte at a time (a bar update per line would
    cost more than reading the line)."""

    STEP = 1 << 20

    def __init__(self, update: Callable[[int], object]) -> None:
        self._update = update
        self._pending = 0

    def __call__(self, count: int) -> None:
        self._pending += count
        if self._pending >= self.STEP:
            self.flush()

    def flush(self) -> None:
        if self._pending:
            self._update(self._pending)
            self._pending = 0


def _key(path: Path | None) -> ConsortiumKey | None:
    return None if path is None else load_key(path)


_EXAMPLE = """
\b
Examples:
  dx match --config lab.toml --prompts prompts.txt -o matches.jsonl
  dx match --config lab.toml --accounts signups.csv --column email:email \\
      --column phone:phone --ips addresses.txt --format table
"""

_FILE = click.Path(dir_okay=False, path_type=Path)


@click.command(
    "match", cls=DxCommand, epilog=_EXAMPLE, short_help="Match own traffic against the feed."
)
@click.option("--config", "config_path", required=True, type=_FILE, help="The lab's lab.toml.")
@click.option(
    "--prompts",
    "prompt_files",
    multiple=True,
    type=_FILE,
    help="Raw prompts: one per line, or JSONL with prompt (and seen_at). Repeatable.",
)
@click.option(
    "--accounts",
    "account_files",
    multiple=True,
    type=_FILE,
    help="CSV of raw account identifiers (needs --column). Repeatable.",
)
@click.option(
    "--column",
    "columns",
    multiple=True,
    type=_Column(),
    help="COLUMN:KIND of an identifier column in --accounts, e.g. email:email. Repeatable.",
)
@click.option(
    "--ips", "ip_files", multiple=True, type=_FILE, help="IP addresses, one per line. Repeatable."
)
@click.option(
    "--key-file",
    type=_FILE,
    default=None,
    help="Consortium key file (default: local.consortium_key_file of the config).",
)
@click.option(
    "--at",
    "at_time",
    type=TIME,
    default=None,
    help="Judge indicator expiry at this time instead of now.",
)
@click.option(
    "--seen-at",
    type=TIME,
    default=None,
    help="When the traffic was seen (default: now); JSONL prompts may carry their own.",
)
@click.option("-o", "--output", default="-", show_default=True, help="Output file, - for stdout.")
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["jsonl", "table"]),
    default="jsonl",
    show_default=True,
)
@click.option(
    "--max-errors", type=click.IntRange(min=1), default=DEFAULT_MAX_ERRORS, show_default=True
)
@click.option("--quiet", is_flag=True, help="No summary line on stderr.")
def match(
    config_path: Path,
    prompt_files: tuple[Path, ...],
    account_files: tuple[Path, ...],
    columns: tuple[ColumnSpec, ...],
    ip_files: tuple[Path, ...],
    key_file: Path | None,
    at_time: datetime | None,
    seen_at: datetime | None,
    output: str,
    output_format: str,
    max_errors: int,
    quiet: bool,
) -> None:
    """Match raw prompts, account identifiers and addresses against the local feed.

    Reads the feed from the local store (run dx poll first). Prompts match the
    shared fingerprints (exact and near-duplicate) made under the same
    consortium key; identifiers match shared account-cluster members; addresses
    match shared ranges (revoked and expired indicators do not count).
    """
    if not (prompt_files or account_files or ip_files):
        raise click.UsageError("nothing to match: give --prompts, --accounts and/or --ips")
    if account_files and not columns:
        raise click.UsageError("--accounts needs --column NAME:KIND for each identifier column")
    with command_errors("match"):
        config = load_lab_config(config_path)
        check_output_target(output)
        inputs = MatchInputs(prompt_files, account_files, columns, ip_files)
        key = _key(key_file or config.consortium_key_path) if inputs.needs_key else None
        when = at_time or datetime.now(UTC)
        with FeedStore(config.store_path) as store:
            # Prompts alone need only the producers' names from the feed: the fingerprints
            # come from the persistent index (exchange.match.index), which is opened, not
            # rebuilt. Accounts and addresses still read the current feed.
            needs_feed = bool(account_files or ip_files)
            objects = store.current_objects(None if needs_feed else ["identity"])
        feed = current_feed(objects, when)
        prompt_index = (
            open_prompt_index(config.store_path, key, when)
            if prompt_files and key is not None
            else None
        )
        # The index lives until the process exits and holds no cycles: move it (and
        # everything before it) out of the cyclic collector's sight, or every collection
        # would walk it and the time per prompt would grow with the feed.
        gc.freeze()
        with (
            AtomicOutput(output) as out,
            progress_bar(
                total=input_bytes(inputs), unit="B", unit_scale=True, desc="matching"
            ) as bar,
        ):
            progress = _Progress(bar.update)
            table = TableWriter() if output_format == "table" else None

            def write(batch: list[Match]) -> None:
                if table is not None:
                    table.add(batch)
                else:
                    out.write(jsonl(batch))

            run = stream_match(
                feed,
                inputs,
                key,
                write,
                seen_at=seen_at,
                max_errors=max_errors,
                prompt_index=prompt_index,
                advance=progress,
            )
            progress.flush()
            if table is not None:
                out.writelines(table.chunks())
            out.commit()
        if not quiet:
            for note in run.notes:
                click.echo(f"dx match: note: {note}", err=True)
            click.echo(f"dx match: {run.summary()}", err=True)


if __name__ == "__main__":
    match()

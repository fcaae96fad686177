"""How lab-side commands talk to the person or the cron job running them.

Errors go to stderr, one line each, followed by exit status 1 (click uses 2
for usage errors). Progress bars appear only when stderr is a terminal: in a
cron log or CI they would be noise.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import NoReturn

import click
from tqdm import tqdm

EXIT_INPUT_ERROR = 1


def fail(lines: Iterable[str]) -> NoReturn:
    """Print each error line to stderr and exit with status 1."""
    for line in lines:
        click.echo(line, err=True)
    sys.exit(EXIT_INPUT_ERROR)


def note(message: str) -> None:
    """An informational line for the user, on stderr (stdout may carry the output)."""
    click.echo(message, err=True)


def progress_bar(*, total: int | None = None, unit: str = "records", desc: str = "") -> tqdm:
    """A tqdm bar on stderr, disabled unless stderr is an interactive terminal."""
    return tqdm(
        total=total,
        unit=unit,
        desc=desc or None,
        file=sys.stderr,
        disable=not sys.stderr.isatty(),
        leave=False,
        dynamic_ncols=True,
    )

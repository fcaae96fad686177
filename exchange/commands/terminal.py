"""How lab-side commands talk to the person or the cron job running them.

Notes go to stderr (stdout may carry the output); failures are
``exchange.commands.failures``. Progress bars appear only when stderr is a
terminal: in a cron log or CI they would be noise.
"""

from __future__ import annotations

import sys

import click
from tqdm import tqdm


def note(message: str) -> None:
    """An informational line for the user, on stderr (stdout may carry the output)."""
    click.echo(message, err=True)


def progress_bar(
    *, total: int | None = None, unit: str = "records", desc: str = "", unit_scale: bool = False
) -> tqdm:
    """A tqdm bar on stderr, disabled unless stderr is an interactive terminal.

    ``unit_scale``: show 1.2M instead of 1200000 (for a bar counting bytes)."""
    return tqdm(
        total=total,
        unit=unit,
        unit_scale=unit_scale,
        desc=desc or None,
        file=sys.stderr,
        disable=not sys.stderr.isatty(),
        leave=False,
        dynamic_ncols=True,
    )

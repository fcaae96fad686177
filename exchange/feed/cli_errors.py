"""How the feed commands fail: one line on stderr and a meaningful exit code, never a traceback.

Operators run these commands from cron and service managers, where a
traceback is noise that hides the one fact that matters (wrong key, server
down, unreadable file). Every expected failure is already phrased as one line
by the code that detected it; this wrapper prints it and exits. A bug still
prints a single line, plus the traceback only when ``DX_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager

import click

from exchange.feed.errors import FeedError
from exchange.feed.store import FeedStoreError
from exchange.lab_config import LabConfigError

EXIT_REFUSED = 1
EXIT_INTERRUPTED = 130


def fail(command: str, message: str, exit_code: int = EXIT_REFUSED) -> None:
    click.echo(f"dx {command}: error: {message}", err=True)
    sys.exit(exit_code)


@contextmanager
def one_line_errors(command: str) -> Iterator[None]:
    """Turn every failure inside the block into one line on stderr and an exit code."""
    try:
        yield
    except FeedError as error:
        fail(command, str(error), error.exit_code)
    except (LabConfigError, FeedStoreError) as error:
        fail(command, str(error))
    except KeyboardInterrupt:
        fail(command, "interrupted", EXIT_INTERRUPTED)
    except (click.exceptions.Exit, click.ClickException, SystemExit):
        raise
    except Exception as error:  # a bug: still one line unless asked for details
        if os.environ.get("DX_DEBUG") == "1":
            traceback.print_exc()
        fail(command, f"unexpected {type(error).__name__}: {error} (set DX_DEBUG=1 for details)")

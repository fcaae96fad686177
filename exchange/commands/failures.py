"""How every ``dx`` command fails: one line per problem on stderr, one exit status rule.

Operators run these commands from cron, CI and service managers, where a
traceback is noise that hides the one fact that matters (a bad row, a wrong
key, the server down). So every expected failure is a ``DxError`` raised by
the code that detected it, already phrased as one line, and this module is
the only place that prints it and exits:

- problems inside input data (``InputErrors``) print one line each in the
  compiler form ``FILE:LINE: FIELD: MESSAGE``, so editors jump to them;
- every other failure prints ``dx COMMAND: error: MESSAGE``;
- the exit status is the error's ``exit_code``: 1 for anything to fix (input,
  config, key, store, output, a refusal), 3 when the exchange stayed
  unavailable, 130 on Ctrl-C;
- usage errors (unknown or missing options, option values of the wrong form
  such as a bad time) are click's, exit status 2, printed by ``DxCommand`` and
  ``DxGroup`` the same one-line way: ``dx COMMAND: error: MESSAGE``.

A bug still prints a single line, plus the traceback only when ``DX_DEBUG=1``.
"""

from __future__ import annotations

import os
import sys
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, NoReturn

import click

from exchange.errors import EXIT_FAILED, EXIT_INTERRUPTED, DxError


def report(command: str, error: DxError) -> NoReturn:
    """Print ``error`` the one way and exit with its status."""
    for line in error.lines():
        click.echo(line if error.located else f"dx {command}: error: {line}", err=True)
    sys.exit(error.exit_code)


def fail(command: str, message: str, exit_code: int = EXIT_FAILED) -> NoReturn:
    """Refuse with one line ``dx COMMAND: error: MESSAGE`` and exit (1 unless told)."""
    error = DxError(message)
    error.exit_code = exit_code
    report(command, error)


@contextmanager
def command_errors(command: str) -> Iterator[None]:
    """Turn every failure inside the block into its line(s) on stderr and its exit status.

    ``command`` is how the user typed it (``"poll"``, ``"feedback opinion"``).
    """
    try:
        yield
    except DxError as error:
        report(command, error)
    except KeyboardInterrupt:
        fail(command, "interrupted", EXIT_INTERRUPTED)
    except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
        raise
    except Exception as error:  # a bug: still one line unless asked for details
        if os.environ.get("DX_DEBUG") == "1":
            traceback.print_exc()
        fail(command, f"unexpected {type(error).__name__}: {error} (set DX_DEBUG=1 for details)")


def _command_path(ctx: click.Context | None) -> str:
    """``dx feedback opinion``: the command names, whatever the program was called."""
    names: list[str] = []
    while ctx is not None:
        names.append(ctx.command.name or "")
        ctx = ctx.parent
    names.reverse()
    if not names or names[0] != "dx":
        names.insert(0, "dx")
    return " ".join(name for name in names if name)


def _show_on_one_line(error: click.ClickException, ctx: click.Context | None) -> None:
    """Make click print ``error`` as ``dx COMMAND: error: MESSAGE``.

    Usage errors add ``(see dx COMMAND --help)``: their fix is in the help.
    """
    if isinstance(error, click.UsageError) and error.ctx is not None:
        ctx = error.ctx
    path = _command_path(ctx)
    message = " ".join(error.format_message().split())
    if isinstance(error, click.UsageError):
        message += f" (see {path} --help)"

    def show(file: Any = None) -> None:
        click.echo(f"{path}: error: {message}", err=True)

    error.show = show  # type: ignore[method-assign]


def _show_once(error: click.ClickException, ctx: click.Context | None) -> None:
    """The innermost command (the one that failed) names itself in the line."""
    if not getattr(error, "_dx_shown", False):
        error._dx_shown = True  # type: ignore[attr-defined]
        _show_on_one_line(error, ctx)


class _OneLineClickErrors:
    """Mixed into click commands: click's own errors keep their exit status
    (2 for usage errors), printed on one line the ``dx`` way."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)  # type: ignore[misc]
        except click.ClickException as error:
            _show_once(error, None)
            raise

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)  # type: ignore[misc]
        except click.ClickException as error:
            _show_once(error, ctx)
            raise


class DxCommand(_OneLineClickErrors, click.Command):
    """A ``dx`` command: ``@click.command(cls=DxCommand)``."""


class DxGroup(_OneLineClickErrors, click.Group):
    """A ``dx`` command group: ``@click.group(cls=DxGroup)``; its commands default to DxCommand."""

    command_class = DxCommand
    group_class = type

"""How the lab side fails: one base exception, its exit codes, and input errors.

Every expected failure of a ``dx`` command is a ``DxError``: its message is
the whole story (no traceback), and it carries the exit status a cron job or
a shell script branches on (see ``EXIT_*`` below and "Errors and exit
statuses" in docs/formats.md). ``exchange.commands.failures`` prints them.

A detection pipeline's operator fixes bad input from the error message alone,
usually by opening the file in an editor at the line shown, so every problem
is ONE line: ``<file>:<line>: <field path>: <message>``. The same shape as
compiler errors means editors and CI logs already know how to jump to it.

Commands collect several errors before giving up (a file with 300 bad rows
should not take 300 runs to fix) but stop at a cap so a wrong ``--kind``
does not print a million lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

DEFAULT_MAX_ERRORS = 20
"""How many errors a command reports before it stops looking for more."""

EXIT_FAILED = 1
"""Bad input, config, key, store or output, or a refusal: fix something, then run again."""
EXIT_USAGE = 2
"""The command line itself is wrong (click reports it, option values included)."""
EXIT_UNAVAILABLE = 3
"""The exchange stayed unreachable or overloaded through every retry: try again later."""
EXIT_INTERRUPTED = 130
"""Ctrl-C (128 + SIGINT, as shells report it)."""


class DxError(Exception):
    """An expected failure of a lab-side operation, phrased as one line a user can act on.

    Subclasses set ``exit_code``; the message names the file, option or
    object concerned. The command line prints ``dx COMMAND: error: MESSAGE``.
    """

    exit_code: int = EXIT_FAILED

    def lines(self) -> Iterator[str]:
        """The lines to print, without the ``dx COMMAND: error:`` prefix: one per
        message given (``DxError(first, second)`` reports two problems)."""
        for message in self.args or ("failed",):
            yield _one_line(str(message))

    located: bool = False
    """True when each line already starts with its place (``FILE:LINE: FIELD``)."""


@dataclass(frozen=True, order=True)
class InputError:
    """One problem in one place of one input file.

    ``line`` is 1-based and is the line where the offending record starts
    (JSON arrays, CSV rows spanning lines) or the line of the problem itself
    (malformed JSON). ``None`` means the problem concerns the file as a whole,
    e.g. it cannot be read. ``field`` is a dotted path such as
    ``volume.requests`` or ``members[2].hash``; ``None`` when no field applies.
    """

    file: str
    line: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        parts = [where]
        if self.field:
            parts.append(self.field)
        parts.append(_one_line(self.message))
        return ": ".join(parts)


def _one_line(text: str) -> str:
    """Messages from libraries sometimes span lines; ours never do."""
    return " ".join(text.split())


class InputErrors(DxError):
    """Raised when input is refused; carries every collected error, in input order.

    ``truncated`` says more problems may exist beyond the reported cap, so the
    user knows a clean second run is not guaranteed. Each line starts with its
    place, the way compilers report errors, so editors and CI logs jump to it.
    """

    located = True

    def __init__(self, errors: Iterable[InputError], *, truncated: bool = False) -> None:
        self.errors: list[InputError] = list(errors)
        self.truncated = truncated
        super().__init__("\n".join(self.lines()))

    def lines(self) -> Iterator[str]:
        """The lines to print: one per error, then a note when the cap was hit."""
        for error in self.errors:
            yield str(error)
        if self.truncated:
            yield f"(stopped after {len(self.errors)} errors; fix these and run again)"


class ErrorCollector:
    """Gathers errors up to a cap; ``full`` tells a reader it may stop early."""

    def __init__(self, max_errors: int = DEFAULT_MAX_ERRORS) -> None:
        if max_errors < 1:
            raise ValueError("max_errors must be at least 1")
        self.max_errors = max_errors
        self.errors: list[InputError] = []
        self.truncated = False

    def add(self, error: InputError) -> None:
        if len(self.errors) >= self.max_errors:
            self.truncated = True
            return
        self.errors.append(error)

    def extend(self, errors: Iterable[InputError]) -> None:
        for error in errors:
            self.add(error)

    @property
    def full(self) -> bool:
        return len(self.errors) >= self.max_errors

    def raise_if_any(self) -> None:
        if self.errors:
            raise InputErrors(self.errors, truncated=self.truncated)

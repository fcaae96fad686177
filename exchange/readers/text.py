"""Getting an input file's text, with failures phrased as input errors.

Inputs are UTF-8 (a byte-order mark, as some spreadsheet exports write, is
accepted and dropped). ``-`` means standard input, so pipelines can stream
detections straight into ``dx convert``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from exchange.errors import InputError

STDIN_NAME = "-"


def display_name(path: str | Path) -> str:
    """How a file is named in error messages: as the user wrote it."""
    return "<stdin>" if str(path) == STDIN_NAME else str(path)


def read_text(path: str | Path) -> str:
    """The file's text; raises InputError (as an exception payload) when unreadable."""
    name = display_name(path)
    try:
        data = sys.stdin.buffer.read() if str(path) == STDIN_NAME else Path(path).read_bytes()
    except FileNotFoundError:
        raise UnreadableInput(InputError(name, None, None, "file not found")) from None
    except IsADirectoryError:
        raise UnreadableInput(InputError(name, None, None, "is a directory, not a file")) from None
    except OSError as exc:
        raise UnreadableInput(
            InputError(name, None, None, f"cannot read: {exc.strerror or exc}")
        ) from None
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise UnreadableInput(
            InputError(name, line, None, f"not UTF-8 text (bad byte at offset {exc.start})")
        ) from None


class UnreadableInput(Exception):
    """The whole file is unusable; carries the one error that says why."""

    def __init__(self, error: InputError) -> None:
        self.error = error
        super().__init__(str(error))

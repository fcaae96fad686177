"""Option types shared by the ``dx`` commands, so one kind of value is read one way.

A bad value is a usage error click reports itself (``Error: Invalid value for
'--at': ...``, exit status 2), before the command does any work.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from mappings.timestamps import parse_time


class TimeParam(click.ParamType):
    """A time: a STIX timestamp or any ISO 8601 time with a zone; an aware UTC datetime.

    Every option that takes a time (``--at``, ``--since``, ``--until``,
    ``--seen-at``, ``--first-seen``, ...) uses it, so they all accept the same
    spellings and refuse a time without a zone the same way.
    """

    name = "TIME"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return parse_time(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


TIME = TimeParam()

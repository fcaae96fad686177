"""Option types shared by the ``dx`` commands, so one kind of value is read one way.

A bad value is a usage error click reports itself (``Error: Invalid value for
'--at': ...``, exit status 2), before the command does any work.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
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


_DURATION = re.compile(r"(\d+)([smhd])", re.ASCII)
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class SinceParam(TimeParam):
    """A starting point: a time (as ``TIME``), a date (its midnight, UTC) or a
    duration ago (``30m``, ``24h``, ``7d``); an aware UTC datetime."""

    name = "SINCE"

    def convert(
        self, value: Any, param: click.Parameter | None, ctx: click.Context | None
    ) -> datetime:
        if isinstance(value, datetime):
            return value
        text = str(value).strip()
        duration = _DURATION.fullmatch(text)
        if duration is not None:
            seconds = int(duration[1]) * _UNIT_SECONDS[duration[2]]
            return datetime.now(UTC) - timedelta(seconds=seconds)
        try:
            day = date.fromisoformat(text)
        except ValueError:
            pass
        else:
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        try:
            return parse_time(text)
        except ValueError:
            self.fail(
                f"{value!r} is neither a duration (30m, 24h, 7d), a date nor a time "
                "such as 2026-05-01T12:00:00Z",
                param,
                ctx,
            )


SINCE = SinceParam()

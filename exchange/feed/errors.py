"""Failures of the feed tools, each phrased as one line a lab operator can act on.

The command line prints them the one way (``exchange.commands.failures``) and
exits with ``exit_code``: 1 for problems that will not fix themselves (wrong
key, wrong collection, bad data), 3 for a server that stayed unreachable or
overloaded through every retry, so a cron wrapper can tell "fix the config"
from "try again later".
"""

from __future__ import annotations

from exchange.errors import EXIT_UNAVAILABLE, DxError


class FeedError(DxError):
    """A feed operation failed; the message is the whole story, no traceback needed."""


class ServerUnavailable(FeedError):
    """Connection refused, timeouts, 5xx or 429 persisted through every retry."""

    exit_code = EXIT_UNAVAILABLE


class AccessRefused(FeedError):
    """401 or 403: the partner's key is wrong or revoked, or it lacks a grant."""


class CollectionNotFound(FeedError):
    """The collection does not exist or is not shared with this partner (TAXII hides which)."""


class BadServerResponse(FeedError):
    """The server answered something a TAXII 2.1 server must not (bad JSON, missing headers)."""

"""What the feed tools need of STIX timestamps beyond parsing them.

Parsing and ordering keys are ``mappings.timestamps`` (the project's one STIX
timestamp module); here are the two feed-specific helpers built on it.
"""

from __future__ import annotations

from datetime import datetime

from mappings.timestamps import stix_timestamp


def format_timestamp(moment: datetime) -> str:
    """A STIX timestamp with millisecond precision, the form most tools emit."""
    return stix_timestamp(moment.replace(microsecond=moment.microsecond // 1000 * 1000))

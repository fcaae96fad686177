"""The operator URLs, kept out of the TAXII and console URL spaces.

They live under ``/-/``: no API root can be named ``-`` (names start with a
letter or digit, ``server.config.is_valid_api_root_name``), so no TAXII URL
can ever collide with them.
"""

from __future__ import annotations

PREFIX = "/-/"
METRICS_PATH = "/-/metrics"
HEALTHZ_PATH = "/-/healthz"
READYZ_PATH = "/-/readyz"


def is_probe_path(path: str) -> bool:
    """True for URLs under ``/-/``: no partner authentication, no TAXII content negotiation."""
    return path.startswith(PREFIX)

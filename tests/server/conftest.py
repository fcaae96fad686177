"""Fixtures shared by the HTTP tests: backends to run against."""

from __future__ import annotations

import pytest

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]

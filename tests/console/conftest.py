"""Fixtures of the console tests: backends, and a browser that is skipped nowhere.

The browser is Debian's ``chromium`` (``.ci/run`` installs it when missing),
driven by Playwright from PyPI; Playwright's own browser download is never used.
"""

from __future__ import annotations

import pytest

BACKENDS = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
]

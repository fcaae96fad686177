"""Fixtures of the lab-side tests: one real exchange server per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.exchange import Exchange, build_exchange


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    running = build_exchange(tmp_path_factory.mktemp("exchange"))
    running.start()
    try:
        yield running
    finally:
        running.stop()

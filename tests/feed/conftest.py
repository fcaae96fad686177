"""Fixtures of the feed tests: one real exchange server per test module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.exchange import Exchange, build_feed_exchange


@pytest.fixture(scope="module")
def exchange(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Exchange]:
    """One running exchange per test module (tests use their own collections where needed)."""
    running = build_feed_exchange(tmp_path_factory.mktemp("exchange"))
    running.start()
    try:
        yield running
    finally:
        running.stop()

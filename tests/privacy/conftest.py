"""Shared keys for the privacy tests: the public test-vector key and two others."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import exchange.privacy
from exchange.privacy import ConsortiumKey

VECTORS_PATH = Path(exchange.privacy.__file__).with_name("test_vectors.json")


@pytest.fixture(scope="session")
def vectors() -> dict[str, Any]:
    return json.loads(VECTORS_PATH.read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def test_key() -> ConsortiumKey:
    """The published test-vector key: bytes 0x01..0x20."""
    return ConsortiumKey("test-vector-key", bytes(range(1, 33)))


@pytest.fixture(scope="session")
def other_key() -> ConsortiumKey:
    return ConsortiumKey("other-lab-key", bytes(range(101, 133)))


@pytest.fixture(scope="session")
def same_id_other_secret() -> ConsortiumKey:
    """Same key id as ``test_key`` but another secret: a misconfigured lab."""
    return ConsortiumKey("test-vector-key", bytes(range(201, 233)))

"""The demo's sample analyst: ``dx server demo`` prints a console login that works.

Like the demo's API keys, the password is kept in a 0600 file beside the demo
database (``var/demo-analyst.json``) so that re-running the demo prints the
same login; real analysts' passwords are shown once and stored only hashed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import orjson

from server.store import AlreadyExistsError, Store
from server.store.analysts import add_analyst, password_matches, rotate_password

DEMO_ANALYST = "analyst"
_FILE_NAME = "demo-analyst.json"


@dataclass(frozen=True)
class DemoAnalyst:
    partner_id: str
    name: str
    password: str


def demo_analyst(store: Store, partner_id: str, directory: Path) -> DemoAnalyst:
    """The demo analyst of ``partner_id``, created or (if its saved password is lost) rotated."""
    path = directory / _FILE_NAME
    try:
        saved = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        saved = {}
    password = saved.get("password") if isinstance(saved, dict) else None
    if not (
        isinstance(password, str)
        and saved.get("partner") == partner_id
        and password_matches(store, partner_id, DEMO_ANALYST, password)
    ):
        try:
            password = add_analyst(store, partner_id, DEMO_ANALYST)
        except AlreadyExistsError:  # there, but its password was lost: give it a fresh one
            password = rotate_password(store, partner_id, DEMO_ANALYST)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(orjson.dumps({"partner": partner_id, "password": password}))
    return DemoAnalyst(partner_id, DEMO_ANALYST, password)

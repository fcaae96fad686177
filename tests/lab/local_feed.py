"""A lab's local feed store filled directly (no server) for tests of the local-only commands."""

from __future__ import annotations

from pathlib import Path

from exchange.feed.store import FeedStore, ReceivedVersion
from exchange.publish import serialise
from tests.support.exchange import DEMO_KEY

SCO_VERSION = "1970-01-01T00:00:00.000Z"


def fill_store(path: Path, objects: list[dict], collection: str = "test-collection") -> None:
    """Store ``objects`` as one synced page, each with a distinct date_added."""
    versions = [
        ReceivedVersion(
            obj["id"],
            serialise(obj).version or SCO_VERSION,
            f"2026-05-01T00:{index // 60000 % 60:02d}:{index // 1000 % 60:02d}.{index % 1000:03d}Z",
            obj,
        )
        for index, obj in enumerate(objects)
    ]
    with FeedStore(path) as store:
        store.store_page(
            "http://127.0.0.1:9/exchange/", collection, versions, versions[-1].date_added
        )


def local_lab_config(
    directory: Path, *, producer: tuple[str, str] | None = None, key: bool = True
) -> Path:
    """A lab.toml for commands that only read the local store (the server is never called)."""
    lines = [
        "[server]",
        'api_root = "http://127.0.0.1:9/exchange/"',
        'partner_id = "lab-b"',
        'api_key = "unused"',
    ]
    if producer is not None:
        lines += ["[producer]", f'key = "{producer[0]}"', f'name = "{producer[1]}"']
        lines.append('id_scheme = "legacy"')
    lines += ["[local]", 'store = "feed.sqlite3"']
    if key:
        lines.append(f'consortium_key_file = "{DEMO_KEY}"')
    path = directory / "lab.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path

"""The lab's persistent prompt-match index, kept in the local store's SQLite file.

``dx match`` used to rebuild its prompt index from every stored object on
each run (parse every indicator, decode every signature: seconds at 10,000
templates). The index now lives beside the feed, in two tables of the same
SQLite file as ``exchange.feed.store``:

* ``prompt_match_entries``: one row per prompt-fingerprint indicator, its
  latest version only: the feed entry (what ``exchange.feed.current`` reads
  from the indicator), whether any version was revoked, its ``valid_until``
  as a sortable key, and a ``containment-keyed`` signature already decoded
  (packed uint32) so opening the index decodes nothing;
* ``prompt_match_state``: ``synced_seq``, the last ``object_versions.seq``
  folded in.

``sync_prompt_index`` folds in every stored version after ``synced_seq``, in
one transaction: ``dx poll`` calls it after each page it stores, and
``open_prompt_index`` calls it first, so a store filled by an older ``dx``
(or a poller killed between the two commits) is caught up, never rebuilt.
The rules are those of ``exchange.feed.current``: the latest version of an
indicator wins (on a tie, the first stored), once revoked always revoked,
and expiry is judged when the index is opened (``--at``).
"""

from __future__ import annotations

import json
import sqlite3
import struct
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from exchange.feed.current import FingerprintEntry, fingerprint_entry
from exchange.match.prompts import PromptIndex
from exchange.privacy import ConsortiumKey
from exchange.privacy.template_signature import ALGORITHM_CONTAINMENT, decode_values
from mappings.convert import collector_paused
from mappings.timestamps import stix_timestamp_key as timestamp_key

BUSY_TIMEOUT_S = 10.0
_SCHEMA = """
CREATE TABLE IF NOT EXISTS prompt_match_entries (
    indicator_id TEXT PRIMARY KEY,
    version_key TEXT NOT NULL,
    revoked INTEGER NOT NULL,
    valid_until_key TEXT,
    entry TEXT NOT NULL,
    signature BLOB
);
CREATE TABLE IF NOT EXISTS prompt_match_state (
    name TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
"""


@contextmanager
def _connection(path: str | Path) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(str(path), timeout=BUSY_TIMEOUT_S, isolation_level=None)) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(_SCHEMA)
        yield conn


def _packed_signature(entry: FingerprintEntry) -> bytes | None:
    if entry.algorithm != ALGORITHM_CONTAINMENT:
        return None
    try:
        values = decode_values(entry.value)
    except ValueError:
        return None  # kept as text: the matcher reports it as unusable when opened
    return struct.pack(f"<{len(values)}I", *values)


def sync_prompt_index(path: str | Path) -> int:
    """Fold the versions stored since the last sync into the index; returns how many
    indicator versions were read. Safe to call at any time, from any process."""
    with _connection(path) as conn:
        conn.execute("BEGIN IMMEDIATE")
        try:
            read = _fold_new_versions(conn)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return read


def _fold_new_versions(conn: sqlite3.Connection) -> int:
    state = conn.execute("SELECT value FROM prompt_match_state WHERE name = 'synced_seq'")
    row = state.fetchone()
    synced = row[0] if row else 0
    top = conn.execute("SELECT COALESCE(MAX(seq), 0) FROM object_versions").fetchone()[0]
    if top <= synced:
        return 0
    rows = conn.execute(
        "SELECT stix_id, version_key, revoked, body FROM object_versions "
        "WHERE seq > ? AND seq <= ? AND obj_type = 'indicator' ORDER BY seq",
        (synced, top),
    )
    read = 0
    for stix_id, version_key, revoked, body in rows.fetchall():
        read += 1
        _fold_one(conn, stix_id, version_key, bool(revoked), body)
    conn.execute(
        "INSERT INTO prompt_match_state (name, value) VALUES ('synced_seq', ?) "
        "ON CONFLICT(name) DO UPDATE SET value = excluded.value",
        (top,),
    )
    return read


def _fold_one(
    conn: sqlite3.Connection, stix_id: str, version_key: str, revoked: bool, body: str
) -> None:
    current = conn.execute(
        "SELECT version_key, revoked FROM prompt_match_entries WHERE indicator_id = ?", (stix_id,)
    ).fetchone()
    if current is not None and version_key <= current[0]:
        if revoked and not current[1]:
            conn.execute(
                "UPDATE prompt_match_entries SET revoked = 1 WHERE indicator_id = ?", (stix_id,)
            )
        return
    ever_revoked = revoked or bool(current is not None and current[1])
    try:
        obj = json.loads(body)
        entry = fingerprint_entry(obj)
        until_key = _until_key(obj.get("valid_until"))
    except (ValueError, KeyError, TypeError):
        entry = None  # the reader refuses it: current_feed would skip it too
    if entry is None:
        # The latest version is not (or no longer) a usable fingerprint indicator.
        conn.execute("DELETE FROM prompt_match_entries WHERE indicator_id = ?", (stix_id,))
        return
    conn.execute(
        "INSERT INTO prompt_match_entries "
        "(indicator_id, version_key, revoked, valid_until_key, entry, signature) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(indicator_id) DO UPDATE SET "
        "version_key = excluded.version_key, revoked = excluded.revoked, "
        "valid_until_key = excluded.valid_until_key, entry = excluded.entry, "
        "signature = excluded.signature",
        (
            stix_id,
            version_key,
            int(ever_revoked),
            until_key,
            json.dumps(asdict(entry), sort_keys=True),
            _packed_signature(entry),
        ),
    )


def _until_key(valid_until: Any) -> str | None:
    """Sortable key of ``valid_until``; None (never expires) when absent or unreadable,
    as ``exchange.feed.current`` treats it."""
    if not isinstance(valid_until, str):
        return None
    try:
        return timestamp_key(valid_until)
    except ValueError:
        return None


def open_prompt_index(path: str | Path, key: ConsortiumKey, at: datetime) -> PromptIndex:
    """The prompt index of the store at ``path`` as of ``at`` (catching up first)."""
    sync_prompt_index(path)
    now_key = timestamp_key(at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    index = PromptIndex(key=key)
    # Building allocates millions of small containers and no cycles: the cyclic garbage
    # collector would rescan the growing heap again and again (measured: 3x slower at
    # 10,000 signatures). Pause it while building.
    with collector_paused(), _connection(path) as conn:
        rows = conn.execute(
            "SELECT entry, signature FROM prompt_match_entries "
            "WHERE revoked = 0 AND (valid_until_key IS NULL OR valid_until_key > ?) "
            "ORDER BY indicator_id",
            (now_key,),
        )
        for entry_text, signature in rows:
            data: dict[str, Any] = orjson.loads(entry_text)
            entry = FingerprintEntry(**data)
            values = struct.unpack(f"<{len(signature) // 4}I", signature) if signature else None
            index.add(entry, values)
        index.containment.prepare()
    return index

"""Backups and restores of the store, safe to take while the server serves.

Three formats, picked by ``backup(..., fmt="auto")`` and recognised by
``restore`` from the file's first bytes:

* ``sqlite``: a SQLite database file made with SQLite's online backup API
  (one step, so it is one consistent snapshot even while workers write; WAL
  readers never block them). Restoring copies it back with the same API.
* ``pg_custom``: ``pg_dump --format=custom`` (a consistent snapshot taken by
  PostgreSQL itself), restored with ``pg_restore --single-transaction``. The
  default on PostgreSQL when ``pg_dump`` is on the PATH.
* ``logical``: gzip'd JSON lines written through the store: a header (schema
  revision, source database), then every row of every table read in one
  snapshot, then a trailer with the row counts (a truncated file is refused).
  It works on both databases and between them (SQLite to PostgreSQL and back),
  so it is the fallback when ``pg_dump`` is missing and the way to move.

Every backup is written to a temporary file (mode 0600: it holds every
object and the partners' key hashes), flushed to disk and renamed, so a
crash never leaves a partial file under the final name. A restore goes into
an empty database only (no tables): merging a backup into live data would
break date_added order. Afterwards the schema is brought to the code's
migration, and the caller should run the integrity check.
"""

from __future__ import annotations

import gzip
import os
import shutil
import sqlite3
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from sqlalchemy import Engine, func, insert, inspect, select, text
from sqlalchemy.engine import make_url

from server.store.engine import make_engine, write_transaction
from server.store.errors import InvalidInputError, StoreError
from server.store.integrity import snapshot_transaction
from server.store.migrate import alembic_config, current_revision, head_revision, upgrade_to_head
from server.store.schema import metadata

FORMATS = ("sqlite", "pg_custom", "logical")
LOGICAL_MAGIC = "dx-logical-backup"
LOGICAL_VERSION = 1
_SQLITE_HEADER = b"SQLite format 3\x00"
_PG_CUSTOM_HEADER = b"PGDMP"
_GZIP_HEADER = b"\x1f\x8b"
_INSERT_BATCH = 1000
# One transaction: a failed restore leaves the database empty, not half-filled.
_PG_RESTORE_OPTIONS = ("--no-owner", "--no-privileges", "--exit-on-error", "--single-transaction")


class BackupError(StoreError):
    """A backup or restore that cannot be done; the message says why, naming the file."""


@dataclass
class BackupSummary:
    path: Path
    fmt: str
    rows: dict[str, int] = field(default_factory=dict)  # logical format only
    bytes: int = 0
    seconds: float = 0.0


def backup(url: str, destination: Path, *, fmt: str = "auto") -> BackupSummary:
    """Write a consistent backup of the database at ``url`` to ``destination``."""
    destination = Path(destination)
    backend = _backend(url)
    if fmt == "auto":
        fmt = "sqlite" if backend == "sqlite" else ("pg_custom" if _has("pg_dump") else "logical")
    if fmt not in FORMATS:
        raise BackupError(f"unknown backup format {fmt!r}: use one of {', '.join(FORMATS)}")
    if fmt == "sqlite" and backend != "sqlite":
        raise BackupError("format sqlite backs up a SQLite database; use pg_custom or logical")
    if fmt == "pg_custom" and backend != "postgresql":
        raise BackupError("format pg_custom backs up a PostgreSQL database; use sqlite or logical")
    _require_current_schema(url)
    started = time.monotonic()
    destination.parent.mkdir(parents=True, exist_ok=True)
    partial = destination.with_name(f".{destination.name}.partial")
    summary = BackupSummary(destination, fmt)
    # A backup holds every object (TLP:RED ones too) and the partners' key hashes: owner-only.
    os.close(os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
    try:
        if fmt == "sqlite":
            _sqlite_backup(_sqlite_path(url), partial)
        elif fmt == "pg_custom":
            _run_pg_tool("pg_dump", url, ["--format=custom", f"--file={partial}"])
        else:
            summary.rows = _logical_backup(url, partial)
        _fsync(partial)
        os.replace(partial, destination)
    finally:
        partial.unlink(missing_ok=True)
    summary.bytes = destination.stat().st_size
    summary.seconds = time.monotonic() - started
    return summary


def detect_format(path: Path) -> str:
    """The format of a backup file, from its first bytes."""
    try:
        with open(path, "rb") as file:
            head = file.read(16)
    except OSError as error:
        raise BackupError(f"{path}: cannot read ({error.strerror})") from None
    if head.startswith(_SQLITE_HEADER):
        return "sqlite"
    if head.startswith(_PG_CUSTOM_HEADER):
        return "pg_custom"
    if head.startswith(_GZIP_HEADER):
        return "logical"
    raise BackupError(f"{path}: not a backup made by `dx server backup` (unknown format)")


def restore(source: Path, url: str) -> str:
    """Restore ``source`` into the empty database at ``url``; return the format restored."""
    source = Path(source)
    fmt = detect_format(source)
    backend = _backend(url)
    if fmt == "sqlite" and backend != "sqlite":
        raise BackupError(
            f"{source}: a SQLite backup restores into a sqlite:/// URL; "
            "to move to PostgreSQL, back up with --format logical"
        )
    if fmt == "pg_custom" and backend != "postgresql":
        raise BackupError(
            f"{source}: a pg_dump backup restores into PostgreSQL; "
            "to move to SQLite, back up with --format logical"
        )
    _require_empty(url)
    if fmt == "sqlite":
        _sqlite_restore(source, _sqlite_path(url))
    elif fmt == "pg_custom":
        _run_pg_tool(
            "pg_restore",
            url,
            [*_PG_RESTORE_OPTIONS, str(source)],
        )
    else:
        _logical_restore(source, url)
    engine = make_engine(url)
    try:
        upgrade_to_head(engine)  # a backup from an older release is brought up to date
    finally:
        engine.dispose()
    return fmt


# -- checks -------------------------------------------------------------------------------


def _backend(url: str) -> str:
    try:
        return make_url(url).get_backend_name()
    except Exception:
        raise InvalidInputError(f"not a database URL: {url!r}") from None


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("an in-memory SQLite database cannot be backed up or restored")
    return Path(database).expanduser()


def _has(tool: str) -> bool:
    return shutil.which(tool) is not None


def _require_current_schema(url: str) -> None:
    engine = make_engine(url)
    try:
        revision = current_revision(engine)
    finally:
        engine.dispose()
    if revision is None:
        raise BackupError(f"database {url}: no exchange schema in it (nothing to back up)")


def _require_empty(url: str) -> None:
    engine = make_engine(url)
    try:
        tables = inspect(engine).get_table_names()
    finally:
        engine.dispose()
    if tables:
        raise BackupError(
            f"database {url}: not empty ({len(tables)} tables); restore into a new, empty database"
        )


def _fsync(path: Path) -> None:
    with open(path, "rb") as file:
        os.fsync(file.fileno())


# -- SQLite -------------------------------------------------------------------------------


def _sqlite_backup(database: Path, destination: Path) -> None:
    if not database.exists():
        raise BackupError(f"{database}: no such SQLite database")
    source = sqlite3.connect(database, timeout=30)
    target = sqlite3.connect(destination)
    try:
        # pages=-1: the whole database in one step, from one read snapshot.
        source.backup(target, pages=-1)
        check = target.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"{destination}: backup copy failed its integrity check: {check}")
    finally:
        target.close()
        source.close()


def _sqlite_restore(source: Path, database: Path) -> None:
    database.parent.mkdir(parents=True, exist_ok=True)
    backup_copy = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    target = sqlite3.connect(database)
    try:
        check = backup_copy.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            raise BackupError(f"{source}: the backup file is damaged: {check}")
        backup_copy.backup(target, pages=-1)
    finally:
        target.close()
        backup_copy.close()


# -- PostgreSQL's own tools -------------------------------------------------------------


def _run_pg_tool(tool: str, url: str, arguments: list[str]) -> None:
    if not _has(tool):
        raise BackupError(f"{tool} not found on the PATH; use --format logical instead")
    parsed = make_url(url)
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)  # not on the command line, where ps shows it
    conninfo = parsed.set(drivername="postgresql", password=None).render_as_string(
        hide_password=False
    )
    result = subprocess.run(
        [tool, f"--dbname={conninfo}", *arguments],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["failed"])[-1]
        raise BackupError(f"{tool}: {reason}")


# -- logical: JSON lines through SQLAlchemy ----------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    raise TypeError(f"cannot write {type(value).__name__} to a logical backup")


def _logical_backup(url: str, destination: Path) -> dict[str, int]:
    engine = make_engine(url)
    counts: dict[str, int] = {}
    try:
        with snapshot_transaction(engine) as connection, gzip.open(destination, "wb") as out:
            revision = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
            header = {
                "format": LOGICAL_MAGIC,
                "version": LOGICAL_VERSION,
                "schema_revision": revision,
                "source": engine.dialect.name,
                "created_us": time.time_ns() // 1000,
            }
            out.write(orjson.dumps(header) + b"\n")
            for table in metadata.sorted_tables:
                order = list(table.primary_key.columns) or list(table.columns)
                name = str(table.name)  # a quoted_name, which orjson refuses as a key
                counts[name] = 0
                for row in connection.execute(select(table).order_by(*order)):
                    line = {
                        "table": table.name,
                        "row": {str(k): v for k, v in row._asdict().items()},
                    }
                    out.write(orjson.dumps(line, default=_json_default) + b"\n")
                    counts[name] += 1
            out.write(orjson.dumps({"end": True, "rows": counts}) + b"\n")
    finally:
        engine.dispose()
    return counts


def _read_logical(source: Path) -> tuple[dict, dict[str, list[dict]]]:
    rows: dict[str, list[dict]] = {table.name: [] for table in metadata.sorted_tables}
    header: dict | None = None
    trailer: dict | None = None
    try:
        with gzip.open(source, "rb") as file:
            for number, line in enumerate(file, start=1):
                record = orjson.loads(line)
                if header is None:
                    if record.get("format") != LOGICAL_MAGIC:
                        raise BackupError(f"{source}: line 1: not a dx logical backup header")
                    header = record
                elif record.get("end"):
                    trailer = record
                elif record.get("table") not in rows:
                    raise BackupError(
                        f"{source}: line {number}: unknown table {record.get('table')!r}"
                    )
                else:
                    rows[record["table"]].append(record["row"])
    except (OSError, EOFError, orjson.JSONDecodeError) as error:
        raise BackupError(f"{source}: unreadable logical backup ({error})") from None
    if header is None or trailer is None:
        raise BackupError(f"{source}: truncated logical backup (no end marker)")
    found = {name: len(items) for name, items in rows.items() if items or name in trailer["rows"]}
    if found != trailer["rows"]:
        raise BackupError(f"{source}: row counts {found} differ from the trailer {trailer['rows']}")
    return header, rows


def _logical_restore(source: Path, url: str) -> None:
    header, rows = _read_logical(source)
    revision = header["schema_revision"]
    if revision != head_revision():
        # Rows are shaped like the schema they were read from; create that one first.
        _check_known_revision(source, revision)
    engine = make_engine(url)
    try:
        _create_schema_at(engine, revision)
        with write_transaction(engine) as connection:
            for table in metadata.sorted_tables:
                batch = rows[table.name]
                for start in range(0, len(batch), _INSERT_BATCH):
                    connection.execute(insert(table), batch[start : start + _INSERT_BATCH])
            if connection.dialect.name == "postgresql":
                _reset_identity_sequences(connection)
    finally:
        engine.dispose()


def _check_known_revision(source: Path, revision: str) -> None:
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config())
    if revision is None or scripts.get_revision(revision) is None:
        raise BackupError(f"{source}: made at unknown schema migration {revision!r}")


def _create_schema_at(engine: Engine, revision: str) -> None:
    config = alembic_config()
    with write_transaction(engine) as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)


def _reset_identity_sequences(connection) -> None:
    """Explicit ids were inserted; move each identity sequence past the greatest one."""
    for table in metadata.sorted_tables:
        for column in table.columns:
            if column.identity is None:
                continue
            newest = connection.execute(select(func.max(column))).scalar()
            if newest is None:
                continue
            connection.execute(
                text("SELECT setval(pg_get_serial_sequence(:table, :column), :value)"),
                {"table": table.name, "column": column.name, "value": newest},
            )

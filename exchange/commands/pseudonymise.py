"""``dx pseudonymise``: a CSV of raw identifiers in, the same rows with keyed hashes out.

Detection pipelines know accounts by their emails and phone numbers; the
exchange must only ever see keyed hashes of them. This command is the bridge:
named columns are normalised and hashed with the consortium key (so partner
labs hashing the same address get the same value), the raw values are never
written, and every other column is dropped unless kept with ``--keep``. A
kept column that still looks like a raw email or phone number is refused: the
easiest privacy leak is the column nobody thought about.

Output columns are the input's, in order, with each hashed column renamed
``<column>_hash`` (so nobody mistakes the output for raw data) and dropped
columns left out. Empty cells stay empty.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from exchange.atomic import AtomicOutput, check_output_target
from exchange.commands.failures import DxCommand, command_errors
from exchange.commands.terminal import note, progress_bar
from exchange.errors import DEFAULT_MAX_ERRORS, ErrorCollector, InputError, InputErrors
from exchange.privacy import (
    ConsortiumKey,
    IdentifierKind,
    load_key,
    looks_like_raw_identifier,
    pseudonymise,
)
from exchange.readers.csv_source import MalformedCsv, csv_rows
from exchange.readers.text import UnreadableInput, display_name, read_text

HASH_SUFFIX = "_hash"
KIND_NAMES = tuple(kind.value for kind in IdentifierKind)


@dataclass(frozen=True)
class ColumnSpec:
    """``--column NAME:KIND``: hash the values of column NAME as identifiers of KIND."""

    column: str
    kind: str

    @property
    def output_name(self) -> str:
        return self.column + HASH_SUFFIX


class _ColumnSpecType(click.ParamType):
    name = "COLUMN:KIND"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, ColumnSpec):
            return value
        column, found, kind = str(value).rpartition(":")
        if not found or not column.strip():
            self.fail(f"{value!r}: expected COLUMN:KIND, e.g. email:email", param, ctx)
        if kind not in KIND_NAMES:
            self.fail(f"{value!r}: KIND must be one of {', '.join(KIND_NAMES)}", param, ctx)
        return ColumnSpec(column.strip(), kind)


@dataclass(frozen=True)
class _Plan:
    """Which input column feeds each output column, and how."""

    header: list[str]
    sources: list[tuple[int, str | None]]  # (input index, kind to hash or None to keep)


def _plan(name: str, header: list[str], specs: Sequence[ColumnSpec], keep: Sequence[str]) -> _Plan:
    header = [cell.strip() for cell in header]
    problems = []
    wanted = {spec.column: spec for spec in specs}
    for column in [*wanted, *keep]:
        if column not in header:
            problems.append(InputError(name, 1, column, "no such column in the header"))
    for column in keep:
        if column in wanted:
            problems.append(InputError(name, 1, column, "both --keep and --column; pick one"))
    for column in wanted:
        if column + HASH_SUFFIX in header:
            problems.append(
                InputError(name, 1, column, f"output column {column + HASH_SUFFIX} already exists")
            )
    if len(set(header)) != len(header):
        problems.append(InputError(name, 1, None, "a column name appears twice in the header"))
    if problems:
        raise InputErrors(problems)
    out_header: list[str] = []
    sources: list[tuple[int, str | None]] = []
    for index, column in enumerate(header):
        if column in wanted:
            out_header.append(wanted[column].output_name)
            sources.append((index, wanted[column].kind))
        elif column in keep:
            out_header.append(column)
            sources.append((index, None))
    return _Plan(out_header, sources)


def _output_row(
    name: str,
    line: int,
    header: list[str],
    cells: list[str],
    plan: _Plan,
    key: ConsortiumKey,
    default_region: str | None,
    errors: ErrorCollector,
) -> list[str] | None:
    row: list[str] = []
    ok = True
    for index, kind in plan.sources:
        value = cells[index].strip()
        column = header[index].strip()
        if kind is None:
            looks = looks_like_raw_identifier(value) if value else None
            if looks is not None:
                errors.add(
                    InputError(
                        name,
                        line,
                        column,
                        f"kept column holds what looks like a raw {looks.value}; hash it with "
                        f"--column {column}:{looks.value} or leave the column out",
                    )
                )
                ok = False
            row.append(value)
            continue
        if not value:
            row.append("")
            continue
        try:
            row.append(pseudonymise(kind, value, key, default_region=default_region))
        except ValueError as exc:
            errors.add(InputError(name, line, column, str(exc)))
            ok = False
    return row if ok else None


def pseudonymise_csv(
    path: Path,
    output: str,
    specs: Sequence[ColumnSpec],
    keep: Sequence[str],
    key: ConsortiumKey,
    *,
    default_region: str | None = None,
    max_errors: int = DEFAULT_MAX_ERRORS,
) -> int:
    """Write the pseudonymised CSV atomically; returns the number of data rows.

    Raises InputErrors (nothing written) when any cell cannot be hashed or a
    kept cell looks like a raw identifier.
    """
    name = display_name(path)
    try:
        text = read_text(path)
    except UnreadableInput as exc:
        raise InputErrors([exc.error]) from None
    errors = ErrorCollector(max_errors)
    rows = csv_rows(text)
    try:
        _, header = next(rows)
    except StopIteration:
        raise InputErrors(
            [InputError(name, 1, None, "empty file: expected a header row")]
        ) from None
    except MalformedCsv as exc:
        raise InputErrors([InputError(name, exc.line, None, f"malformed CSV: {exc}")]) from None
    plan = _plan(name, header, specs, keep)
    count = 0
    with AtomicOutput(output) as out, progress_bar(desc="pseudonymising") as bar:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(plan.header)
        try:
            for line, cells in rows:
                if errors.full:
                    errors.truncated = True
                    break
                if len(cells) != len(header):
                    errors.add(
                        InputError(
                            name,
                            line,
                            None,
                            f"row has {len(cells)} cells but the header has {len(header)} columns",
                        )
                    )
                    continue
                row = _output_row(name, line, header, cells, plan, key, default_region, errors)
                if row is None or errors.errors:
                    continue  # once anything failed, only keep looking for errors
                writer.writerow(row)
                count += 1
                bar.update(1)
                if buffer.tell() > 1 << 20:
                    out.write(buffer.getvalue().encode("utf-8"))
                    buffer.seek(0)
                    buffer.truncate()
        except MalformedCsv as exc:
            errors.add(InputError(name, exc.line, None, f"malformed CSV: {exc}"))
        errors.raise_if_any()
        out.write(buffer.getvalue().encode("utf-8"))
        out.commit()
    return count


_EXAMPLE = """
\b
Example:
  dx pseudonymise samples/raw/lab-a-accounts.csv \\
      --key-file samples/keys/demo-consortium-key.json \\
      --column email:email --column phone:phone --keep cluster_id \\
      -o accounts-hashed.csv
"""


@click.command(
    "pseudonymise",
    cls=DxCommand,
    epilog=_EXAMPLE,
    short_help="Replace raw identifiers in a CSV with keyed hashes.",
)
@click.argument("csv_file", metavar="IN.csv", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, help="CSV file to write, or - for stdout.")
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Consortium key file (default: $DX_CONSORTIUM_KEY_FILE).",
)
@click.option(
    "--column",
    "columns",
    multiple=True,
    required=True,
    type=_ColumnSpecType(),
    help=f"COLUMN:KIND to hash (repeatable); KIND is one of {', '.join(KIND_NAMES)}.",
)
@click.option(
    "--keep",
    multiple=True,
    help="Column to copy unchanged (repeatable); all other columns are dropped.",
)
@click.option(
    "--default-region",
    help="ISO 3166 country (e.g. GB) for phone numbers written without a country code.",
)
@click.option(
    "--max-errors",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_ERRORS,
    show_default=True,
    help="Stop after this many errors.",
)
def pseudonymise_command(
    csv_file: Path,
    output: str,
    key_file: Path | None,
    columns: tuple[ColumnSpec, ...],
    keep: tuple[str, ...],
    default_region: str | None,
    max_errors: int,
) -> None:
    """Replace raw identifiers in a CSV with keyed hashes (HMAC-SHA256, n1).

    Each --column COLUMN:KIND is normalised and hashed with the consortium
    key into COLUMN_hash; --keep columns are copied; everything else is
    dropped. Raw values are never written. A value that is not a valid
    identifier of its kind, or a kept value that looks like a raw email or
    phone number, prints FILE:LINE: COLUMN: MESSAGE, exits 1 and writes nothing.
    """
    if len({spec.column for spec in columns}) != len(columns):
        raise click.BadParameter("a column is named twice", param_hint="'--column'")
    with command_errors("pseudonymise"):
        check_output_target(output)
        key = load_key(key_file)
        count = pseudonymise_csv(
            csv_file,
            output,
            columns,
            keep,
            key,
            default_region=default_region,
            max_errors=max_errors,
        )
    note(f"{output}: {count} row(s), {len(columns)} column(s) hashed with key {key.key_id}")

"""``dx export``: a filtered, self-contained, validated STIX bundle for an analyst.

Either from the local feed store (``--from-store lab.toml``: offline, all
synced collections unless ``--collection`` narrows it) or from the server
(``--from-server lab.toml``: the collections given with ``--collection``, else
the config's). The bundle is validated with stix2-validator (strict, with the
project's schemas) before anything is written. Objects that fail validation
on their own (a partner's non-conforming object) are withheld, one warning
line each, and the rest is written (exit 0; the ``exported`` line counts them
as ``invalid_withheld``); a bundle still invalid after that is refused (exit 1)
unless ``--allow-invalid``, which also keeps the invalid objects. The output
file is replaced atomically.
"""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import click

from exchange.atomic import check_output_target, write_atomically
from exchange.commands.failures import DxCommand, command_errors, fail
from exchange.commands.params import TIME
from exchange.feed.client import TaxiiSession
from exchange.feed.export import (
    ServerSource,
    export_from_server,
    export_from_store,
    server_identities,
    store_identities,
)
from exchange.feed.logs import JsonLog
from exchange.feed.store import FeedStore
from exchange.lab_config import load_lab_config
from mappings.convert import bundle_json
from mappings.export_bundle import ExportResult, withhold_invalid
from mappings.export_filters import ExportFilter, parse_tlp, resolve_producers
from mappings.timestamps import stix_timestamp
from mappings.well_known import WELL_KNOWN_OBJECTS


def _split(values: tuple[str, ...]) -> list[str]:
    """Repeatable options that also accept comma lists."""
    return [part.strip() for value in values for part in value.split(",") if part.strip()]


def _filter(
    types: tuple[str, ...],
    since: datetime | None,
    until: datetime | None,
    min_confidence: int | None,
    max_tlp: str | None,
    include_revoked: bool,
) -> ExportFilter:
    tlp = None
    if max_tlp is not None:
        try:
            tlp = parse_tlp(max_tlp)
        except ValueError as error:
            raise click.BadParameter(str(error), param_hint="'--max-tlp'") from None
    window = (since, until)
    if since and until and since > until:
        raise click.BadParameter(
            f"--since {stix_timestamp(since)} is after --until {stix_timestamp(until)}",
            param_hint="'--since'/'--until'",
        )
    return ExportFilter(
        types=frozenset(_split(types)),
        since=window[0],
        until=window[1],
        min_confidence=min_confidence,
        max_tlp=tlp,
        include_revoked=include_revoked,
    )


def _with_producers(
    export_filter: ExportFilter, producers: list[str], identities: list[dict]
) -> ExportFilter:
    if not producers:
        return export_filter
    known = identities + [o for o in WELL_KNOWN_OBJECTS.values() if o["type"] == "identity"]
    ids, unknown = resolve_producers(producers, known)
    if unknown:
        fail("export", f"--producer: no identity named {unknown[0]!r} in the feed")
    return replace(export_filter, producers=ids)


_EXAMPLE = """
\b
Examples:
  dx export --from-store lab.toml --type indicator --max-tlp amber -o indicators.json
  dx export --from-server lab.toml --collection indicators --since 2026-04-01T00:00:00Z \\
      --producer "Lab A" --all-versions -o lab-a-april.json
"""


@click.command("export", cls=DxCommand, epilog=_EXAMPLE)
@click.option(
    "--from-store",
    "store_config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Export from the local feed store of this lab.toml.",
)
@click.option(
    "--from-server",
    "server_config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Export from the exchange, as the partner of this lab.toml.",
)
@click.option(
    "--collection",
    "collections",
    multiple=True,
    help="Collection id, alias or title (repeatable). Store: restricts to it; "
    "server: default server.collections.",
)
@click.option("--type", "types", multiple=True, help="STIX type to select (repeatable, or a,b).")
@click.option(
    "--since", type=TIME, default=None, help="Versions modified at or after (STIX timestamp)."
)
@click.option(
    "--until", type=TIME, default=None, help="Versions modified at or before (STIX timestamp)."
)
@click.option(
    "--producer",
    "producers",
    multiple=True,
    help="Producer identity id or name (repeatable).",
)
@click.option("--min-confidence", type=click.IntRange(0, 100), default=None)
@click.option(
    "--max-tlp", default=None, help="Most restrictive TLP to include: clear, green, amber, ..."
)
@click.option("--all-versions", is_flag=True, help="Every stored version, not just the latest.")
@click.option("--include-revoked", is_flag=True, help="Keep revoked objects.")
@click.option(
    "--refs/--no-refs",
    "follow_refs",
    default=True,
    show_default=True,
    help="Also include the objects the selected ones reference directly.",
)
@click.option(
    "--allow-invalid",
    is_flag=True,
    help="Write the bundle even if validation fails, invalid objects included.",
)
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Bundle file to write; - writes it to standard output.",
)
@click.option("--quiet", is_flag=True, help="No summary log line.")
def export(
    store_config: Path | None,
    server_config: Path | None,
    collections: tuple[str, ...],
    types: tuple[str, ...],
    since: datetime | None,
    until: datetime | None,
    producers: tuple[str, ...],
    min_confidence: int | None,
    max_tlp: str | None,
    all_versions: bool,
    include_revoked: bool,
    follow_refs: bool,
    allow_invalid: bool,
    output: Path,
    quiet: bool,
) -> None:
    """Export a filtered STIX bundle from the local store or from the server."""
    log = JsonLog(quiet=quiet)
    if (store_config is None) == (server_config is None):
        raise click.UsageError(
            "give exactly one of --from-store LAB_TOML or --from-server LAB_TOML"
        )
    with command_errors("export"):
        check_output_target(output)
        export_filter = _filter(types, since, until, min_confidence, max_tlp, include_revoked)
        wanted_producers = _split(producers)
        result: ExportResult
        if store_config is not None:
            config = load_lab_config(store_config)
            with FeedStore(config.store_path) as store:
                export_filter = _with_producers(
                    export_filter, wanted_producers, store_identities(store)
                )
                result = export_from_store(
                    store,
                    export_filter,
                    collections=_store_collections(collections),
                    all_versions=all_versions,
                    follow_refs=follow_refs,
                )
        else:
            assert server_config is not None
            config = load_lab_config(server_config)
            refs = list(collections) or list(config.server.collections)
            if not refs:
                fail("export", "--from-server needs --collection (or server.collections)")
            with TaxiiSession.from_config(config, log=log) as session:
                source = ServerSource(session, refs)
                export_filter = _with_producers(
                    export_filter, wanted_producers, server_identities(source)
                )
                result = export_from_server(
                    source, export_filter, all_versions=all_versions, follow_refs=follow_refs
                )
        # Imported here: loading the validator takes about a second at start-up.
        from mappings.validation import validate_bundle

        def errors_of(bundle: dict) -> list[str]:
            return validate_bundle(bundle).errors

        if allow_invalid:
            errors = errors_of(result.bundle)
        else:
            errors = withhold_invalid(result, errors_of)
            for invalid in result.invalid:
                log.warning(
                    "withheld_invalid",
                    id=invalid.stix_id,
                    version=invalid.version,
                    problem=invalid.error,
                )
        if errors and not allow_invalid:
            fail(
                "export",
                f"{output}: not written: the bundle fails validation with "
                f"{len(errors)} errors; first: {errors[0]}",
            )
        write_atomically(output, bundle_json(result.bundle))
        log.event(
            "exported",
            output=str(output),
            selected=result.selected,
            referenced=result.referenced,
            objects=len(result.bundle["objects"]),
            withheld=len(result.withheld),
            unresolved=len(result.unresolved),
            invalid_withheld=len(result.invalid),
            validation_errors=len(errors),
        )


def _store_collections(collections: tuple[str, ...]) -> list[str] | None:
    """Collections in the store are kept by id; names need the server, so ids only here."""
    if not collections:
        return None
    ids = []
    for ref in collections:
        try:
            ids.append(str(uuid.UUID(ref)))
        except ValueError:
            raise click.BadParameter(
                f"{ref!r}: with --from-store give the collection id", param_hint="'--collection'"
            ) from None
    return ids


if __name__ == "__main__":
    export()

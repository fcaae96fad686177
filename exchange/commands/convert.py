"""``dx convert``: detection records in, one validated STIX 2.1 bundle out.

The order of work is the point: every input record is read and validated,
ranges are checked against the lab's shared-network allow-list, the bundle
is built and passed through stix2-validator, and only then is the output
written (atomically). Any problem on the way prints one line per error and
exits 1 with nothing written, so a pipeline can never publish half a batch.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import click

from exchange.atomic import check_output_target, write_chunks_atomically
from exchange.commands.failures import DxCommand, command_errors
from exchange.commands.terminal import note, progress_bar
from exchange.errors import DEFAULT_MAX_ERRORS, DxError, InputErrors
from exchange.id_secret import build_producer
from exchange.lab_config import load_producer_settings
from exchange.readers import FORMAT_NAMES, MODEL_BY_KIND, LocatedRecord, iter_detections
from exchange.readers.shared_networks import find_shared_overlaps, load_shared_networks
from mappings.canonical_bundle import CanonicalBundle, CanonicalBundleBuilder
from mappings.convert import MappingError, collector_paused
from mappings.producer import Producer
from mappings.validation_scope import FULL_VALIDATION_LIMIT, ShapeSampler

SHARED_NETWORKS_ENV = "DX_SHARED_NETWORKS"
ID_SECRET_FILE_ENV = "DX_ID_SECRET_FILE"


def resolve_producer(
    config: Path | None,
    key: str | None,
    name: str | None,
    id_secret_file: Path | None = None,
    legacy_ids: bool = False,
) -> Producer:
    """The producer from ``--producer-config`` and/or the explicit options (which win)."""
    secret_file, scheme, where = id_secret_file, "legacy" if legacy_ids else "keyed", "command line"
    if config is not None:
        settings, configured_secret = load_producer_settings(config)
        key, name = key or settings.key, name or settings.name
        if id_secret_file is None and not legacy_ids:
            secret_file, scheme = configured_secret, settings.id_scheme
            where = f"{config}: producer"
    if not key or not name:
        raise click.UsageError(
            "say who publishes: --producer-key and --producer-name, or --producer-config FILE"
        )
    if secret_file is None and scheme == "keyed" and config is None:
        raise DxError(
            "--id-secret-file: required: the lab's id secret makes the ids of "
            "its objects unpredictable to partners (create it with: python3 -m "
            f"exchange.id_secret {key} FILE); --legacy-ids keeps the old public ids, "
            "see docs/stix-mapping.md"
        )
    try:
        return build_producer(key, name, id_secret_file=secret_file, id_scheme=scheme, where=where)
    except DxError:
        raise
    except ValueError as exc:
        hint = "'--producer-key'/'--producer-name'"
        raise click.BadParameter(str(exc), param_hint=hint) from None


def _check_shared(
    ranges: list[LocatedRecord], shared_file: Path | None, allow_shared: bool
) -> None:
    if shared_file is None:
        return
    shared = load_shared_networks(shared_file)
    overlaps = find_shared_overlaps(ranges, shared)
    if not overlaps:
        return
    if not allow_shared:
        raise InputErrors(overlap.error(refused=True) for overlap in overlaps)
    for overlap in overlaps:
        note(f"warning: {overlap.error(refused=False)}")


def convert_files(
    files: list[Path],
    producer: Producer,
    *,
    input_format: str | None = None,
    kind: str | None = None,
    shared_networks: Path | None = None,
    allow_shared: bool = False,
    max_errors: int = DEFAULT_MAX_ERRORS,
    pretty: bool = False,
    validation: str = "auto",
) -> tuple[CanonicalBundle, Counter[str]]:
    """The canonical bundle for ``files``, and how many records of each kind.

    ``validation`` is the stix2-validator scope (``auto``, ``full``, ``sample``)
    or ``off``; what a sample left unchecked is said on stderr.

    Each record is converted and serialised as soon as it is validated (see
    ``mappings.canonical_bundle``), so a large batch's objects are held as bytes,
    not dicts; if any input turns out bad, what was built is thrown away.

    Raises ``DxError`` (``InputErrors`` for bad records) on any input or validation problem;
    this is the command's whole pipeline minus the writing, so the sample
    generator and the tests produce bundles exactly as ``dx convert`` does.
    """
    sampler = ShapeSampler() if validation in ("auto", "sample") else None
    builder = CanonicalBundleBuilder(
        producer, pretty=pretty, observe=sampler.offer if sampler is not None else None
    )
    counts: Counter[str] = Counter()
    ranges: list[LocatedRecord] = []
    with progress_bar(desc="reading") as bar, collector_paused():
        try:
            for item in iter_detections(
                files,
                input_format=input_format,
                kind=kind,
                max_errors=max_errors,
                progress=bar.update,
            ):
                record = item.record
                counts[record.kind] += 1
                if shared_networks is not None and record.kind == "ip-range":
                    ranges.append(item)
                builder.add(record)
        except MappingError as exc:
            raise DxError(str(exc)) from None
    _check_shared(ranges, shared_networks, allow_shared)
    bundle = builder.finish()
    _validate(bundle, sampler, validation, max_errors)
    return bundle, counts


VALIDATION_CHOICES = ("auto", "full", "sample", "off")


def _validate(
    bundle: CanonicalBundle, sampler: ShapeSampler | None, validation: str, max_errors: int
) -> None:
    """Run stix2-validator in the chosen scope; fail on any error, say what was skipped."""
    if validation == "off":
        note("warning: --validate off: the bundle was not checked with stix2-validator")
        return
    # Imported here: loading the validator takes about a second, which every other
    # dx command (and --help) would pay at start-up.
    from mappings.validation import validate_bundle, validate_sample

    whole = validation == "full" or (
        validation == "auto" and bundle.object_count <= FULL_VALIDATION_LIMIT
    )
    if whole or sampler is None:
        report = validate_bundle(bundle.data, scope="full")
    elif not sampler.plain:  # never from the mappings; then the library sees it all
        report = validate_bundle(bundle.data, scope="sample")
    else:
        report = validate_sample(bundle.bundle_id, sampler, bundle.object_count)
    if not report.ok:
        shown = report.errors[:max_errors]
        raise DxError(*(f"bundle: STIX validation: {error}" for error in shown))
    if report.checked < report.total:
        note(
            f"stix2-validator checked a sample of {report.checked:,} of {report.total:,} "
            f"objects (every shape of object; above {FULL_VALIDATION_LIMIT:,} objects "
            "--validate auto samples): --validate full checks them all"
        )


_EXAMPLE = """
\b
Examples:
  dx convert samples/lab-a/detections.jsonl --pretty \\
      --producer-config samples/lab-a/producer.toml \\
      --shared-networks samples/shared-networks.txt -o bundle.json
  dx convert clusters.csv ranges.csv --producer-key lab-a.example \\
      --producer-name "Lab A" --id-secret-file secrets/lab-a-id-secret.json \\
      --shared-networks shared-networks.txt -o -
"""


@click.command(
    "convert",
    cls=DxCommand,
    epilog=_EXAMPLE,
    short_help="Convert detection records (JSON, JSONL, CSV) to a STIX 2.1 bundle.",
)
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o", "--output", required=True, help="Bundle file to write, or - for standard output."
)
@click.option("--producer-key", help="Your lab's stable producer key, e.g. lab-a.example.")
@click.option("--producer-name", help='Your lab\'s display name, e.g. "Lab A".')
@click.option(
    "--producer-config",
    type=click.Path(dir_okay=False, path_type=Path),
    help="TOML file with a [producer] table (key, name, id_secret_file); lab.toml works.",
)
@click.option(
    "--id-secret-file",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar=ID_SECRET_FILE_ENV,
    help=f"The lab's own id secret file (never the consortium key): the ids of your "
    f"objects are derived from it. Default: the config's, or ${ID_SECRET_FILE_ENV}.",
)
@click.option(
    "--legacy-ids",
    is_flag=True,
    help="Public ids computed from the producer key alone (before id secrets); anyone "
    "can predict them. Only for labs not yet moved over (docs/stix-mapping.md).",
)
@click.option(
    "--format",
    "input_format",
    type=click.Choice(FORMAT_NAMES),
    help="Input format of every file (default: from each file's extension).",
)
@click.option(
    "--kind",
    type=click.Choice(list(MODEL_BY_KIND)),
    help="Record kind of every input record (CSV files need it or a kind column).",
)
@click.option(
    "--shared-networks",
    type=click.Path(dir_okay=False, path_type=Path),
    envvar=SHARED_NETWORKS_ENV,
    help=f"Allow-list of shared networks (CIDR per line); ranges overlapping it are "
    f"refused. Default: ${SHARED_NETWORKS_ENV}.",
)
@click.option(
    "--allow-shared",
    is_flag=True,
    help="Publish ranges that overlap a shared network anyway (each one is still printed).",
)
@click.option(
    "--pretty", is_flag=True, help="Indent the JSON (still canonical: same input, same bytes)."
)
@click.option(
    "--validate",
    "validation",
    type=click.Choice(VALIDATION_CHOICES),
    default="auto",
    show_default=True,
    help=f"stix2-validator scope: every object (full), the first objects of each shape "
    f"(sample), full up to {FULL_VALIDATION_LIMIT:,} objects and a sample above (auto), "
    "or none (off).",
)
@click.option(
    "--max-errors",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_ERRORS,
    show_default=True,
    help="Stop after this many errors.",
)
def convert(
    files: tuple[Path, ...],
    output: str,
    producer_key: str | None,
    producer_name: str | None,
    producer_config: Path | None,
    id_secret_file: Path | None,
    legacy_ids: bool,
    input_format: str | None,
    kind: str | None,
    shared_networks: Path | None,
    allow_shared: bool,
    pretty: bool,
    validation: str,
    max_errors: int,
) -> None:
    """Convert detection records to one validated STIX 2.1 bundle.

    FILES hold account clusters, prompt fingerprints and IP ranges as JSON
    (an object or an array), JSON Lines or CSV (see docs/formats.md); - reads
    standard input (with --format). Every record is validated first: any error
    prints one line FILE:LINE: FIELD: MESSAGE, exits 1 and writes nothing. The
    bundle is checked with stix2-validator (strict, with the project's
    schemas) before it is written: every object of a small bundle, a sample
    of each shape of object in a large one (--validate). Same input,
    byte-identical output.
    """
    with command_errors("convert"):
        producer = resolve_producer(
            producer_config, producer_key, producer_name, id_secret_file, legacy_ids
        )
        check_output_target(output)
        bundle, counts = convert_files(
            list(files),
            producer,
            input_format=input_format,
            kind=kind,
            shared_networks=shared_networks,
            allow_shared=allow_shared,
            max_errors=max_errors,
            pretty=pretty,
            validation=validation,
        )
        write_chunks_atomically(output, bundle.chunks())
    summary = ", ".join(f"{counts[k]} {k}" for k in MODEL_BY_KIND if counts[k]) or "no records"
    note(f"{output}: bundle of {summary} from {producer.key}")

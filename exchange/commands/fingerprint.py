"""``dx fingerprint``: raw prompts in, PromptFingerprint records out, text never.

A detection pipeline groups the prompts it attributes to one template; this
command turns each group into a record that carries only keyed fingerprints
(exact template hashes and a template signature learned from the group,
normalisation ``p2``) and counts. The raw prompts, and the
account identifiers they may be tagged with, stay in the lab: they are read,
normalised, hashed and counted here, and never written anywhere.

Input, one of:

* a text file, one prompt per line (blank lines ignored): one template, whose
  id is ``--id``;
* JSON Lines (``.jsonl``/``.ndjson``), one prompt per line as
  ``{"template_id": "...", "prompt": "...", "account": "...", "seen_at": "..."}``
  (only ``prompt`` is required): many templates in one file, multi-line
  prompts, and, when ``account``/``seen_at`` are given, ``distinct_accounts``
  and ``first_seen``/``last_seen`` computed from the data.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, get_args

import click
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from exchange.atomic import check_output_target, write_atomically
from exchange.commands.failures import DxCommand, command_errors
from exchange.commands.params import TIME
from exchange.commands.terminal import note, progress_bar
from exchange.errors import DEFAULT_MAX_ERRORS, ErrorCollector, InputError, InputErrors
from exchange.privacy import (
    ConsortiumKey,
    fingerprint_template_set,
    load_key,
    normalise_prompt,
)
from exchange.privacy.fingerprint import DEFAULT_MAX_EXACT_HASHES
from exchange.privacy.template_signature import ALGORITHM_CONTAINMENT, MIN_CAMPAIGN_PROMPTS
from exchange.readers.json_values import DECODER, DuplicateField, NonStandardNumber
from exchange.readers.raw import RawRecord
from exchange.readers.text import UnreadableInput, display_name, read_text
from exchange.readers.validation import field_path, translate
from mappings.records import (
    ElicitationFeature,
    PromptFingerprint,
    PromptScope,
    Tlp,
    UtcDatetime,
)

ID_SEPARATOR = "-"


class PromptLine(BaseModel):
    """One line of a JSON Lines prompt file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    template_id: Annotated[str, Field(min_length=1, max_length=96)] | None = None
    prompt: Annotated[str, Field(min_length=1)]
    account: Annotated[str, Field(min_length=1)] | None = None
    seen_at: UtcDatetime | None = None


@dataclass
class TemplateGroup:
    """The prompts of one template, with what the data says about accounts and times."""

    template_id: str | None
    first_line: int
    prompts: list[str] = field(default_factory=list)
    accounts: set[str] = field(default_factory=set)
    seen: list[datetime] = field(default_factory=list)


def _prompt_is_usable(name: str, line: int, prompt: str, errors: ErrorCollector) -> bool:
    if normalise_prompt(prompt):
        return True
    errors.add(InputError(name, line, "prompt", "nothing left after normalisation"))
    return False


def _read_text_prompts(text: str, name: str, errors: ErrorCollector) -> list[TemplateGroup]:
    group = TemplateGroup(template_id=None, first_line=1)
    for number, line in enumerate(text.split("\n"), start=1):
        prompt = line.rstrip("\r")
        if not prompt.strip():
            continue
        if _prompt_is_usable(name, number, prompt, errors):
            group.prompts.append(prompt)
    return [group] if group.prompts else []


def _read_jsonl_prompts(text: str, name: str, errors: ErrorCollector) -> list[TemplateGroup]:
    groups: dict[str | None, TemplateGroup] = {}
    for number, line in enumerate(text.split("\n"), start=1):
        if errors.full:
            errors.truncated = True
            break
        if not line.strip():
            continue
        try:
            value = DECODER.decode(line)
        except json.JSONDecodeError as exc:
            errors.add(
                InputError(name, number, None, f"malformed JSON: {exc.msg} (column {exc.colno})")
            )
            continue
        except (DuplicateField, NonStandardNumber) as exc:
            errors.add(InputError(name, number, None, f"malformed JSON: {exc}"))
            continue
        try:
            item = PromptLine.model_validate(value)
        except ValidationError as exc:
            for error in exc.errors(include_url=False):
                message = "unknown field" if error["type"] == "extra_forbidden" else error["msg"]
                errors.add(InputError(name, number, field_path(error["loc"]) or None, message))
            continue
        if not _prompt_is_usable(name, number, item.prompt, errors):
            continue
        group = groups.setdefault(item.template_id, TemplateGroup(item.template_id, number))
        group.prompts.append(item.prompt)
        if item.account is not None:
            group.accounts.add(item.account)
        if item.seen_at is not None:
            group.seen.append(item.seen_at)
    return list(groups.values())


def read_prompt_groups(
    path: Path, *, input_format: str | None = None, max_errors: int = DEFAULT_MAX_ERRORS
) -> list[TemplateGroup]:
    """The template groups of a prompt file; raises InputErrors with every problem found."""
    name = display_name(path)
    errors = ErrorCollector(max_errors)
    fmt = input_format or ("jsonl" if path.suffix.lower() in (".jsonl", ".ndjson") else "text")
    try:
        text = read_text(path)
    except UnreadableInput as exc:
        raise InputErrors([exc.error]) from None
    reader = _read_jsonl_prompts if fmt == "jsonl" else _read_text_prompts
    groups = reader(text, name, errors)
    if not groups and not errors.errors:
        errors.add(InputError(name, None, None, "no prompts in the file"))
    errors.raise_if_any()
    return groups


@dataclass(frozen=True)
class RecordSettings:
    """What the analyst states about every template in the file (the command's options)."""

    scope: str
    confidence: int
    benign_fp_rate: float
    updated: datetime
    id_prefix: str | None = None
    first_seen: datetime | None = None
    last_seen: datetime | None = None
    distinct_accounts: int | None = None
    elicitation_features: tuple[str, ...] = ()
    tlp: str = "amber"
    campaign: str | None = None
    max_exact_hashes: int = DEFAULT_MAX_EXACT_HASHES


def _fingerprint_id(group: TemplateGroup, settings: RecordSettings) -> str | None:
    parts = [part for part in (settings.id_prefix, group.template_id) if part]
    return ID_SEPARATOR.join(parts) or None


def _group_record_data(
    group: TemplateGroup, settings: RecordSettings, key: ConsortiumKey, name: str
) -> dict[str, Any] | list[InputError]:
    """The PromptFingerprint fields of one group, or why they cannot be known."""
    problems: list[InputError] = []
    fingerprint_id = _fingerprint_id(group, settings)
    if fingerprint_id is None:
        problems.append(
            InputError(name, group.first_line, "template_id", "no template id: pass --id")
        )
    first_seen = min(group.seen) if group.seen else settings.first_seen
    last_seen = max(group.seen) if group.seen else settings.last_seen
    if first_seen is None or last_seen is None:
        problems.append(
            InputError(
                name,
                group.first_line,
                "seen_at",
                "first/last seen unknown: give seen_at per prompt (JSONL) "
                "or pass --first-seen and --last-seen",
            )
        )
    if group.accounts:
        distinct_accounts: int | None = len(group.accounts)
    else:
        distinct_accounts = settings.distinct_accounts
    if distinct_accounts is None:
        problems.append(
            InputError(
                name,
                group.first_line,
                "account",
                "distinct accounts unknown: give account per prompt (JSONL) "
                "or pass --distinct-accounts",
            )
        )
    if problems:
        return problems
    payload = fingerprint_template_set(
        group.prompts, key, max_exact_hashes=settings.max_exact_hashes
    )
    return {
        "kind": "prompt-fingerprint",
        "fingerprint_id": fingerprint_id,
        "scope": settings.scope,
        "normalization": payload.normalization,
        "fingerprints": [fingerprint.to_dict() for fingerprint in payload.fingerprints],
        "sample_count": payload.sample_count,
        "distinct_accounts": distinct_accounts,
        "elicitation_features": list(settings.elicitation_features),
        "benign_fp_rate": settings.benign_fp_rate,
        "confidence": settings.confidence,
        "tlp": settings.tlp,
        "campaign": settings.campaign,
        "updated": settings.updated,
        "first_seen": first_seen,
        "last_seen": last_seen,
    }


def build_fingerprint_records(
    groups: Sequence[TemplateGroup], settings: RecordSettings, key: ConsortiumKey, name: str
) -> list[PromptFingerprint]:
    """One validated record per template group, sorted by fingerprint id.

    Raises InputErrors when a group lacks facts the record needs, or when the
    options give an invalid record (e.g. --confidence 120): nothing is built
    half-way.
    """
    errors = ErrorCollector()
    records: list[PromptFingerprint] = []
    with progress_bar(total=len(groups), unit="templates", desc="fingerprinting") as bar:
        for group in groups:
            data = _group_record_data(group, settings, key, name)
            bar.update(1)
            if isinstance(data, list):
                errors.extend(data)
                continue
            try:
                records.append(PromptFingerprint.model_validate(data))
            except ValidationError as exc:
                raw = RawRecord(name, group.first_line, data)
                errors.extend(translate(error, raw) for error in exc.errors(include_url=False))
    errors.raise_if_any()
    return sorted(records, key=lambda record: record.fingerprint_id)


def records_jsonl(records: Sequence[BaseModel]) -> bytes:
    """JSON Lines, keys sorted: the same records always give the same bytes."""
    lines = (
        json.dumps(
            record.model_dump(mode="json", exclude_none=True), sort_keys=True, ensure_ascii=False
        )
        for record in records
    )
    return "".join(line + "\n" for line in lines).encode("utf-8")


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


_EXAMPLE = """
\b
Examples:
  dx fingerprint samples/raw/prompts/rubric-grading.txt \\
      --key-file samples/keys/demo-consortium-key.json --id lab-a-fp-rubric \\
      --scope user_prefix --confidence 80 --benign-fp-rate 0.01 \\
      --first-seen 2026-04-02T00:00:00Z --last-seen 2026-04-28T00:00:00Z \\
      --distinct-accounts 412 --feature rubric_grading -o rubric.jsonl
  dx fingerprint detected-prompts.jsonl --key-file consortium.json \\
      --id lab-a --scope full_prompt --confidence 70 --benign-fp-rate 0.02 -o -
"""


@click.command(
    "fingerprint",
    cls=DxCommand,
    epilog=_EXAMPLE,
    short_help="Fingerprint raw prompts locally into PromptFingerprint records.",
)
@click.argument("prompts", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", required=True, help="JSONL file to write, or - for stdout.")
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Consortium key file (default: $DX_CONSORTIUM_KEY_FILE).",
)
@click.option(
    "--id",
    "id_prefix",
    help="fingerprint_id of the template (text input), or a prefix joined with '-' "
    "to each template_id (JSONL input).",
)
@click.option("--scope", required=True, type=click.Choice(get_args(PromptScope)))
@click.option(
    "--confidence",
    required=True,
    type=click.IntRange(0, 100),
    help="Your confidence in the detection, 0-100.",
)
@click.option(
    "--benign-fp-rate",
    required=True,
    type=click.FloatRange(0, 1),
    help="Estimated share of benign traffic the fingerprint would match, 0-1.",
)
@click.option("--first-seen", type=TIME, help="When the template was first seen.")
@click.option("--last-seen", type=TIME, help="When the template was last seen.")
@click.option("--updated", type=TIME, help="Version time of the records (default: now).")
@click.option(
    "--distinct-accounts",
    type=click.IntRange(min=0),
    help="Accounts that sent the template (when the input has no account field).",
)
@click.option(
    "--feature",
    "features",
    multiple=True,
    type=click.Choice(get_args(ElicitationFeature)),
    help="Elicitation feature of the template (repeatable).",
)
@click.option("--tlp", type=click.Choice(get_args(Tlp)), default="amber", show_default=True)
@click.option("--campaign", help="Your producer-scoped campaign key.")
@click.option(
    "--format",
    "input_format",
    type=click.Choice(["text", "jsonl"]),
    help="Input format (default: jsonl for .jsonl/.ndjson, else text).",
)
@click.option(
    "--max-exact",
    type=click.IntRange(min=1),
    default=DEFAULT_MAX_EXACT_HASHES,
    show_default=True,
    help="Most exact template hashes per record.",
)
def fingerprint(
    prompts: Path,
    output: str,
    key_file: Path | None,
    id_prefix: str | None,
    scope: str,
    confidence: int,
    benign_fp_rate: float,
    first_seen: datetime | None,
    last_seen: datetime | None,
    updated: datetime | None,
    distinct_accounts: int | None,
    features: tuple[str, ...],
    tlp: str,
    campaign: str | None,
    input_format: str | None,
    max_exact: int,
) -> None:
    """Fingerprint raw prompts into PromptFingerprint records (JSON Lines).

    PROMPTS is a text file with one prompt per line (one template, named by
    --id) or JSON Lines with {"template_id", "prompt", "account", "seen_at"}
    per line (many templates; only "prompt" is required). The output holds
    keyed fingerprints and counts only: never the prompts, never the
    accounts. Feed it to `dx convert`.
    """
    settings = RecordSettings(
        scope=scope,
        confidence=confidence,
        benign_fp_rate=benign_fp_rate,
        updated=updated or _now(),
        id_prefix=id_prefix,
        first_seen=first_seen,
        last_seen=last_seen,
        distinct_accounts=distinct_accounts,
        elicitation_features=features,
        tlp=tlp,
        campaign=campaign,
        max_exact_hashes=max_exact,
    )
    with command_errors("fingerprint"):
        check_output_target(output)
        key = load_key(key_file)
        groups = read_prompt_groups(prompts, input_format=input_format)
        records = build_fingerprint_records(groups, settings, key, display_name(prompts))
        write_atomically(output, records_jsonl(records))
    total = sum(record.sample_count for record in records)
    for record in records:
        if not any(f.algorithm == ALGORITHM_CONTAINMENT for f in record.fingerprints):
            note(
                f"{record.fingerprint_id}: too little fixed text for a template signature; "
                "shared as exact hashes only"
            )
        elif record.sample_count < MIN_CAMPAIGN_PROMPTS:
            note(
                f"{record.fingerprint_id}: only {record.sample_count} prompt(s): the signature "
                "keeps every word pair they share, slot text included "
                f"(give {MIN_CAMPAIGN_PROMPTS} or more)"
            )
    note(f"{output}: {len(records)} fingerprint record(s) from {total} prompts")

"""Matching a lab's own traffic against the current feed, all of it locally.

The feed is the lab's local store (filled by ``dx poll``) reduced to what is
current (``exchange.feed.current``: latest versions, nothing revoked or
expired). Nothing is sent anywhere: prompts and account identifiers are read,
turned into keyed values with the consortium key, compared, and forgotten;
the matches name input lines, never their content.

Every input is read and checked before any matching, so a bad line stops the
run with one-line errors instead of producing a partial report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from exchange.commands.terminal import progress_bar
from exchange.errors import DEFAULT_MAX_ERRORS, DxError, ErrorCollector
from exchange.feed.current import CurrentFeed
from exchange.feed.timestamps import format_timestamp
from exchange.match.accounts import AccountIndex
from exchange.match.inputs import (
    AccountLine,
    AddressLine,
    ColumnSpec,
    PromptLine,
    read_accounts,
    read_addresses,
    read_prompts,
)
from exchange.match.prompts import BATCH, PromptHit, PromptIndex, build_prompt_index, match_prompts
from exchange.match.ranges import RangeIndex
from exchange.match.results import (
    INPUT_ACCOUNTS,
    INPUT_IPS,
    INPUT_PROMPTS,
    RULE_ACCOUNT_HASH,
    RULE_CIDR,
    Match,
    match_confidence,
)
from exchange.privacy import ConsortiumKey
from exchange.readers.text import display_name


class MissingKeyError(DxError, ValueError):
    """Prompts or accounts were given but no consortium key to make keyed values with."""


@dataclass
class MatchInputs:
    """The files to match; account files share one set of ``--column`` specs."""

    prompts: Sequence[Path] = ()
    accounts: Sequence[Path] = ()
    columns: Sequence[ColumnSpec] = ()
    ips: Sequence[Path] = ()

    @property
    def needs_key(self) -> bool:
        return bool(self.prompts or self.accounts)


@dataclass
class _ReadInputs:
    prompts: list[tuple[str, list[PromptLine]]] = field(default_factory=list)
    accounts: list[tuple[str, list[AccountLine]]] = field(default_factory=list)
    ips: list[tuple[str, list[AddressLine]]] = field(default_factory=list)


@dataclass
class MatchRun:
    """What one run found, and what it checked, for the summary."""

    matches: list[Match] = field(default_factory=list)
    prompts: int = 0
    empty_prompts: int = 0
    identifiers: int = 0
    addresses: int = 0
    notes: list[str] = field(default_factory=list)

    def summary(self) -> str:
        checked = (
            f"{self.prompts} prompts, {self.identifiers} account identifiers, "
            f"{self.addresses} addresses checked"
        )
        lines = {m.input for m in self.matches}
        by_kind = ", ".join(
            f"{sum(1 for m in self.matches if m.input == kind)} {kind}"
            for kind in (INPUT_PROMPTS, INPUT_ACCOUNTS, INPUT_IPS)
            if kind in lines
        )
        found = f"{len(self.matches)} matches" + (f" ({by_kind})" if by_kind else "")
        return f"{checked}; {found}"


def _read_all(inputs: MatchInputs, key: ConsortiumKey | None, max_errors: int) -> _ReadInputs:
    errors = ErrorCollector(max_errors)
    read = _ReadInputs()
    for path in inputs.prompts:
        read.prompts.append((display_name(path), read_prompts(path, errors)))
    for path in inputs.accounts:
        assert key is not None
        read.accounts.append((display_name(path), read_accounts(path, inputs.columns, key, errors)))
    for path in inputs.ips:
        read.ips.append((display_name(path), read_addresses(path, errors)))
    errors.raise_if_any()
    return read


def run_match(
    feed: CurrentFeed,
    inputs: MatchInputs,
    key: ConsortiumKey | None,
    *,
    seen_at: datetime | None = None,
    max_errors: int = DEFAULT_MAX_ERRORS,
    prompt_index: PromptIndex | None = None,
) -> MatchRun:
    """Match every input against ``feed``; raises InputErrors for bad input, MissingKeyError
    when prompts or accounts come without a key.

    ``prompt_index``: the lab's persistent index (``exchange.match.index``);
    without it the prompt index is built from ``feed.fingerprints``.
    """
    if inputs.needs_key and key is None:
        raise MissingKeyError(
            "matching prompts or accounts needs the consortium key: set "
            "local.consortium_key_file in the lab config or pass --key-file"
        )
    if inputs.accounts and not inputs.columns:
        raise ValueError("--accounts needs at least one --column NAME:KIND")
    read = _read_all(inputs, key, max_errors)
    when = format_timestamp(seen_at or datetime.now(UTC))
    run = MatchRun()
    names = feed.producer_names
    if read.prompts:
        assert key is not None
        index = prompt_index or build_prompt_index(key, feed.fingerprints)
        _match_prompt_files(run, index, key, read.prompts, when, names)
    if read.accounts:
        assert key is not None
        _match_account_files(run, feed, key, read.accounts, when, names)
    if read.ips:
        _match_address_files(run, feed, read.ips, when, names)
    run.matches.sort(key=Match.sort_key)
    return run


def _match_prompt_files(
    run: MatchRun,
    index: PromptIndex,
    key: ConsortiumKey,
    files: list[tuple[str, list[PromptLine]]],
    when: str,
    names: dict[str, str],
) -> None:
    if index.other_keys:
        run.notes.append(
            f"{index.other_keys} shared fingerprints were made under another key than "
            f"{key.key_id!r} and cannot be compared"
        )
    for indicator_id, reason in index.incompatible:
        run.notes.append(f"{indicator_id}: skipped: {reason}")
    if index.simhash_unused:
        run.notes.append(
            f"{index.simhash_unused} shared SimHash fingerprints not used: SimHash does not "
            "decide a match on its own (docs/privacy.md)"
        )
    total = sum(len(lines) for _, lines in files)
    with progress_bar(total=total, unit="prompts", desc="matching") as bar:
        for name, lines in files:
            for start in range(0, len(lines), BATCH):
                chunk = lines[start : start + BATCH]
                hits, empty = match_prompts(index, [line.text for line in chunk])
                run.prompts += len(chunk)
                run.empty_prompts += empty
                _add_prompt_matches(run, name, chunk, hits, when, names)
                bar.update(len(chunk))


def _add_prompt_matches(
    run: MatchRun,
    name: str,
    lines: list[PromptLine],
    hits: list[PromptHit],
    when: str,
    names: dict[str, str],
) -> None:
    for hit in hits:
        line = lines[hit.position]
        entry = hit.entry
        run.matches.append(
            Match(
                input=INPUT_PROMPTS,
                file=name,
                line=line.line,
                object_id=entry.indicator_id,
                object_type="indicator",
                producer=entry.producer,
                producer_name=names.get(entry.producer or ""),
                rule=hit.rule,
                similarity=round(hit.similarity, 4),
                confidence=match_confidence(entry.confidence, hit.similarity, hit.threshold),
                seen_at=format_timestamp(line.seen_at) if line.seen_at else when,
                detail={
                    "algorithm": entry.algorithm,
                    "fingerprint_id": entry.fingerprint_id,
                    "key_id": entry.key_id,
                    **({"threshold": hit.threshold} if hit.threshold is not None else {}),
                },
            )
        )


def _match_account_files(
    run: MatchRun,
    feed: CurrentFeed,
    key: ConsortiumKey,
    files: list[tuple[str, list[AccountLine]]],
    when: str,
    names: dict[str, str],
) -> None:
    index = AccountIndex(key.key_id, feed.watchlist)
    if index.other_keys:
        run.notes.append(
            f"{index.other_keys} shared account hashes were made under another key than "
            f"{key.key_id!r} and cannot be compared"
        )
    for name, accounts in files:
        run.identifiers += len(accounts)
        for account in accounts:
            seen_clusters: set[str] = set()
            for entry in index.lookup(account.kind, account.hash):
                if entry.cluster in seen_clusters:
                    continue
                seen_clusters.add(entry.cluster)
                run.matches.append(
                    Match(
                        input=INPUT_ACCOUNTS,
                        file=name,
                        line=account.line,
                        column=account.column,
                        # The standard member indicator if there is one: every STIX
                        # consumer keeps a sighting of it; the custom cluster is dropped.
                        object_id=entry.indicator or entry.cluster,
                        object_type="indicator" if entry.indicator else "account-cluster",
                        producer=entry.producer,
                        producer_name=names.get(entry.producer or ""),
                        rule=RULE_ACCOUNT_HASH,
                        similarity=1.0,
                        confidence=match_confidence(entry.confidence),
                        seen_at=when,
                        detail={
                            "kind": entry.kind,
                            "key_id": entry.key_id,
                            "cluster_key": entry.cluster_key,
                            "enforcement": entry.enforcement,
                        },
                    )
                )


def _match_address_files(
    run: MatchRun,
    feed: CurrentFeed,
    files: list[tuple[str, list[AddressLine]]],
    when: str,
    names: dict[str, str],
) -> None:
    index = RangeIndex(feed.ranges)
    for name, addresses in files:
        run.addresses += len(addresses)
        for address in addresses:
            for entry in index.containing(address.address):
                run.matches.append(
                    Match(
                        input=INPUT_IPS,
                        file=name,
                        line=address.line,
                        object_id=entry.indicator_id,
                        object_type="indicator",
                        producer=entry.producer,
                        producer_name=names.get(entry.producer or ""),
                        rule=RULE_CIDR,
                        similarity=1.0,
                        confidence=match_confidence(entry.confidence),
                        seen_at=when,
                        detail={"cidr": entry.cidr, "action": entry.action},
                    )
                )

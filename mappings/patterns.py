"""Indicator patterns: writing them, and reading back the ones this project writes.

Four shapes:

* IP range: ``[ipv4-addr:value ISSUBSET '198.51.100.0/24']`` (``ipv6-addr`` for v6);
* ASN: ``[autonomous-system:number = 64500]``;
* exact prompt fingerprint: ``[prompt-fingerprint:value = '<hash>']`` on the custom SCO;
* near-duplicate prompt signature: ``pattern_type`` ``dx-prompt-signature``,
  ``pattern_version`` ``1.0``, whose pattern is one JSON object (grammar in
  docs/stix-mapping.md): ``algorithm``, ``key_id``, ``signature``, ``match``
  (``metric`` ``jaccard``, ``hamming`` or ``containment`` and ``threshold``) and optional
  ``parameters``. A near-duplicate match cannot be written in STIX patterning
  (it has no similarity operator), hence the project's own pattern type.

The readers accept exactly what the writers produce and raise ``ValueError``
with the reason otherwise: a pattern is matching logic, so a misread one must
fail loudly rather than match the wrong traffic.
"""

from __future__ import annotations

import ipaddress
import json
import re
from typing import Any, Final

from mappings.names import PROMPT_FINGERPRINT_TYPE
from mappings.vocab import FINGERPRINT_ALGORITHMS

_IP_RANGE: Final = re.compile(r"^\[(ipv4-addr|ipv6-addr):value ISSUBSET '([0-9A-Fa-f.:/]+)'\]$")
_EXACT: Final = re.compile(
    r"^\[" + re.escape(PROMPT_FINGERPRINT_TYPE) + r":value = '([A-Za-z0-9+/=_-]+)'\]$"
)
_ASN: Final = re.compile(r"^\[autonomous-system:number = ([0-9]+)\]$")
_KEY_ID: Final = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
_SIGNATURE: Final = re.compile(r"^[A-Za-z0-9+/=_-]{8,4096}$")
_PARAMETER_NAME: Final = re.compile(r"^[A-Za-z0-9_]{1,64}$")
_CANONICAL_JSON: Final = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=True)
"""``json.dumps(..., sort_keys=True, separators=(",", ":"), ensure_ascii=True)`` without
building a new encoder per call (one signature pattern per near-duplicate fingerprint)."""
_SIGNATURE_MEMBERS: Final = frozenset({"algorithm", "key_id", "signature", "match", "parameters"})
SIGNATURE_METRICS: Final = ("jaccard", "hamming", "containment")


def ip_range_pattern(cidr: str) -> str:
    """``[ipv4-addr:value ISSUBSET '<cidr>']`` or the ``ipv6-addr`` form."""
    network = ipaddress.ip_network(cidr, strict=True)
    return f"[{address_type(cidr)}:value ISSUBSET '{network.compressed}']"


def address_type(cidr: str) -> str:
    """``ipv4-addr`` or ``ipv6-addr``: the SCO type for a range."""
    return "ipv4-addr" if ipaddress.ip_network(cidr).version == 4 else "ipv6-addr"


def parse_ip_range_pattern(pattern: str) -> str:
    """The canonical CIDR of an IP-range pattern written by ``ip_range_pattern``."""
    found = _IP_RANGE.match(pattern)
    if not found:
        raise ValueError(f"not an IP-range pattern: {pattern!r}")
    kind, text = found.groups()
    network = ipaddress.ip_network(text, strict=True)
    if (network.version == 4) != (kind == "ipv4-addr"):
        raise ValueError(f"{kind} pattern holds an IPv{network.version} range: {pattern!r}")
    return network.compressed


def asn_pattern(asn: int) -> str:
    return f"[autonomous-system:number = {asn}]"


def parse_asn_pattern(pattern: str) -> int:
    found = _ASN.match(pattern)
    if not found:
        raise ValueError(f"not an autonomous-system pattern: {pattern!r}")
    return int(found.group(1))


def exact_fingerprint_pattern(value: str) -> str:
    """``[prompt-fingerprint:value = '<value>']``; values never contain a quote."""
    if not _SIGNATURE.match(value):
        raise ValueError(f"fingerprint value has characters a pattern cannot carry: {value!r}")
    return f"[{PROMPT_FINGERPRINT_TYPE}:value = '{value}']"


def parse_exact_fingerprint_pattern(pattern: str) -> str:
    found = _EXACT.match(pattern)
    if not found:
        raise ValueError(f"not an exact prompt-fingerprint pattern: {pattern!r}")
    return found.group(1)


def signature_pattern(
    algorithm: str,
    key_id: str,
    signature: str,
    metric: str,
    threshold: float,
    parameters: dict[str, int | float | str] | None = None,
) -> str:
    """A ``dx-prompt-signature`` 1.0 pattern: canonical JSON (sorted keys, no spaces)."""
    body: dict[str, Any] = {
        "algorithm": algorithm,
        "key_id": key_id,
        "match": {"metric": metric, "threshold": threshold},
        "signature": signature,
    }
    if parameters:
        body["parameters"] = dict(parameters)
    # The inputs come from validated records; tests check parse(format(x)) == x.
    return _CANONICAL_JSON.encode(body)


def parse_signature_pattern(pattern: str) -> dict[str, Any]:
    """Read a ``dx-prompt-signature`` 1.0 pattern.

    Returns ``{"algorithm", "key_id", "value", "parameters", "match_rule"}``,
    the shape ``exchange.privacy.fingerprint.Fingerprint.from_dict`` takes.
    """
    try:
        body = json.loads(pattern)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"dx-prompt-signature pattern is not JSON: {exc}") from None
    if not isinstance(body, dict):
        raise ValueError("dx-prompt-signature pattern must be a JSON object")
    unknown = sorted(set(body) - _SIGNATURE_MEMBERS)
    if unknown:
        raise ValueError(f"dx-prompt-signature pattern has unknown member {unknown[0]!r}")
    missing = sorted({"algorithm", "key_id", "signature", "match"} - set(body))
    if missing:
        raise ValueError(f"dx-prompt-signature pattern lacks {missing[0]!r}")
    algorithm, key_id, signature = body["algorithm"], body["key_id"], body["signature"]
    if algorithm not in FINGERPRINT_ALGORITHMS:
        raise ValueError(f"dx-prompt-signature algorithm {algorithm!r} is unknown")
    if not isinstance(key_id, str) or not _KEY_ID.match(key_id):
        raise ValueError(f"dx-prompt-signature key_id {key_id!r} is invalid")
    if not isinstance(signature, str) or not _SIGNATURE.match(signature):
        raise ValueError("dx-prompt-signature signature must be 8-4096 base64url/hex characters")
    return {
        "algorithm": algorithm,
        "key_id": key_id,
        "value": signature,
        "parameters": _checked_parameters(body.get("parameters", {})),
        "match_rule": _checked_match(body["match"]),
    }


def _checked_match(match: Any) -> dict[str, Any]:
    if not isinstance(match, dict) or set(match) != {"metric", "threshold"}:
        raise ValueError("dx-prompt-signature match must be {metric, threshold}")
    metric, threshold = match["metric"], match["threshold"]
    if metric not in SIGNATURE_METRICS:
        raise ValueError(f"dx-prompt-signature metric must be one of {SIGNATURE_METRICS}")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float) or threshold < 0:
        raise ValueError("dx-prompt-signature threshold must be a non-negative number")
    if metric in ("jaccard", "containment") and threshold > 1:
        raise ValueError(f"dx-prompt-signature {metric} threshold must be at most 1")
    return {"metric": metric, "threshold": threshold}


def _checked_parameters(parameters: Any) -> dict[str, int | float | str]:
    if not isinstance(parameters, dict):
        raise ValueError("dx-prompt-signature parameters must be an object")
    for name, value in parameters.items():
        if not _PARAMETER_NAME.match(name):
            raise ValueError(f"dx-prompt-signature parameter name {name!r} is invalid")
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError(f"dx-prompt-signature parameter {name!r} must be a number or string")
    return dict(parameters)

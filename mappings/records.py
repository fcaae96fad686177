"""The three detection records a lab publishes, validated at the edge.

These models are the contract between a lab's detection pipelines and the
exchange: whatever a pipeline writes (JSON, JSON Lines, CSV) is parsed into
one of them before anything is converted or shared. They are strict on
purpose: unknown fields are errors (a typo must not silently drop data), raw
identifiers are refused where a keyed hash is expected (privacy is enforced
here, not hoped for downstream), and every value is range-checked.

Each record carries ``updated`` (the producer's version time, which becomes the
STIX ``modified``) and ``withdrawn`` (a false positive taken back, which becomes
``revoked: true``). The producer-scoped id (``cluster_id``, ``fingerprint_id``,
``cidr``) is the stable key from which STIX ids are derived; which field that
is, and everything else the exchange needs to know of a kind, is declared in
``mappings.record_kinds``.
"""

from __future__ import annotations

import ipaddress
import re
from datetime import UTC, datetime, timedelta
from typing import Annotated, Final, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

Tlp = Literal["clear", "green", "amber", "amber+strict", "red"]
DEFAULT_TLP: Tlp = "amber"

IdentifierKind = Literal[
    "email", "phone", "payment_fingerprint", "device_fingerprint", "org_domain"
]

LinkingSignalName = Literal[
    "shared_payment_instrument",
    "shared_device_fingerprint",
    "signup_burst",
    "synchronized_request_timing",
    "shared_proxy_infrastructure",
    "shared_org_domain",
    "templated_prompts",
]

Capability = Literal[
    "reasoning_traces",
    "agentic_coding",
    "tool_use",
    "code_generation",
    "math",
    "multilingual",
    "long_context",
    "vision",
    "safety_behaviour",
]

EnforcementStatus = Literal["monitored", "rate_limited", "step_up", "banned"]

PromptScope = Literal["system_prompt", "user_prefix", "full_prompt", "tool_schema"]

ElicitationFeature = Literal[
    "step_by_step_reasoning",
    "chain_of_thought_request",
    "rubric_grading",
    "role_play_scaffold",
    "self_critique",
    "answer_only_format",
    "multi_turn_scaffold",
    "tool_call_transcript",
    "code_generation_scaffold",
]

FingerprintAlgorithm = Literal[
    "hmac-sha256-template", "minhash-keyed", "simhash-keyed", "containment-keyed"
]
MatchMetric = Literal["equal", "jaccard", "hamming", "containment"]

ProviderType = Literal[
    "residential_proxy", "mobile_proxy", "hosting", "vpn", "tor", "relay", "shared_nat"
]
RecommendedAction = Literal["monitor", "step_up", "rate_limit", "block"]

_PRODUCER_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_EMAIL_LIKE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_PHONE_LIKE = re.compile(r"^\+?[\d\s().-]{7,20}$")


def _utc(value: datetime) -> datetime:
    """Refuse naive times (their zone is a guess) and normalise to UTC."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("timestamp needs a time zone, e.g. 2026-05-01T12:00:00Z")
    try:
        return value.astimezone(UTC)
    except OverflowError:  # e.g. 9999-12-31T23:00:00-02:00 is after year 9999 in UTC
        raise ValueError("timestamp is out of range once converted to UTC") from None


def _producer_key(value: str) -> str:
    if not _PRODUCER_KEY.match(value):
        raise ValueError(
            "must be 1-128 characters of letters, digits and . _ : - (a stable key, "
            "never a raw account identifier)"
        )
    if _EMAIL_LIKE.match(value):
        raise ValueError("looks like a raw email; use a producer-scoped key instead")
    return value


def _keyed_hash(value: str) -> str:
    """A keyed hash is 64 lowercase hex digits; anything else is refused loudly.

    The most dangerous mistake a pipeline can make is to put the raw
    identifier where its hash belongs, so that case gets its own message.
    """
    if _HEX64.match(value):
        return value
    if _EMAIL_LIKE.match(value):
        raise ValueError("raw email where a keyed hash is expected; pseudonymise it first")
    if _PHONE_LIKE.match(value) and sum(c.isdigit() for c in value) >= 7:
        raise ValueError("raw phone number where a keyed hash is expected; pseudonymise it first")
    raise ValueError("must be a keyed hash: 64 lowercase hexadecimal characters")


UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
ProducerKey = Annotated[str, AfterValidator(_producer_key)]
KeyedHash = Annotated[str, AfterValidator(_keyed_hash)]
Confidence = Annotated[int, Field(ge=0, le=100)]
Count = Annotated[int, Field(ge=0)]
KeyId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")]
ParameterName = Annotated[str, Field(pattern=r"^[A-Za-z0-9_]{1,64}$")]
"""Fingerprint parameter names travel as STIX dictionary keys (letters, digits, underscore)."""


class _Strict(BaseModel):
    """Shared strictness: unknown fields are errors, models are immutable."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, str_strip_whitespace=True, allow_inf_nan=False
    )


class _Lifecycle(_Strict):
    """Fields every record has: when it was seen, how sure, how shareable."""

    updated: UtcDatetime
    withdrawn: bool = False
    first_seen: UtcDatetime
    last_seen: UtcDatetime
    confidence: Confidence
    tlp: Tlp = DEFAULT_TLP
    campaign: ProducerKey | None = None

    @model_validator(mode="after")
    def _seen_in_order(self) -> _Lifecycle:
        if self.last_seen < self.first_seen:
            raise ValueError("last_seen is before first_seen")
        if self.updated < self.first_seen:
            # STIX: created (first_seen) must not be after modified (updated).
            raise ValueError("updated is before first_seen")
        return self


class HashingScheme(_Strict):
    """How member identifiers were pseudonymised, so a partner can hash the same way."""

    algorithm: Literal["hmac-sha256"] = "hmac-sha256"
    key_id: KeyId
    normalization: Annotated[str, Field(pattern=r"^n[0-9]+$")]


class MemberHash(_Strict):
    kind: IdentifierKind
    hash: KeyedHash


class LinkingSignal(_Strict):
    signal: LinkingSignalName
    count: Annotated[int, Field(ge=1)]


class RequestVolume(_Strict):
    requests: Count
    tokens: Count
    window_start: UtcDatetime
    window_end: UtcDatetime
    peak_requests_per_account_per_minute: Annotated[float, Field(ge=0)]

    @model_validator(mode="after")
    def _window_in_order(self) -> RequestVolume:
        if self.window_end < self.window_start:
            raise ValueError("window_end is before window_start")
        return self


class AccountCluster(_Lifecycle):
    """Accounts a lab believes are operated together by one campaign."""

    kind: Literal["account-cluster"] = "account-cluster"
    cluster_id: ProducerKey
    member_count: Annotated[int, Field(ge=1)]
    members: list[MemberHash] = Field(default_factory=list)
    hashing: HashingScheme
    linking_signals: list[LinkingSignal] = Field(default_factory=list)
    volume: RequestVolume
    targeted_capabilities: list[Capability] = Field(default_factory=list)
    enforcement: EnforcementStatus
    prompt_fingerprint_refs: list[ProducerKey] = Field(default_factory=list)
    ip_range_refs: list[str] = Field(default_factory=list)

    @field_validator("ip_range_refs")
    @classmethod
    def _refs_are_cidrs(cls, refs: list[str]) -> list[str]:
        return [_canonical_cidr(ref) for ref in refs]

    @model_validator(mode="after")
    def _members_fit(self) -> AccountCluster:
        if len(self.members) > self.member_count:
            raise ValueError("more members listed than member_count")
        return self


class MatchRule(_Strict):
    metric: MatchMetric
    threshold: Annotated[float, Field(ge=0)] | None = None

    @model_validator(mode="after")
    def _threshold_fits_metric(self) -> MatchRule:
        if self.metric == "equal" and self.threshold is not None:
            raise ValueError("an 'equal' match rule takes no threshold")
        if self.metric != "equal" and self.threshold is None:
            raise ValueError(f"a '{self.metric}' match rule needs a threshold")
        if (
            self.metric in ("jaccard", "containment")
            and self.threshold is not None
            and self.threshold > 1
        ):
            raise ValueError(f"a {self.metric} threshold is between 0 and 1")
        return self


class FingerprintValue(_Strict):
    """One keyed fingerprint of a prompt template; the key id travels with it."""

    algorithm: FingerprintAlgorithm
    key_id: KeyId
    value: Annotated[str, Field(min_length=8, max_length=4096, pattern=r"^[A-Za-z0-9+/=_-]+$")]
    parameters: dict[ParameterName, int | float | str] = Field(default_factory=dict)
    match_rule: MatchRule


class PromptFingerprint(_Lifecycle):
    """A prompt template seen across a campaign, shared only as keyed fingerprints."""

    kind: Literal["prompt-fingerprint"] = "prompt-fingerprint"
    fingerprint_id: ProducerKey
    scope: PromptScope
    normalization: Annotated[str, Field(pattern=r"^p[0-9]+$")]
    fingerprints: Annotated[list[FingerprintValue], Field(min_length=1)]
    sample_count: Annotated[int, Field(ge=1)]
    distinct_accounts: Count
    elicitation_features: list[ElicitationFeature] = Field(default_factory=list)
    benign_fp_rate: Annotated[float, Field(ge=0, le=1)]


DEFAULT_RANGE_LIFETIME: Final = timedelta(days=14)
"""valid_until of a range indicator whose record gives none: last_seen + 14 days.
Proxy ranges rotate; a stale block hurts the benign users who inherit the address."""

_LATEST_FOR_DEFAULT_EXPIRY: Final = datetime.max.replace(tzinfo=UTC) - DEFAULT_RANGE_LIFETIME


def _canonical_cidr(value: str) -> str:
    """Parse a CIDR strictly (host bits must be zero) and return its canonical text."""
    if "/" not in value:
        raise ValueError(f"{value!r} is not a CIDR range: it needs a /prefix length")
    try:
        network = ipaddress.ip_network(value, strict=True)
    except ValueError as exc:
        raise ValueError(f"{value!r} is not a valid CIDR range: {exc}") from None
    return network.compressed


class IpRange(_Lifecycle):
    """An address range carrying campaign traffic (proxies, hosting, VPN...)."""

    kind: Literal["ip-range"] = "ip-range"
    cidr: str
    asn: Annotated[int, Field(ge=0, le=4_294_967_295)]
    as_name: Annotated[str, Field(min_length=1, max_length=256)]
    provider_type: ProviderType
    traffic_share: Annotated[float, Field(ge=0, le=1)]
    benign_accounts_seen: Count
    recommended_action: RecommendedAction
    valid_until: UtcDatetime | None = None

    @field_validator("cidr")
    @classmethod
    def _cidr_is_valid(cls, value: str) -> str:
        return _canonical_cidr(value)

    @model_validator(mode="after")
    def _expires_after_start(self) -> IpRange:
        if self.valid_until is not None and self.valid_until <= self.first_seen:
            # STIX: an indicator's valid_until must be later than valid_from (first_seen).
            raise ValueError("valid_until must be after first_seen")
        if self.valid_until is None and self.last_seen > _LATEST_FOR_DEFAULT_EXPIRY:
            raise ValueError(
                "last_seen is too late for the default expiry (last_seen + 14 days would "
                "pass year 9999); give valid_until"
            )
        return self

    @property
    def network(self) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
        return ipaddress.ip_network(self.cidr)

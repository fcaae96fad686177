"""The STIX objects one detection record produces (the record's own objects).

Each record becomes objects that share its lifecycle: ``created`` is
``first_seen`` (so it never moves between versions), ``modified`` is
``updated``, ``confidence`` and the TLP marking come from the record, and a
withdrawn record revokes every one of them. Their ids are UUIDv5 in the
producer's namespace (``Producer.id_namespace``, secret unless the lab still
uses legacy ids) over the producer key, the record kind, the record key and
the object's role.

* account cluster: the ``account-cluster`` SDO; ``user-account`` SCOs (shared)
  whose only identifying value is the keyed hash; ``related-to``
  relationships to the campaign, to each referenced prompt fingerprint's
  first indicator and to each referenced range's indicator; indicators over
  the member hashes that ``indicate`` the campaign (``mappings.companions``);
* prompt fingerprint: one indicator per fingerprint value (STIX pattern on
  the ``prompt-fingerprint`` SCO for an exact hash, ``dx-prompt-signature``
  for a near-duplicate signature), the SCO itself (shared), ``indicates``
  to the campaign and ``related-to`` the SCO;
* IP range: the range indicator, the ASN indicator, the address and AS SCOs
  (shared), ``indicates`` from both indicators to the campaign, and the
  campaign infrastructure's ``consists-of`` both SCOs.

Record fields that STIX has no property for travel in the project's property
extensions (names and schemas in ``mappings/data``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from mappings import patterns
from mappings.companions import PROMPT_INDICATOR_LIFETIME, cluster_indicators, lifetime_end
from mappings.ids import (
    observable_id,
    record_object_id,
    single_property_observable_id,
    uuid5_text,
)
from mappings.names import (
    ACCOUNT_CLUSTER_TYPE,
    EXT_ACCOUNT_CLUSTER,
    EXT_FINGERPRINT_INDICATOR,
    EXT_IP_RANGE_INDICATOR,
    EXT_KEYED_IDENTIFIER,
    EXT_PROMPT_FINGERPRINT,
    PROMPT_FINGERPRINT_TYPE,
    SIGNATURE_PATTERN_TYPE,
    SIGNATURE_PATTERN_VERSION,
)
from mappings.producer import Producer
from mappings.records import (
    DEFAULT_RANGE_LIFETIME,
    AccountCluster,
    FingerprintValue,
    IpRange,
    PromptFingerprint,
)
from mappings.shared_objects import SharedObjects
from mappings.timestamps import stix_timestamp
from mappings.vocab import to_stix_term
from mappings.well_known import TLP_MARKING_IDS, atlas_kill_chain_phases

# The kinds' names as their models declare them (they enter the ids' derivation).
CLUSTER_KIND: Final = str(AccountCluster.model_fields["kind"].default)
FINGERPRINT_KIND: Final = str(PromptFingerprint.model_fields["kind"].default)
RANGE_KIND: Final = str(IpRange.model_fields["kind"].default)


def range_indicator_id(producer: Producer, cidr: str) -> str:
    return record_object_id(
        "indicator", producer.key, RANGE_KIND, cidr, "range", producer.id_namespace
    )


def fingerprint_indicator_id(producer: Producer, fingerprint_id: str, position: int) -> str:
    return record_object_id(
        "indicator",
        producer.key,
        FINGERPRINT_KIND,
        fingerprint_id,
        f"fingerprint:{position}",
        producer.id_namespace,
    )


def cluster_object_id(producer: Producer, cluster_id: str) -> str:
    return record_object_id(
        ACCOUNT_CLUSTER_TYPE, producer.key, CLUSTER_KIND, cluster_id, "sdo", producer.id_namespace
    )


def range_valid_until(record: IpRange) -> tuple[str, bool]:
    """(valid_until, whether it is the default) for a range indicator."""
    if record.valid_until is not None:
        return stix_timestamp(record.valid_until), False
    return stix_timestamp(record.last_seen + DEFAULT_RANGE_LIFETIME), True


@dataclass(frozen=True)
class _Owner:
    """The record an object belongs to, with its key, STIX times and id name prefix
    (producer key, kind, record key: see ``record_object_id``) computed once."""

    record: AccountCluster | PromptFingerprint | IpRange
    key: str
    created: str
    modified: str
    id_name: str

    @classmethod
    def of(
        cls, record: AccountCluster | PromptFingerprint | IpRange, key: str, producer: Producer
    ) -> _Owner:
        return cls(
            record,
            key,
            stix_timestamp(record.first_seen),
            stix_timestamp(record.updated),
            f"\n{producer.key}\n{record.kind}\n{key}\n",
        )


class RecordWriter:
    """Turns records of one producer into their STIX objects, feeding the shared ones."""

    def __init__(self, producer: Producer, shared: SharedObjects) -> None:
        self._producer = producer
        self._identity = producer.identity_id
        self._namespace = producer.id_namespace
        self._shared = shared

    # -- common shapes -------------------------------------------------------

    def _owned(self, stix_type: str, object_id: str, owner: _Owner) -> dict[str, Any]:
        record = owner.record
        obj: dict[str, Any] = {
            "type": stix_type,
            "spec_version": "2.1",
            "id": object_id,
            "created_by_ref": self._identity,
            "created": owner.created,
            "modified": owner.modified,
            "confidence": record.confidence,
            "object_marking_refs": [TLP_MARKING_IDS[record.tlp]],
        }
        if record.withdrawn:
            obj["revoked"] = True
        return obj

    def _relationship(
        self, owner: _Owner, role: str, relationship_type: str, source: str, target: str
    ) -> dict[str, Any]:
        """A relationship the record owns; its id is fixed by the record and ``role``
        (``record_object_id`` written out: this is the most frequent object)."""
        name = "relationship" + owner.id_name + role
        object_id = "relationship--" + uuid5_text(self._namespace, name)
        obj = self._owned("relationship", object_id, owner)
        obj["relationship_type"] = relationship_type
        obj["source_ref"] = source
        obj["target_ref"] = target
        return obj

    # -- account cluster -----------------------------------------------------

    def cluster(self, record: AccountCluster) -> list[dict[str, Any]]:
        key = record.cluster_id
        owner = _Owner.of(record, key, self._producer)
        sdo_id = cluster_object_id(self._producer, key)
        sdo = self._owned(ACCOUNT_CLUSTER_TYPE, sdo_id, owner)
        sdo["name"] = f"Account cluster {key}"
        sdo["cluster_id"] = key
        sdo["member_count"] = record.member_count
        scheme = record.hashing
        sdo["hashing"] = {
            "algorithm": scheme.algorithm,
            "key_id": scheme.key_id,
            "normalization": scheme.normalization,
        }
        if record.members:
            sdo["member_refs"] = [self._member(m.kind, m.hash, record) for m in record.members]
        if record.linking_signals:
            sdo["linking_signals"] = [
                {"signal": to_stix_term(s.signal), "count": s.count} for s in record.linking_signals
            ]
        volume = record.volume
        sdo["request_volume"] = {
            "requests": volume.requests,
            "tokens": volume.tokens,
            "window_start": stix_timestamp(volume.window_start),
            "window_end": stix_timestamp(volume.window_end),
            "peak_requests_per_account_per_minute": volume.peak_requests_per_account_per_minute,
        }
        if record.targeted_capabilities:
            sdo["targeted_capabilities"] = [to_stix_term(c) for c in record.targeted_capabilities]
        sdo["enforcement"] = to_stix_term(record.enforcement)
        sdo["first_seen"] = owner.created
        sdo["last_seen"] = stix_timestamp(record.last_seen)
        if record.campaign is not None:
            sdo["campaign_key"] = record.campaign
        if record.prompt_fingerprint_refs:
            sdo["prompt_fingerprint_keys"] = list(record.prompt_fingerprint_refs)
        if record.ip_range_refs:
            sdo["ip_range_cidrs"] = list(record.ip_range_refs)
        sdo["extensions"] = {EXT_ACCOUNT_CLUSTER: {"extension_type": "new-sdo"}}

        campaign = self._shared.note_campaign(record)
        rel = self._relationship
        out = [sdo, rel(owner, "related-to:campaign", "related-to", sdo_id, campaign)]
        for fingerprint_key in dict.fromkeys(record.prompt_fingerprint_refs):
            target = fingerprint_indicator_id(self._producer, fingerprint_key, 0)
            role = f"related-to:prompt-fingerprint:{fingerprint_key}"
            out.append(rel(owner, role, "related-to", sdo_id, target))
        for cidr in dict.fromkeys(record.ip_range_refs):
            target = range_indicator_id(self._producer, cidr)
            out.append(rel(owner, f"related-to:ip-range:{cidr}", "related-to", sdo_id, target))
        out += cluster_indicators(
            self._producer,
            record,
            lambda stix_type, object_id: self._owned(stix_type, object_id, owner),
            lambda role, kind, source, target: rel(owner, role, kind, source, target),
            campaign,
            sdo_id,
        )
        return out

    def _member(self, kind: str, keyed_hash: str, record: AccountCluster) -> str:
        body = {
            "type": "user-account",
            "spec_version": "2.1",
            "id": single_property_observable_id("user-account", "user_id", keyed_hash),
            "user_id": keyed_hash,
            "extensions": {
                EXT_KEYED_IDENTIFIER: {
                    "extension_type": "property-extension",
                    "identifier_kind": to_stix_term(kind),
                    "hash_algorithm": record.hashing.algorithm,
                    "key_id": record.hashing.key_id,
                    "normalization": record.hashing.normalization,
                }
            },
        }
        return self._shared.add_observable(body, record, record.cluster_id)

    # -- prompt fingerprint --------------------------------------------------

    def fingerprint(self, record: PromptFingerprint) -> list[dict[str, Any]]:
        key = record.fingerprint_id
        owner = _Owner.of(record, key, self._producer)
        campaign = self._shared.note_campaign(record)
        common: dict[str, Any] = {
            "extension_type": "property-extension",
            "fingerprint_id": key,
            "fingerprint_count": len(record.fingerprints),
            "scope": to_stix_term(record.scope),
            "normalization": record.normalization,
            "sample_count": record.sample_count,
            "distinct_accounts": record.distinct_accounts,
            "benign_fp_rate": record.benign_fp_rate,
            "first_seen": owner.created,
            "last_seen": stix_timestamp(record.last_seen),
        }
        if record.elicitation_features:
            common["elicitation_features"] = [to_stix_term(f) for f in record.elicitation_features]
        if record.campaign is not None:
            common["campaign_key"] = record.campaign

        out: list[dict[str, Any]] = []
        rel = self._relationship
        valid_until = lifetime_end(record.last_seen, PROMPT_INDICATOR_LIFETIME)
        for position, value in enumerate(record.fingerprints):
            indicator_id = fingerprint_indicator_id(self._producer, key, position)
            indicator = self._owned("indicator", indicator_id, owner)
            self._describe_fingerprint(indicator, record, value)
            indicator["valid_from"] = owner.created
            indicator["valid_until"] = valid_until
            indicator["kill_chain_phases"] = atlas_kill_chain_phases("AML.T0065")
            details = dict(common)
            details["position"] = position
            details["algorithm"] = value.algorithm
            details["key_id"] = value.key_id
            if value.parameters:
                details["parameters"] = dict(value.parameters)
            indicator["extensions"] = {EXT_FINGERPRINT_INDICATOR: details}
            sco_id = self._fingerprint_observable(value, record)
            out.append(indicator)
            out.append(
                rel(owner, f"indicates:campaign:{position}", "indicates", indicator_id, campaign)
            )
            out.append(
                rel(owner, f"related-to:observable:{position}", "related-to", indicator_id, sco_id)
            )
        return out

    def _describe_fingerprint(
        self, indicator: dict[str, Any], record: PromptFingerprint, value: FingerprintValue
    ) -> None:
        scope = record.scope.replace("_", " ")
        rule = value.match_rule
        if rule.metric == "equal":
            indicator["name"] = f"Prompt template {record.fingerprint_id}: exact {scope} hash"
            indicator["pattern"] = patterns.exact_fingerprint_pattern(value.value)
            indicator["pattern_type"] = "stix"
            indicator["pattern_version"] = "2.1"
            how = "the keyed hash of the normalised template equals this value"
        else:
            indicator["name"] = (
                f"Prompt template {record.fingerprint_id}: near-duplicate {scope} signature"
            )
            assert rule.threshold is not None  # guaranteed by MatchRule
            indicator["pattern"] = patterns.signature_pattern(
                value.algorithm,
                value.key_id,
                value.value,
                rule.metric,
                rule.threshold,
                dict(value.parameters),
            )
            indicator["pattern_type"] = SIGNATURE_PATTERN_TYPE
            indicator["pattern_version"] = SIGNATURE_PATTERN_VERSION
            how = f"the {value.algorithm} signature is within {rule.metric} {rule.threshold}"
        indicator["description"] = (
            f"Prompts from a distillation campaign's template ({record.sample_count} samples, "
            f"{record.distinct_accounts} accounts). Matches when {how} under key "
            f"{value.key_id}; raw prompts are never shared."
        )
        indicator["indicator_types"] = ["malicious-activity"]

    def _fingerprint_observable(self, value: FingerprintValue, record: PromptFingerprint) -> str:
        contributing = {"algorithm": value.algorithm, "key_id": value.key_id, "value": value.value}
        body = {
            "type": PROMPT_FINGERPRINT_TYPE,
            "spec_version": "2.1",
            "id": observable_id(PROMPT_FINGERPRINT_TYPE, contributing),
            **contributing,
            "extensions": {EXT_PROMPT_FINGERPRINT: {"extension_type": "new-sco"}},
        }
        return self._shared.add_observable(body, record, record.fingerprint_id)

    # -- IP range ------------------------------------------------------------

    def ip_range(self, record: IpRange) -> list[dict[str, Any]]:
        cidr = record.cidr
        owner = _Owner.of(record, cidr, self._producer)
        valid_until, is_default = range_valid_until(record)
        provider = record.provider_type.replace("_", " ")

        indicator_id = range_indicator_id(self._producer, cidr)
        indicator = self._owned("indicator", indicator_id, owner)
        indicator["name"] = f"IP range {cidr} ({provider}, AS{record.asn})"
        indicator["description"] = (
            f"Address range carrying {record.traffic_share:.0%} of a distillation campaign's "
            f"traffic through {provider} infrastructure of AS{record.asn} {record.as_name}; "
            f"recommended action: {record.recommended_action.replace('_', ' ')}."
        )
        indicator["indicator_types"] = ["anonymization"]
        address_type = "ipv6-addr" if ":" in cidr else "ipv4-addr"
        # The record holds the canonical CIDR already (the model parsed it), so the
        # pattern is written directly rather than parsing the range a second time.
        indicator["pattern"] = f"[{address_type}:value ISSUBSET '{cidr}']"
        indicator["pattern_type"] = "stix"
        indicator["pattern_version"] = "2.1"
        indicator["valid_from"] = owner.created
        indicator["valid_until"] = valid_until
        indicator["kill_chain_phases"] = atlas_kill_chain_phases("AML.T0008.005")
        details: dict[str, Any] = {
            "extension_type": "property-extension",
            "asn": record.asn,
            "as_name": record.as_name,
            "provider_type": to_stix_term(record.provider_type),
            "traffic_share": record.traffic_share,
            "benign_accounts_seen": record.benign_accounts_seen,
            "recommended_action": to_stix_term(record.recommended_action),
            "first_seen": owner.created,
            "last_seen": stix_timestamp(record.last_seen),
            "default_expiry": is_default,
        }
        if record.campaign is not None:
            details["campaign_key"] = record.campaign
        indicator["extensions"] = {EXT_IP_RANGE_INDICATOR: details}

        asn_id = record_object_id(
            "indicator", self._producer.key, RANGE_KIND, cidr, "asn", self._namespace
        )
        asn_indicator = self._owned("indicator", asn_id, owner)
        asn_indicator["name"] = f"AS{record.asn} {record.as_name}"
        asn_indicator["description"] = (
            f"Autonomous system announcing {cidr}, a range carrying distillation traffic "
            f"({provider})."
        )
        asn_indicator["indicator_types"] = ["anonymization"]
        asn_indicator["pattern"] = patterns.asn_pattern(record.asn)
        asn_indicator["pattern_type"] = "stix"
        asn_indicator["pattern_version"] = "2.1"
        asn_indicator["valid_from"] = owner.created
        asn_indicator["valid_until"] = valid_until
        asn_indicator["kill_chain_phases"] = atlas_kill_chain_phases("AML.T0008.005")

        address = {
            "type": address_type,
            "spec_version": "2.1",
            "id": single_property_observable_id(address_type, "value", cidr),
            "value": cidr,
        }
        system = {
            "type": "autonomous-system",
            "spec_version": "2.1",
            "id": observable_id("autonomous-system", {"number": record.asn}),
            "number": record.asn,
            "name": record.as_name,
        }
        address_id = self._shared.add_observable(address, record, cidr)
        as_id = self._shared.add_observable(system, record, cidr)
        campaign = self._shared.note_campaign(record)
        infrastructure = self._shared.note_infrastructure(record)
        rel = self._relationship
        return [
            indicator,
            asn_indicator,
            rel(owner, "indicates:campaign", "indicates", indicator_id, campaign),
            rel(owner, "asn-indicates:campaign", "indicates", asn_id, campaign),
            rel(owner, "consists-of:address", "consists-of", infrastructure, address_id),
            rel(owner, "consists-of:asn", "consists-of", infrastructure, as_id),
        ]

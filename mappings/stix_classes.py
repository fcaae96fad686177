"""The one place that registers the project's STIX classes with the ``stix2`` library.

Once this module is imported (importing ``mappings`` does it), ``stix2.parse``
understands every object the exchange emits with ``allow_custom=False``:
the ``account-cluster`` SDO, the ``prompt-fingerprint`` SCO, the property
extensions on ``user-account`` and ``indicator``, and the OASIS TLP 2.0
marking extension. ``stix2`` refuses to register a type twice, and Python
imports a module once, so this module is the registry's single writer.

The converters do not build these classes (plain dicts are an order of
magnitude faster); the classes exist so that consumers parsing a feed get
typed, checked objects, and the tests use them to prove the bundles parse.
"""

from __future__ import annotations

from collections import OrderedDict

from stix2.properties import (
    BooleanProperty,
    DictionaryProperty,
    EmbeddedObjectProperty,
    EnumProperty,
    FloatProperty,
    IntegerProperty,
    ListProperty,
    ReferenceProperty,
    StringProperty,
    TimestampProperty,
)
from stix2.v21 import CustomExtension, CustomObject, CustomObservable
from stix2.v21.base import _STIXBase21

from mappings import vocab
from mappings.names import (
    ACCOUNT_CLUSTER_TYPE,
    EXT_ACCOUNT_CLUSTER,
    EXT_FINGERPRINT_INDICATOR,
    EXT_IP_RANGE_INDICATOR,
    EXT_KEYED_IDENTIFIER,
    EXT_PROMPT_FINGERPRINT,
    EXT_TLP2,
    PROMPT_FINGERPRINT_TYPE,
)
from mappings.well_known import TLP_ORDER


class HashingScheme(_STIXBase21):
    """How an account cluster's member identifiers were hashed."""

    _properties = OrderedDict(
        [
            ("algorithm", EnumProperty(["hmac-sha256"], required=True)),
            ("key_id", StringProperty(required=True)),
            ("normalization", StringProperty(required=True)),
        ]
    )


class LinkingSignal(_STIXBase21):
    """One signal tying the cluster's accounts together, with how often it was seen."""

    _properties = OrderedDict(
        [
            ("signal", EnumProperty(list(vocab.LINKING_SIGNALS), required=True)),
            ("count", IntegerProperty(min=1, required=True)),
        ]
    )


class RequestVolume(_STIXBase21):
    """The cluster's traffic over an observation window."""

    _properties = OrderedDict(
        [
            ("requests", IntegerProperty(min=0, required=True)),
            ("tokens", IntegerProperty(min=0, required=True)),
            ("window_start", TimestampProperty(required=True)),
            ("window_end", TimestampProperty(required=True)),
            ("peak_requests_per_account_per_minute", FloatProperty(min=0, required=True)),
        ]
    )


@CustomObject(
    ACCOUNT_CLUSTER_TYPE,
    [
        ("name", StringProperty(required=True)),
        ("cluster_id", StringProperty(required=True)),
        ("member_count", IntegerProperty(min=1, required=True)),
        ("member_refs", ListProperty(ReferenceProperty(valid_types="user-account"))),
        ("hashing", EmbeddedObjectProperty(HashingScheme, required=True)),
        ("linking_signals", ListProperty(LinkingSignal)),
        ("request_volume", EmbeddedObjectProperty(RequestVolume, required=True)),
        ("targeted_capabilities", ListProperty(EnumProperty(list(vocab.CAPABILITIES)))),
        ("enforcement", EnumProperty(list(vocab.ENFORCEMENT_STATUSES), required=True)),
        ("first_seen", TimestampProperty(required=True)),
        ("last_seen", TimestampProperty(required=True)),
        ("campaign_key", StringProperty()),
        ("prompt_fingerprint_keys", ListProperty(StringProperty)),
        ("ip_range_cidrs", ListProperty(StringProperty)),
    ],
    extension_name=EXT_ACCOUNT_CLUSTER,
)
class AccountCluster:
    """``account-cluster`` SDO (new-sdo extension)."""


@CustomObservable(
    PROMPT_FINGERPRINT_TYPE,
    [
        ("algorithm", EnumProperty(list(vocab.FINGERPRINT_ALGORITHMS), required=True)),
        ("key_id", StringProperty(required=True)),
        ("value", StringProperty(required=True)),
    ],
    id_contrib_props=["algorithm", "key_id", "value"],
    extension_name=EXT_PROMPT_FINGERPRINT,
)
class PromptFingerprintObservable:
    """``prompt-fingerprint`` SCO (new-sco extension); id over algorithm, key_id, value."""


@CustomExtension(
    EXT_KEYED_IDENTIFIER,
    [
        ("identifier_kind", EnumProperty(list(vocab.IDENTIFIER_KINDS), required=True)),
        ("hash_algorithm", EnumProperty(["hmac-sha256"], required=True)),
        ("key_id", StringProperty(required=True)),
        ("normalization", StringProperty(required=True)),
    ],
)
class KeyedIdentifierExtension:
    """On ``user-account``: ``user_id`` is a keyed hash made this way."""

    extension_type = "property-extension"


@CustomExtension(
    EXT_FINGERPRINT_INDICATOR,
    [
        ("fingerprint_id", StringProperty(required=True)),
        ("position", IntegerProperty(min=0, required=True)),
        ("fingerprint_count", IntegerProperty(min=1, required=True)),
        ("algorithm", EnumProperty(list(vocab.FINGERPRINT_ALGORITHMS), required=True)),
        ("key_id", StringProperty(required=True)),
        ("parameters", DictionaryProperty()),
        ("scope", EnumProperty(list(vocab.PROMPT_SCOPES), required=True)),
        ("normalization", StringProperty(required=True)),
        ("sample_count", IntegerProperty(min=1, required=True)),
        ("distinct_accounts", IntegerProperty(min=0, required=True)),
        ("elicitation_features", ListProperty(EnumProperty(list(vocab.ELICITATION_FEATURES)))),
        ("benign_fp_rate", FloatProperty(min=0, max=1, required=True)),
        ("first_seen", TimestampProperty(required=True)),
        ("last_seen", TimestampProperty(required=True)),
        ("campaign_key", StringProperty()),
    ],
)
class FingerprintIndicatorExtension:
    """On ``indicator``: the prompt-fingerprint record this indicator is one fingerprint of."""

    extension_type = "property-extension"


@CustomExtension(
    EXT_IP_RANGE_INDICATOR,
    [
        ("asn", IntegerProperty(min=0, max=4_294_967_295, required=True)),
        ("as_name", StringProperty(required=True)),
        ("provider_type", EnumProperty(list(vocab.PROVIDER_TYPES), required=True)),
        ("traffic_share", FloatProperty(min=0, max=1, required=True)),
        ("benign_accounts_seen", IntegerProperty(min=0, required=True)),
        ("recommended_action", EnumProperty(list(vocab.RECOMMENDED_ACTIONS), required=True)),
        ("first_seen", TimestampProperty(required=True)),
        ("last_seen", TimestampProperty(required=True)),
        ("campaign_key", StringProperty()),
        ("default_expiry", BooleanProperty(required=True)),
    ],
)
class IpRangeIndicatorExtension:
    """On ``indicator``: the IP-range record's fields that STIX has no property for."""

    extension_type = "property-extension"


@CustomExtension(EXT_TLP2, [("tlp_2_0", EnumProperty(list(TLP_ORDER), required=True))])
class Tlp2MarkingExtension:
    """The OASIS TLP 2.0 marking extension, so TLP 2.0 markings parse as checked objects."""

    extension_type = "property-extension"

"""The names this project publishes in STIX: object types, extension ids, pattern type.

Everything here is part of the wire format. Once a bundle carrying these
names has been shared, partners' stores and matchers depend on them, so they
never change: a new meaning gets a new name (or a new extension definition
with a new id and a new major version), never a reused one.
"""

from __future__ import annotations

from typing import Final

ACCOUNT_CLUSTER_TYPE: Final = "account-cluster"
"""New SDO type: accounts a lab believes one campaign operates together."""

PROMPT_FINGERPRINT_TYPE: Final = "prompt-fingerprint"
"""New SCO type: one keyed fingerprint value of a prompt template."""

EXT_ACCOUNT_CLUSTER: Final = "extension-definition--d8de48d6-07d4-4c71-b89a-bcdcdefa6f90"
"""new-sdo extension defining ``account-cluster``."""

EXT_PROMPT_FINGERPRINT: Final = "extension-definition--6d11d5b3-a4f9-49d7-a5c6-b7d5bab861e3"
"""new-sco extension defining ``prompt-fingerprint``."""

EXT_KEYED_IDENTIFIER: Final = "extension-definition--382ec991-eee2-4be7-9f04-17c118396927"
"""property-extension on ``user-account``: the identifier kind and hashing scheme."""

EXT_FINGERPRINT_INDICATOR: Final = "extension-definition--b66c9141-e011-438d-9623-b6201de0b85e"
"""property-extension on ``indicator``: the prompt-fingerprint record's fields."""

EXT_IP_RANGE_INDICATOR: Final = "extension-definition--513b2720-4cea-41a9-b998-820dd405b7f7"
"""property-extension on ``indicator``: the IP-range record's fields."""

PROJECT_EXTENSIONS: Final = (
    EXT_ACCOUNT_CLUSTER,
    EXT_PROMPT_FINGERPRINT,
    EXT_KEYED_IDENTIFIER,
    EXT_FINGERPRINT_INDICATOR,
    EXT_IP_RANGE_INDICATOR,
)

EXT_TLP2: Final = "extension-definition--60a3c5c5-0d10-413e-aab3-9e08dde9e88d"
"""The OASIS-published TLP 2.0 marking extension (created by CISA)."""

SIGNATURE_PATTERN_TYPE: Final = "dx-prompt-signature"
"""pattern_type of near-duplicate prompt-signature indicators (grammar: signature_pattern)."""

SIGNATURE_PATTERN_VERSION: Final = "1.0"

"""The project's vocabularies as they appear in STIX.

Records use Python-friendly ``snake_case`` terms ("residential_proxy"); STIX
vocabularies are lowercase with hyphens ("residential-proxy"). No record term
contains a hyphen, so the mapping is a lossless swap of ``_`` and ``-``.
The lists here are the ones the JSON Schemas enumerate (a test checks that
they agree with the record models).
"""

from __future__ import annotations

from typing import Final, get_args

from mappings.records import (
    Capability,
    ElicitationFeature,
    EnforcementStatus,
    FingerprintAlgorithm,
    IdentifierKind,
    LinkingSignalName,
    MatchMetric,
    PromptScope,
    ProviderType,
    RecommendedAction,
)


def to_stix_term(term: str) -> str:
    """``residential_proxy`` -> ``residential-proxy``."""
    return term.replace("_", "-")


def from_stix_term(term: str) -> str:
    """``residential-proxy`` -> ``residential_proxy``."""
    return term.replace("-", "_")


def _stix_terms(literal: object) -> tuple[str, ...]:
    return tuple(to_stix_term(term) for term in get_args(literal))


IDENTIFIER_KINDS: Final = _stix_terms(IdentifierKind)
LINKING_SIGNALS: Final = _stix_terms(LinkingSignalName)
CAPABILITIES: Final = _stix_terms(Capability)
ENFORCEMENT_STATUSES: Final = _stix_terms(EnforcementStatus)
PROMPT_SCOPES: Final = _stix_terms(PromptScope)
ELICITATION_FEATURES: Final = _stix_terms(ElicitationFeature)
PROVIDER_TYPES: Final = _stix_terms(ProviderType)
RECOMMENDED_ACTIONS: Final = _stix_terms(RecommendedAction)
FINGERPRINT_ALGORITHMS: Final = get_args(FingerprintAlgorithm)
"""Algorithm names already use hyphens and are published as they are."""
MATCH_METRICS: Final = get_args(MatchMetric)

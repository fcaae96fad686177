"""Privacy at the source: what leaves a lab is keyed hashes and keyed fingerprints only.

Public API (everything else in this package is an implementation detail):

Keys (``keys``)
    ConsortiumKey, generate_key, load_key, save_key, key_from_json, key_to_json,
    KeyFileError, KEY_FILE_ENV, LOCAL_KEY_FILE_ENV
Account identifiers (``pseudonymise``)
    IdentifierKind, HashingScheme, normalise_identifier, pseudonymise,
    hash_normalised, looks_like_raw_identifier, is_keyed_hash,
    IDENTIFIER_NORMALISATION_VERSION
Prompts (``normalise``, ``normalise_p2``, ``fingerprint``, ``template_signature``)
    normalise_prompt, PROMPT_NORMALISATION_VERSION, normalise_prompt_p2,
    PROMPT_NORMALISATION_P2, Fingerprint, fingerprint_prompt, fingerprint_prompts,
    fingerprint_template_set (p2: exact hashes + containment-keyed template
    signature), fingerprint_template_set_p1, TemplateFingerprints,
    exact_template_hash, ALGORITHM_CONTAINMENT, ContainmentHasher, containment
Matching (``matching``, ``lsh``)
    similarity, matches, KeyMismatchError, IncompatibleFingerprintsError,
    MinHashLSHIndex

docs/privacy.md explains the decisions, the normalisation steps and the test
vectors.
"""

from exchange.privacy.fingerprint import (
    ALGORITHM_CONTAINMENT,
    ALGORITHM_EXACT,
    ALGORITHM_MINHASH,
    ALGORITHM_SIMHASH,
    DEFAULT_HAMMING_THRESHOLD,
    DEFAULT_JACCARD_THRESHOLD,
    Fingerprint,
    FingerprintAlgorithm,
    TemplateFingerprints,
    exact_template_hash,
    fingerprint_prompt,
    fingerprint_prompts,
    fingerprint_template_set,
    fingerprint_template_set_p1,
)
from exchange.privacy.keys import (
    KEY_FILE_ENV,
    LOCAL_KEY_FILE_ENV,
    ConsortiumKey,
    KeyFileError,
    generate_key,
    key_from_json,
    key_to_json,
    load_key,
    save_key,
)
from exchange.privacy.lsh import MinHashLSHIndex
from exchange.privacy.matching import (
    IncompatibleFingerprintsError,
    KeyMismatchError,
    matches,
    similarity,
)
from exchange.privacy.normalise import PROMPT_NORMALISATION_VERSION, normalise_prompt
from exchange.privacy.normalise_p2 import PROMPT_NORMALISATION_P2, normalise_prompt_p2
from exchange.privacy.pseudonymise import (
    IDENTIFIER_NORMALISATION_VERSION,
    HashingScheme,
    IdentifierKind,
    hash_normalised,
    is_keyed_hash,
    looks_like_raw_identifier,
    normalise_identifier,
    pseudonymise,
)
from exchange.privacy.template_signature import ContainmentHasher, containment

__all__ = [
    "ALGORITHM_CONTAINMENT",
    "ALGORITHM_EXACT",
    "ALGORITHM_MINHASH",
    "ALGORITHM_SIMHASH",
    "DEFAULT_HAMMING_THRESHOLD",
    "DEFAULT_JACCARD_THRESHOLD",
    "IDENTIFIER_NORMALISATION_VERSION",
    "KEY_FILE_ENV",
    "LOCAL_KEY_FILE_ENV",
    "PROMPT_NORMALISATION_P2",
    "PROMPT_NORMALISATION_VERSION",
    "ConsortiumKey",
    "ContainmentHasher",
    "Fingerprint",
    "FingerprintAlgorithm",
    "HashingScheme",
    "IdentifierKind",
    "IncompatibleFingerprintsError",
    "KeyFileError",
    "KeyMismatchError",
    "MinHashLSHIndex",
    "TemplateFingerprints",
    "containment",
    "exact_template_hash",
    "fingerprint_prompt",
    "fingerprint_prompts",
    "fingerprint_template_set",
    "fingerprint_template_set_p1",
    "generate_key",
    "hash_normalised",
    "is_keyed_hash",
    "key_from_json",
    "key_to_json",
    "load_key",
    "looks_like_raw_identifier",
    "matches",
    "normalise_identifier",
    "normalise_prompt",
    "normalise_prompt_p2",
    "pseudonymise",
    "save_key",
    "similarity",
]

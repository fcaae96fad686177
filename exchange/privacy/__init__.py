"""Privacy at the source: what leaves a lab is keyed hashes and keyed fingerprints only.

Public API (everything else in this package is an implementation detail):

Keys (``keys``)
    ConsortiumKey, generate_key, load_key, save_key, key_from_json, key_to_json,
    KeyFileError, KEY_FILE_ENV, LOCAL_KEY_FILE_ENV
Account identifiers (``pseudonymise``)
    IdentifierKind, HashingScheme, normalise_identifier, pseudonymise,
    hash_normalised, looks_like_raw_identifier, is_keyed_hash,
    IDENTIFIER_NORMALISATION_VERSION
Prompts (``normalise``, ``fingerprint``)
    normalise_prompt, PROMPT_NORMALISATION_VERSION, Fingerprint,
    fingerprint_prompt, fingerprint_prompts, fingerprint_template_set,
    TemplateFingerprints, exact_template_hash
Matching (``matching``, ``lsh``)
    similarity, matches, KeyMismatchError, IncompatibleFingerprintsError,
    MinHashLSHIndex

docs/privacy.md explains the decisions, the normalisation steps and the test
vectors.
"""

from exchange.privacy.fingerprint import (
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

__all__ = [
    "ALGORITHM_EXACT",
    "ALGORITHM_MINHASH",
    "ALGORITHM_SIMHASH",
    "DEFAULT_HAMMING_THRESHOLD",
    "DEFAULT_JACCARD_THRESHOLD",
    "IDENTIFIER_NORMALISATION_VERSION",
    "KEY_FILE_ENV",
    "LOCAL_KEY_FILE_ENV",
    "PROMPT_NORMALISATION_VERSION",
    "ConsortiumKey",
    "Fingerprint",
    "FingerprintAlgorithm",
    "HashingScheme",
    "IdentifierKind",
    "IncompatibleFingerprintsError",
    "KeyFileError",
    "KeyMismatchError",
    "MinHashLSHIndex",
    "TemplateFingerprints",
    "exact_template_hash",
    "fingerprint_prompt",
    "fingerprint_prompts",
    "fingerprint_template_set",
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
    "pseudonymise",
    "save_key",
    "similarity",
]

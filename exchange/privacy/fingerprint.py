"""Prompt fingerprints: what a lab shares instead of the prompts themselves.

Three fingerprints are computed locally from each raw prompt, all keyed with
the consortium key:

* ``hmac-sha256-template``: HMAC-SHA256 of the ``p1`` normalised template.
  It is keyed too because templates are guessable: with a plain SHA-256,
  anyone holding a bundle could hash a dictionary of likely scaffolds ("Solve
  the following problem step by step...") and learn which ones a lab has seen.
* ``minhash-keyed``: MinHash over word shingles (see ``minhash``), matched by
  estimated Jaccard similarity >= threshold.
* ``simhash-keyed``: SimHash over word shingles (see ``simhash``), matched by
  Hamming distance <= threshold. It no longer decides a match on its own
  (see ``exchange.match.prompts``); kept so that old records stay readable.
* ``containment-keyed`` (normalisation ``p2``): a template signature learned
  from a campaign's prompts, matched by containment (``template_signature``).
  This is what ``fingerprint_template_set`` shares since ``p2``.

A fingerprint carries the key id and normalisation version in its
parameters; fingerprints made under different keys are never compared
(``matching.KeyMismatchError``).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any, Final, Literal

from exchange.privacy.keys import ConsortiumKey
from exchange.privacy.minhash import (
    NUM_PERM,
    VALUE_BITS,
    MinHashSignature,
    decode_signature,
    encode_signature,
    estimated_jaccard,
    minhasher_for,
)
from exchange.privacy.normalise import PROMPT_NORMALISATION_VERSION, normalise_prompt
from exchange.privacy.normalise_p2 import PROMPT_NORMALISATION_P2, normalise_prompt_p2
from exchange.privacy.shingles import prompt_shingles
from exchange.privacy.simhash import SIMHASH_BITS, decode_simhash, encode_simhash, simhasher_for
from exchange.privacy.template_signature import (
    ALGORITHM_CONTAINMENT,
    DEFAULT_CONTAINMENT_THRESHOLD,
    decode_values,
    encode_values,
    learn_signature,
)
from exchange.privacy.template_signature import (
    SHINGLE_SIZE as CONTAINMENT_SHINGLE_SIZE,
)
from exchange.privacy.template_signature import (
    VALUE_BITS as CONTAINMENT_VALUE_BITS,
)

FingerprintAlgorithm = Literal[
    "hmac-sha256-template", "minhash-keyed", "simhash-keyed", "containment-keyed"
]
ALGORITHM_EXACT: Final = "hmac-sha256-template"
ALGORITHM_MINHASH: Final = "minhash-keyed"
ALGORITHM_SIMHASH: Final = "simhash-keyed"
ALGORITHMS: Final = (ALGORITHM_EXACT, ALGORITHM_MINHASH, ALGORITHM_SIMHASH, ALGORITHM_CONTAINMENT)
NORMALISERS: Final = {
    PROMPT_NORMALISATION_VERSION: normalise_prompt,
    PROMPT_NORMALISATION_P2: normalise_prompt_p2,
}
"""The prompt normalisations this code can compute, by version."""

MINHASH_SHINGLE_SIZE: Final = 3
SIMHASH_SHINGLE_SIZE: Final = 2
"""SimHash's 64 bits are a noisier estimate than MinHash's 128 values; two-word
shingles raise same-template similarity enough to meet the targets (the sweep
in docs/privacy.md shows three-word shingles need a looser threshold)."""
DEFAULT_JACCARD_THRESHOLD: Final = 0.35
"""Calibrated with bench/fingerprint_calibration.py; see docs/privacy.md."""
DEFAULT_HAMMING_THRESHOLD: Final = 20
"""Calibrated with bench/fingerprint_calibration.py; see docs/privacy.md."""

DEFAULT_MAX_EXACT_HASHES: Final = 16
DEFAULT_MAX_MEDOID_CANDIDATES: Final = 64

_KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$")
_NORMALISATION = re.compile(r"^p[0-9]+$")
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_PARAMETER_NAMES: Final[Mapping[str, frozenset[str]]] = {
    ALGORITHM_EXACT: frozenset({"key_id", "normalization"}),
    ALGORITHM_MINHASH: frozenset(
        {"key_id", "normalization", "shingle_size", "num_perm", "value_bits"}
    ),
    ALGORITHM_SIMHASH: frozenset({"key_id", "normalization", "shingle_size", "bits"}),
    ALGORITHM_CONTAINMENT: frozenset({"key_id", "normalization", "shingle_size", "value_bits"}),
}
_FIXED_PARAMETERS: Final[Mapping[str, Mapping[str, int]]] = {
    ALGORITHM_EXACT: {},
    ALGORITHM_MINHASH: {"num_perm": NUM_PERM, "value_bits": VALUE_BITS},
    ALGORITHM_SIMHASH: {"bits": SIMHASH_BITS},
    ALGORITHM_CONTAINMENT: {"value_bits": CONTAINMENT_VALUE_BITS},
}
_METRICS: Final[Mapping[str, str]] = {
    ALGORITHM_EXACT: "equal",
    ALGORITHM_MINHASH: "jaccard",
    ALGORITHM_SIMHASH: "hamming",
    ALGORITHM_CONTAINMENT: "containment",
}


@dataclass(frozen=True)
class Fingerprint:
    """One keyed fingerprint of a prompt template, validated on construction.

    ``parameters`` always holds ``key_id`` and ``normalization``; MinHash adds
    ``shingle_size``, ``num_perm`` and ``value_bits``; SimHash adds
    ``shingle_size`` and ``bits``. ``match_rule`` is ``{"metric": "equal"}``,
    ``{"metric": "jaccard", "threshold": 0 < t <= 1}`` or
    ``{"metric": "hamming", "threshold": integer 0..64}``.
    """

    algorithm: str
    parameters: Mapping[str, int | str]
    value: str
    match_rule: Mapping[str, str | int | float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.algorithm not in ALGORITHMS:
            raise ValueError(f"algorithm: {self.algorithm!r} is not one of {', '.join(ALGORITHMS)}")
        object.__setattr__(self, "parameters", _checked_parameters(self.algorithm, self.parameters))
        rule = self.match_rule or default_match_rule(self.algorithm)
        object.__setattr__(self, "match_rule", _checked_rule(self.algorithm, rule))
        _check_value(self.algorithm, self.value)

    def __hash__(self) -> int:
        return hash((self.algorithm, self.key_id, self.value))

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as plain values (the read-only mappings inside cannot be pickled)."""
        return (
            type(self),
            (self.algorithm, dict(self.parameters), self.value, dict(self.match_rule)),
        )

    @property
    def key_id(self) -> str:
        return str(self.parameters["key_id"])

    @property
    def normalization(self) -> str:
        return str(self.parameters["normalization"])

    @cached_property
    def minhash_signature(self) -> MinHashSignature:
        """The decoded MinHash values (MinHash fingerprints only)."""
        if self.algorithm != ALGORITHM_MINHASH:
            raise ValueError(f"a {self.algorithm} fingerprint has no MinHash signature")
        return decode_signature(self.value)

    @cached_property
    def containment_values(self) -> tuple[int, ...]:
        """The decoded template-signature values (containment fingerprints only)."""
        if self.algorithm != ALGORITHM_CONTAINMENT:
            raise ValueError(f"a {self.algorithm} fingerprint has no containment signature")
        return decode_values(self.value)

    @cached_property
    def simhash_value(self) -> int:
        """The decoded 64-bit SimHash (SimHash fingerprints only)."""
        if self.algorithm != ALGORITHM_SIMHASH:
            raise ValueError(f"a {self.algorithm} fingerprint has no SimHash value")
        return decode_simhash(self.value)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form; ``key_id`` is repeated at the top level for record models."""
        return {
            "algorithm": self.algorithm,
            "key_id": self.key_id,
            "value": self.value,
            "parameters": dict(self.parameters),
            "match_rule": dict(self.match_rule),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fingerprint:
        """Parse ``to_dict`` output (or a record's fingerprint); ValueError names the field."""
        if not isinstance(data, Mapping):
            raise ValueError("fingerprint: expected an object")
        unknown = sorted(set(data) - {"algorithm", "key_id", "value", "parameters", "match_rule"})
        if unknown:
            raise ValueError(f"{unknown[0]}: unknown field")
        for name in ("algorithm", "value", "parameters"):
            if name not in data:
                raise ValueError(f"{name}: missing")
        if not isinstance(data["algorithm"], str):
            raise ValueError("algorithm: must be a string")
        if not isinstance(data["value"], str):
            raise ValueError("value: must be a string")
        parameters = data["parameters"]
        if not isinstance(parameters, Mapping):
            raise ValueError("parameters: must be an object")
        parameters = dict(parameters)
        if "key_id" in data:
            if "key_id" in parameters and parameters["key_id"] != data["key_id"]:
                raise ValueError("key_id: differs from parameters.key_id")
            parameters["key_id"] = data["key_id"]
        rule = data.get("match_rule", {})
        if not isinstance(rule, Mapping):
            raise ValueError("match_rule: must be an object")
        return cls(data["algorithm"], parameters, data["value"], dict(rule))


def default_match_rule(algorithm: str) -> dict[str, str | int | float]:
    """The calibrated rule for an algorithm (see docs/privacy.md for the figures)."""
    if algorithm == ALGORITHM_MINHASH:
        return {"metric": "jaccard", "threshold": DEFAULT_JACCARD_THRESHOLD}
    if algorithm == ALGORITHM_SIMHASH:
        return {"metric": "hamming", "threshold": DEFAULT_HAMMING_THRESHOLD}
    if algorithm == ALGORITHM_CONTAINMENT:
        return {"metric": "containment", "threshold": DEFAULT_CONTAINMENT_THRESHOLD}
    return {"metric": "equal"}


def _checked_parameters(algorithm: str, parameters: Mapping[str, Any]) -> Mapping[str, int | str]:
    if not isinstance(parameters, Mapping):
        raise ValueError("parameters: must be an object")
    allowed = _PARAMETER_NAMES[algorithm]
    unknown = sorted(set(parameters) - allowed)
    if unknown:
        raise ValueError(f"parameters.{unknown[0]}: not a parameter of {algorithm}")
    missing = sorted(allowed - set(parameters))
    if missing:
        raise ValueError(f"parameters.{missing[0]}: missing")
    key_id = parameters["key_id"]
    if not isinstance(key_id, str) or not _KEY_ID.match(key_id):
        raise ValueError("parameters.key_id: must be 1-64 letters, digits and . _ : -")
    normalization = parameters["normalization"]
    if not isinstance(normalization, str) or not _NORMALISATION.match(normalization):
        raise ValueError("parameters.normalization: must look like 'p1'")
    for name, expected in _FIXED_PARAMETERS[algorithm].items():
        if parameters[name] != expected or isinstance(parameters[name], bool):
            raise ValueError(f"parameters.{name}: must be {expected}")
    if "shingle_size" in allowed:
        size = parameters["shingle_size"]
        if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 16:
            raise ValueError("parameters.shingle_size: must be an integer from 1 to 16")
    return MappingProxyType(dict(parameters))


def _checked_rule(algorithm: str, rule: Mapping[str, Any]) -> Mapping[str, str | int | float]:
    if not isinstance(rule, Mapping):
        raise ValueError("match_rule: must be an object")
    metric = _METRICS[algorithm]
    if rule.get("metric") != metric:
        raise ValueError(f"match_rule.metric: a {algorithm} fingerprint is matched by {metric!r}")
    if metric == "equal":
        if set(rule) != {"metric"}:
            raise ValueError("match_rule: an 'equal' rule takes no other field")
        return MappingProxyType({"metric": "equal"})
    if set(rule) != {"metric", "threshold"}:
        raise ValueError(f"match_rule: a {metric!r} rule has exactly metric and threshold")
    threshold = rule["threshold"]
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise ValueError("match_rule.threshold: must be a number")
    if metric in ("jaccard", "containment") and not 0 < threshold <= 1:
        raise ValueError(f"match_rule.threshold: a {metric} threshold is in (0, 1]")
    if metric == "hamming":
        if threshold != int(threshold) or not 0 <= threshold <= SIMHASH_BITS:
            raise ValueError("match_rule.threshold: a Hamming threshold is an integer 0..64")
        threshold = int(threshold)
    return MappingProxyType({"metric": metric, "threshold": threshold})


def _check_value(algorithm: str, value: Any) -> None:
    if not isinstance(value, str):
        raise ValueError("value: must be a string")
    try:
        if algorithm == ALGORITHM_EXACT:
            if not _HEX64.match(value):
                raise ValueError("an exact template hash is 64 lowercase hexadecimal digits")
        elif algorithm == ALGORITHM_MINHASH:
            decode_signature(value)
        elif algorithm == ALGORITHM_CONTAINMENT:
            decode_values(value)
        else:
            decode_simhash(value)
    except ValueError as exc:
        raise ValueError(f"value: {exc}") from None


def exact_template_hash(
    normalised: str, key: ConsortiumKey, version: str = PROMPT_NORMALISATION_VERSION
) -> str:
    """HMAC-SHA256(secret, "prompt-template:<version>:" + normalised template), lowercase hex."""
    message = f"prompt-template:{version}:{normalised}".encode()
    return hmac.new(key.secret, message, hashlib.sha256).hexdigest()


def exact_fingerprint(
    normalised: str, key: ConsortiumKey, version: str = PROMPT_NORMALISATION_VERSION
) -> Fingerprint:
    return Fingerprint(
        ALGORITHM_EXACT,
        {"key_id": key.key_id, "normalization": version},
        exact_template_hash(normalised, key, version),
    )


def containment_fingerprint(values: Sequence[int], key: ConsortiumKey) -> Fingerprint:
    """The ``containment-keyed`` fingerprint of a learned template signature."""
    return Fingerprint(
        ALGORITHM_CONTAINMENT,
        {
            "key_id": key.key_id,
            "normalization": PROMPT_NORMALISATION_P2,
            "shingle_size": CONTAINMENT_SHINGLE_SIZE,
            "value_bits": CONTAINMENT_VALUE_BITS,
        },
        encode_values(values),
    )


def _minhash_fingerprint(signature: Sequence[int], key: ConsortiumKey) -> Fingerprint:
    return Fingerprint(
        ALGORITHM_MINHASH,
        {
            "key_id": key.key_id,
            "normalization": PROMPT_NORMALISATION_VERSION,
            "shingle_size": MINHASH_SHINGLE_SIZE,
            "num_perm": NUM_PERM,
            "value_bits": VALUE_BITS,
        },
        encode_signature(signature),
    )


def _simhash_fingerprint(normalised: str, key: ConsortiumKey) -> Fingerprint:
    value = simhasher_for(key).simhash(prompt_shingles(normalised, SIMHASH_SHINGLE_SIZE))
    return Fingerprint(
        ALGORITHM_SIMHASH,
        {
            "key_id": key.key_id,
            "normalization": PROMPT_NORMALISATION_VERSION,
            "shingle_size": SIMHASH_SHINGLE_SIZE,
            "bits": SIMHASH_BITS,
        },
        encode_simhash(value),
    )


def _minhash_signatures(normalised: Sequence[str], key: ConsortiumKey) -> list[MinHashSignature]:
    shingle_sets = [set(prompt_shingles(text, MINHASH_SHINGLE_SIZE)) for text in normalised]
    return minhasher_for(key).signatures(shingle_sets)


def minhash_signatures(normalised: Sequence[str], key: ConsortiumKey) -> list[MinHashSignature]:
    """The ``p1`` MinHash signatures of already normalised prompts (batched)."""
    return _minhash_signatures(normalised, key)


def minhash_fingerprint(signature: Sequence[int], key: ConsortiumKey) -> Fingerprint:
    """The ``minhash-keyed`` fingerprint of one ``p1`` MinHash signature."""
    return _minhash_fingerprint(signature, key)


def _normalised_all(
    prompts: Sequence[str], normalise: Callable[[str], str] = normalise_prompt
) -> list[str]:
    """Normalise every prompt (``p1`` unless told); an empty one is an error naming its index."""
    if isinstance(prompts, str):
        raise TypeError("expected a sequence of prompts, not one string")
    result = []
    for index, raw in enumerate(prompts):
        if not isinstance(raw, str):
            raise TypeError(f"prompt {index}: expected a string, got {type(raw).__name__}")
        normalised = normalise(raw)
        if not normalised:
            raise ValueError(f"prompt {index}: empty after normalisation")
        result.append(normalised)
    return result


def fingerprint_prompts(prompts: Sequence[str], key: ConsortiumKey) -> list[list[Fingerprint]]:
    """``fingerprint_prompt`` for many prompts at once (MinHash is batched: much faster)."""
    normalised = _normalised_all(prompts)
    signatures = _minhash_signatures(normalised, key)
    return [
        [
            exact_fingerprint(text, key),
            _minhash_fingerprint(signature, key),
            _simhash_fingerprint(text, key),
        ]
        for text, signature in zip(normalised, signatures, strict=True)
    ]


def fingerprint_prompt(raw: str, key: ConsortiumKey) -> list[Fingerprint]:
    """The exact, MinHash and SimHash fingerprints of one raw prompt, in that order."""
    return fingerprint_prompts([raw], key)[0]


@dataclass(frozen=True)
class TemplateFingerprints:
    """The fingerprint payload of one detected template (a cluster of similar prompts).

    ``fingerprints`` holds the exact hashes of the most common distinct
    normalised forms (most common first, at most the cap), then the MinHash
    and the SimHash of the representative form.
    """

    normalization: str
    key_id: str
    sample_count: int
    distinct_templates: int
    fingerprints: tuple[Fingerprint, ...]

    @property
    def exact(self) -> tuple[Fingerprint, ...]:
        return tuple(f for f in self.fingerprints if f.algorithm == ALGORITHM_EXACT)

    @property
    def minhash(self) -> Fingerprint:
        return next(f for f in self.fingerprints if f.algorithm == ALGORITHM_MINHASH)

    @property
    def containment(self) -> Fingerprint | None:
        return next((f for f in self.fingerprints if f.algorithm == ALGORITHM_CONTAINMENT), None)

    @property
    def simhash(self) -> Fingerprint:
        return next(f for f in self.fingerprints if f.algorithm == ALGORITHM_SIMHASH)

    def to_dict(self) -> dict[str, Any]:
        return {
            "normalization": self.normalization,
            "key_id": self.key_id,
            "sample_count": self.sample_count,
            "distinct_templates": self.distinct_templates,
            "fingerprints": [f.to_dict() for f in self.fingerprints],
        }


def fingerprint_template_set(
    prompts: Sequence[str],
    key: ConsortiumKey,
    *,
    max_exact_hashes: int = DEFAULT_MAX_EXACT_HASHES,
) -> TemplateFingerprints:
    """Fingerprint the raw prompts of one template (normalisation ``p2``).

    ``fingerprints`` holds the exact ``p2`` hashes of the most common normal
    forms (most common first, ties by hash, at most ``max_exact_hashes``),
    then the ``containment-keyed`` template signature learned from all the
    prompts (``template_signature``: shingles in at least half of the
    prompts). A template too short to learn a signature from (fewer than
    ``template_signature.MIN_SIGNATURE_VALUES`` invariant shingles) gets the
    exact hashes only. Nothing depends on the order the prompts arrive in.
    """
    if max_exact_hashes < 1:
        raise ValueError("max_exact_hashes must be at least 1")
    normalised = _normalised_all(prompts, normalise_prompt_p2)
    if not normalised:
        raise ValueError("a template set needs at least one prompt")
    counts = Counter(normalised)
    hashes = {text: exact_template_hash(text, key, PROMPT_NORMALISATION_P2) for text in counts}
    ranked = sorted(counts, key=lambda text: (-counts[text], hashes[text]))
    exact = [
        Fingerprint(
            ALGORITHM_EXACT,
            {"key_id": key.key_id, "normalization": PROMPT_NORMALISATION_P2},
            hashes[text],
        )
        for text in ranked[:max_exact_hashes]
    ]
    values = learn_signature(normalised, key)
    signature = [containment_fingerprint(values, key)] if values is not None else []
    return TemplateFingerprints(
        normalization=PROMPT_NORMALISATION_P2,
        key_id=key.key_id,
        sample_count=len(normalised),
        distinct_templates=len(counts),
        fingerprints=(*exact, *signature),
    )


def fingerprint_template_set_p1(
    prompts: Sequence[str],
    key: ConsortiumKey,
    *,
    max_exact_hashes: int = DEFAULT_MAX_EXACT_HASHES,
    max_medoid_candidates: int = DEFAULT_MAX_MEDOID_CANDIDATES,
) -> TemplateFingerprints:
    """The ``p1`` fingerprints of one template, as shared before ``p2`` (kept for comparison).

    The representative form for MinHash and SimHash is the medoid: among the
    ``max_medoid_candidates`` most common normalised forms, the one with the
    greatest count-weighted MinHash similarity to the others. It stands for the
    whole cluster better than the single most common form when every prompt
    differs a little (extra sentences, say). Ordering uses counts and keyed
    hashes only, so it does not depend on the order prompts arrive in.
    """
    if max_exact_hashes < 1 or max_medoid_candidates < 1:
        raise ValueError("max_exact_hashes and max_medoid_candidates must be at least 1")
    normalised = _normalised_all(prompts)
    if not normalised:
        raise ValueError("a template set needs at least one prompt")
    counts = Counter(normalised)
    hashes = {text: exact_template_hash(text, key) for text in counts}
    ranked = sorted(counts, key=lambda text: (-counts[text], hashes[text]))

    candidates = ranked[:max_medoid_candidates]
    signatures = _minhash_signatures(candidates, key)
    best_index = max(
        range(len(candidates)),
        key=lambda i: (
            sum(
                counts[other] * estimated_jaccard(signatures[i], signatures[j])
                for j, other in enumerate(candidates)
            ),
            counts[candidates[i]],
            # Among equals prefer the smallest hash: negate it for max().
            -int(hashes[candidates[i]], 16),
        ),
    )
    representative = candidates[best_index]

    exact = [
        Fingerprint(
            ALGORITHM_EXACT,
            {"key_id": key.key_id, "normalization": PROMPT_NORMALISATION_VERSION},
            hashes[text],
        )
        for text in ranked[:max_exact_hashes]
    ]
    return TemplateFingerprints(
        normalization=PROMPT_NORMALISATION_VERSION,
        key_id=key.key_id,
        sample_count=len(normalised),
        distinct_templates=len(counts),
        fingerprints=(
            *exact,
            _minhash_fingerprint(signatures[best_index], key),
            _simhash_fingerprint(representative, key),
        ),
    )

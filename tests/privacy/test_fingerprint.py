"""Prompt fingerprints: the value type, the published vectors, and template sets."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import pickle
import random
from typing import Any

import pytest

from exchange.privacy import (
    ALGORITHM_EXACT,
    ALGORITHM_MINHASH,
    ALGORITHM_SIMHASH,
    ConsortiumKey,
    Fingerprint,
    fingerprint_prompt,
    fingerprint_prompts,
    fingerprint_template_set,
    fingerprint_template_set_p1,
    normalise_prompt,
    similarity,
)
from mappings.records import FingerprintValue


def test_prompt_vectors_recompute(vectors: dict[str, Any], test_key: ConsortiumKey) -> None:
    for vector in vectors["prompt_vectors"]:
        exact, minhash, simhash = fingerprint_prompt(vector["raw"], test_key)
        assert exact.value == vector["hmac-sha256-template"]
        assert minhash.value == vector["minhash-keyed"]
        assert simhash.value == vector["simhash-keyed"]


def test_exact_hash_against_an_independent_hmac(vectors: dict[str, Any]) -> None:
    secret = bytes(range(1, 33))
    for vector in vectors["prompt_vectors"][:3]:
        message = ("prompt-template:p1:" + vector["normalized"]).encode()
        assert (
            vector["hmac-sha256-template"] == hmac.new(secret, message, hashlib.sha256).hexdigest()
        )


def test_fingerprint_prompt_gives_three_keyed_fingerprints(test_key: ConsortiumKey) -> None:
    exact, minhash, simhash = fingerprint_prompt("Explain step by step why 2 + 2 = 4.", test_key)
    assert [f.algorithm for f in (exact, minhash, simhash)] == [
        ALGORITHM_EXACT,
        ALGORITHM_MINHASH,
        ALGORITHM_SIMHASH,
    ]
    for f in (exact, minhash, simhash):
        assert f.key_id == "test-vector-key"
        assert f.normalization == "p1"
    assert dict(exact.match_rule) == {"metric": "equal"}
    assert dict(minhash.match_rule) == {"metric": "jaccard", "threshold": 0.35}
    assert dict(simhash.match_rule) == {"metric": "hamming", "threshold": 20}
    assert dict(minhash.parameters) == {
        "key_id": "test-vector-key",
        "normalization": "p1",
        "shingle_size": 3,
        "num_perm": 128,
        "value_bits": 32,
    }
    assert dict(simhash.parameters)["shingle_size"] == 2
    assert len(simhash.value) == 16


def test_batch_equals_one_by_one(test_key: ConsortiumKey) -> None:
    prompts = [
        f"Prompt number {i} asks about topic {'abc'[i % 3]} in {i % 5 + 1} words" for i in range(40)
    ]
    prompts += ["short", "a much longer prompt " * 30]
    batch = fingerprint_prompts(prompts, test_key)
    assert batch == [fingerprint_prompt(p, test_key) for p in prompts]


def test_empty_prompt_is_named(test_key: ConsortiumKey) -> None:
    with pytest.raises(ValueError, match="prompt 2: empty after normalisation"):
        fingerprint_prompts(["a", "b", " \u200b "], test_key)
    with pytest.raises(TypeError):
        fingerprint_prompts("one string", test_key)


def test_dict_round_trip_and_record_model(test_key: ConsortiumKey) -> None:
    for f in fingerprint_prompt("Round trip me, please, 3 times", test_key):
        data = json.loads(json.dumps(f.to_dict()))
        assert Fingerprint.from_dict(data) == f
        FingerprintValue.model_validate(data)  # the record model accepts the same shape


def test_fingerprints_pickle_and_copy(test_key: ConsortiumKey) -> None:
    """Other components may send fingerprints to worker processes."""
    payload = fingerprint_template_set(["one prompt here", "another prompt there"], test_key)
    assert pickle.loads(pickle.dumps(payload)) == payload
    for f in payload.fingerprints:
        assert copy.deepcopy(f) == f
        assert hash(pickle.loads(pickle.dumps(f))) == hash(f)


def _valid_minhash(test_key: ConsortiumKey) -> dict[str, Any]:
    return fingerprint_prompt("some prompt text here", test_key)[1].to_dict()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"algorithm": "md5"}, "algorithm"),
        ({"value": "AAAA"}, "value: MinHash value decodes to 3 bytes"),
        ({"value": 12}, "value: must be a string"),
        ({"match_rule": {"metric": "hamming", "threshold": 3}}, "match_rule.metric"),
        ({"match_rule": {"metric": "jaccard", "threshold": 1.5}}, "match_rule.threshold"),
        ({"match_rule": {"metric": "jaccard"}}, "exactly metric and threshold"),
        ({"key_id": "someone-else"}, "key_id: differs"),
        ({"surprise": 1}, "surprise: unknown field"),
    ],
)
def test_from_dict_refuses(test_key: ConsortiumKey, change: dict[str, Any], message: str) -> None:
    data = {**_valid_minhash(test_key), **change}
    with pytest.raises(ValueError, match=message):
        Fingerprint.from_dict(data)


@pytest.mark.parametrize(
    ("parameters", "message"),
    [
        ({"num_perm": 64}, "parameters.num_perm: must be 128"),
        ({"shingle_size": 0}, "parameters.shingle_size"),
        ({"normalization": "n1"}, "parameters.normalization"),
        ({"key_id": "bad id"}, "parameters.key_id"),
        ({"colour": "red"}, "parameters.colour: not a parameter"),
    ],
)
def test_parameters_are_checked(
    test_key: ConsortiumKey, parameters: dict[str, Any], message: str
) -> None:
    data = _valid_minhash(test_key)
    data.pop("key_id")
    data["parameters"] = {**data["parameters"], **parameters}
    with pytest.raises(ValueError, match=message):
        Fingerprint.from_dict(data)


def test_missing_parameter(test_key: ConsortiumKey) -> None:
    data = _valid_minhash(test_key)
    del data["parameters"]["num_perm"]
    with pytest.raises(ValueError, match=r"parameters\.num_perm: missing"):
        Fingerprint.from_dict(data)


CLUSTER = [
    'You are a strict grader. Grade the answer "{a}" to question {n} using the rubric: '
    "correctness, clarity and completeness. Return JSON with score and justification.{extra}"
]


def _cluster(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    extras = ["", "", " Be concise.", " Thank you!", " Answer in English only please."]
    return [
        CLUSTER[0].format(
            a=rng.choice("xyz") * rng.randint(1, 9), n=rng.randint(1, 99), extra=rng.choice(extras)
        )
        for _ in range(count)
    ]


def test_template_set_payload(test_key: ConsortiumKey) -> None:
    prompts = _cluster(60, seed=3)
    payload = fingerprint_template_set_p1(prompts, test_key)
    distinct = {normalise_prompt(p) for p in prompts}
    assert payload.sample_count == 60
    assert payload.distinct_templates == len(distinct) == 4
    assert payload.key_id == "test-vector-key" and payload.normalization == "p1"
    exact_values = [f.value for f in payload.exact]
    assert len(exact_values) == 4
    # Most common normalised form first.
    most_common = max(distinct, key=lambda t: sum(normalise_prompt(p) == t for p in prompts))
    assert exact_values[0] == fingerprint_prompt(most_common, test_key)[0].value
    # The representative signatures match every member of the cluster.
    for prompt in prompts:
        _, minhash, simhash = fingerprint_prompt(prompt, test_key)
        assert similarity(minhash, payload.minhash) >= 0.35
        assert similarity(simhash, payload.simhash) >= 1 - 20 / 64
    assert json.loads(json.dumps(payload.to_dict()))["sample_count"] == 60


def test_template_set_ignores_arrival_order(test_key: ConsortiumKey) -> None:
    prompts = _cluster(40, seed=9)
    shuffled = prompts[:]
    random.Random(1).shuffle(shuffled)
    assert fingerprint_template_set_p1(prompts, test_key) == fingerprint_template_set_p1(
        shuffled, test_key
    )


def test_template_set_caps_exact_hashes(test_key: ConsortiumKey) -> None:
    prompts = [
        f"Prompt about subject {word} in detail"
        for word in ("alpha", "beta", "gamma", "delta", "epsilon")
    ]
    payload = fingerprint_template_set_p1(prompts, test_key, max_exact_hashes=2)
    assert len(payload.exact) == 2
    assert payload.distinct_templates == 5
    with pytest.raises(ValueError, match="at least 1"):
        fingerprint_template_set_p1(prompts, test_key, max_exact_hashes=0)
    with pytest.raises(ValueError, match="at least one prompt"):
        fingerprint_template_set_p1([], test_key)


def test_medoid_is_the_central_form(test_key: ConsortiumKey) -> None:
    """One outlier form seen most often must not become the representative."""
    core = "please write a detailed step by step explanation of the topic for a student"
    members = [f"{core} {tail}" for tail in ("alpha", "beta", "gamma", "delta")]
    outlier = "completely different words that share nothing with the rest of this cluster"
    payload = fingerprint_template_set_p1([*members, outlier, outlier], test_key)
    central = fingerprint_prompt(members[0], test_key)[1]
    assert similarity(payload.minhash, central) > 0.5
    assert payload.exact[0].value == fingerprint_prompt(outlier, test_key)[0].value

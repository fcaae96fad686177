"""Indicator patterns: valid STIX where STIX can say it, a strict own grammar where it cannot."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest
from stix2patterns.validator import run_validator

import tests.mappings.stix_factories as factories
from mappings import patterns
from mappings.convert import records_to_bundle
from mappings.names import SIGNATURE_PATTERN_TYPE
from mappings.timestamps import parse_stix_timestamp, stix_timestamp


@pytest.mark.parametrize(
    ("cidr", "expected"),
    [
        ("198.51.100.0/24", "[ipv4-addr:value ISSUBSET '198.51.100.0/24']"),
        ("192.0.2.7/32", "[ipv4-addr:value ISSUBSET '192.0.2.7/32']"),
        ("2001:db8:4400::/40", "[ipv6-addr:value ISSUBSET '2001:db8:4400::/40']"),
        ("2001:0db8:0000::/48", "[ipv6-addr:value ISSUBSET '2001:db8::/48']"),
    ],
)
def test_ip_range_patterns_are_valid_stix_and_read_back(cidr: str, expected: str) -> None:
    pattern = patterns.ip_range_pattern(cidr)
    assert pattern == expected
    assert run_validator(pattern, stix_version="2.1") == []
    assert patterns.parse_ip_range_pattern(pattern) == expected.split("'")[1]


def test_ip_range_reader_refuses_mismatched_or_sloppy_patterns() -> None:
    for bad in (
        "[ipv4-addr:value ISSUBSET '2001:db8::/32']",
        "[ipv6-addr:value ISSUBSET '198.51.100.0/24']",
        "[ipv4-addr:value ISSUBSET '198.51.100.1/24']",
        "[ipv4-addr:value = '198.51.100.0/24']",
    ):
        with pytest.raises(ValueError):
            patterns.parse_ip_range_pattern(bad)


def test_asn_and_exact_fingerprint_patterns_are_valid_stix() -> None:
    assert run_validator(patterns.asn_pattern(64500), stix_version="2.1") == []
    assert patterns.parse_asn_pattern(patterns.asn_pattern(4_294_967_295)) == 4_294_967_295
    exact = patterns.exact_fingerprint_pattern("ab" * 32)
    assert exact == f"[prompt-fingerprint:value = '{'ab' * 32}']"
    assert run_validator(exact, stix_version="2.1") == []
    assert patterns.parse_exact_fingerprint_pattern(exact) == "ab" * 32
    with pytest.raises(ValueError):
        patterns.exact_fingerprint_pattern("it's")


def test_signature_pattern_is_canonical_json_with_everything_a_matcher_needs() -> None:
    text = patterns.signature_pattern(
        "minhash-keyed", "k-2026", "AAECAwQFBgc", "jaccard", 0.5, {"shingle_size": 3}
    )
    assert text == (
        '{"algorithm":"minhash-keyed","key_id":"k-2026","match":{"metric":"jaccard",'
        '"threshold":0.5},"parameters":{"shingle_size":3},"signature":"AAECAwQFBgc"}'
    )
    assert patterns.parse_signature_pattern(text) == {
        "algorithm": "minhash-keyed",
        "key_id": "k-2026",
        "value": "AAECAwQFBgc",
        "parameters": {"shingle_size": 3},
        "match_rule": {"metric": "jaccard", "threshold": 0.5},
    }
    spaced = json.dumps(json.loads(text), indent=2)
    assert patterns.parse_signature_pattern(spaced)["value"] == "AAECAwQFBgc"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"extra": 1}, "unknown member"),
        ({"algorithm": "md5"}, "algorithm"),
        ({"key_id": ""}, "key_id"),
        ({"signature": "short"}, "signature"),
        ({"match": {"metric": "cosine", "threshold": 0.5}}, "metric"),
        ({"match": {"metric": "jaccard", "threshold": 1.5}}, "at most 1"),
        ({"match": {"metric": "hamming", "threshold": True}}, "threshold"),
        ({"match": {"metric": "hamming"}}, "metric, threshold"),
        ({"parameters": {"bad name": 1}}, "parameter name"),
        ({"parameters": {"bits": [64]}}, "number or string"),
    ],
)
def test_signature_reader_refuses_anything_off_grammar(change: dict, message: str) -> None:
    body = {
        "algorithm": "simhash-keyed",
        "key_id": "k1",
        "signature": "9f3a2c4d5e6f7081",
        "match": {"metric": "hamming", "threshold": 16},
    }
    body.update(change)
    with pytest.raises(ValueError, match=message):
        patterns.parse_signature_pattern(json.dumps(body))
    with pytest.raises(ValueError, match="not JSON"):
        patterns.parse_signature_pattern("[prompt-fingerprint:value = 'x']")


def test_bundle_uses_stix_patterns_for_exact_hashes_and_the_own_type_for_signatures() -> None:
    bundle = records_to_bundle([factories.fingerprint()], factories.LAB_A)
    indicators = [o for o in bundle["objects"] if o["type"] == "indicator"]
    kinds = sorted(o["pattern_type"] for o in indicators)
    assert kinds == ["dx-prompt-signature", "dx-prompt-signature", "stix"]
    for indicator in indicators:
        if indicator["pattern_type"] == SIGNATURE_PATTERN_TYPE:
            assert indicator["pattern_version"] == "1.0"
            parsed = patterns.parse_signature_pattern(indicator["pattern"])
            assert parsed["key_id"] == factories.KEY_ID
        else:
            assert run_validator(indicator["pattern"], stix_version="2.1") == []


def test_timestamps_round_trip_at_millisecond_and_microsecond_precision() -> None:
    for text in (
        "2026-05-02T10:00:00.000Z",
        "2026-05-02T10:00:00.123Z",
        "2026-05-02T10:00:00.123456Z",
    ):
        assert stix_timestamp(parse_stix_timestamp(text)) == text
    assert parse_stix_timestamp("2026-05-02T10:00:00Z") == datetime(2026, 5, 2, 10, tzinfo=UTC)
    assert parse_stix_timestamp("2026-05-02T10:00:00.1Z").microsecond == 100_000
    # STIX allows any number of fractional digits; a datetime keeps six.
    assert parse_stix_timestamp("2026-05-02T10:00:00.1234567Z").microsecond == 123_456
    for bad in ("2026-05-02T10:00:00", "2026-02-30T10:00:00Z", "2026-05-02T24:00:00Z", "yesterday"):
        with pytest.raises(ValueError):
            parse_stix_timestamp(bad)


def test_range_indicators_carry_the_pattern_the_pattern_module_writes() -> None:
    for record in (factories.ip_range(), factories.ipv6_range()):
        bundle = records_to_bundle([record], factories.LAB_A)
        ranges = [o for o in bundle["objects"] if "ISSUBSET" in o.get("pattern", "")]
        assert [o["pattern"] for o in ranges] == [patterns.ip_range_pattern(record.cidr)]
        address = next(o for o in bundle["objects"] if o.get("value") == record.cidr)
        assert address["type"] == patterns.address_type(record.cidr)

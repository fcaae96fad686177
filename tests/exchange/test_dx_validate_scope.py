"""``dx convert --validate``: every object of a small bundle, a sample of each shape in
a large one (said on stderr), or nothing (said too); the bytes never depend on it."""

from __future__ import annotations

import ipaddress
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from exchange.cli import main
from exchange.readers import read_records
from mappings.convert import records_to_bundle
from mappings.producer import Producer
from mappings.validation import validate_bundle, validate_sample
from mappings.validation_scope import FULL_VALIDATION_LIMIT, ShapeSampler, sample_objects
from tests.exchange.helpers import ip_range, valid_batch, write_jsonl

PRODUCER = ["--producer-key", "lab-test.example", "--producer-name", "Lab Test", "--legacy-ids"]


def _convert(records: Path, output: Path, *options: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main, ["convert", str(records), *PRODUCER, "-o", str(output), *options]
    )
    return result.exit_code, result.stderr


def _many_ranges(count: int) -> list[dict]:
    hosts = [
        f"{net}/32"
        for space in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24")
        for net in ipaddress.ip_network(space)
    ]
    return [ip_range(cidr=cidr) for cidr in hosts[:count]]


def test_small_bundle_is_validated_whole_and_silently(tmp_path: Path) -> None:
    records = write_jsonl(tmp_path / "d.jsonl", valid_batch())
    code, stderr = _convert(records, tmp_path / "b.json")
    assert code == 0, stderr
    assert "sample" not in stderr and "warning" not in stderr


def test_large_bundle_is_sampled_by_default_and_says_so(tmp_path: Path) -> None:
    records = write_jsonl(tmp_path / "d.jsonl", _many_ranges(760))
    sampled, unchecked = tmp_path / "sampled.json", tmp_path / "unchecked.json"
    code, stderr = _convert(records, sampled)
    assert code == 0, stderr
    objects = len(json.loads(sampled.read_bytes())["objects"])
    assert objects > FULL_VALIDATION_LIMIT
    assert "checked a sample of " in stderr and f" of {objects:,} objects" in stderr
    assert "--validate full" in stderr
    code, stderr = _convert(records, unchecked, "--validate", "off")
    assert code == 0
    assert stderr.startswith("warning: --validate off")
    assert sampled.read_bytes() == unchecked.read_bytes()


def test_validate_takes_only_the_documented_scopes(tmp_path: Path) -> None:
    records = write_jsonl(tmp_path / "d.jsonl", valid_batch())
    code, stderr = _convert(records, tmp_path / "b.json", "--validate", "most")
    assert code == 2 and "'most' is not one of 'auto', 'full', 'sample', 'off'" in stderr
    assert not (tmp_path / "b.json").exists()


def test_the_streaming_sampler_picks_what_sample_objects_picks(tmp_path: Path) -> None:
    """``dx convert`` samples while it builds (in build order); the choice must be the
    bundle-order one: per shape, the objects with the smallest ids."""
    records = read_records([write_jsonl(tmp_path / "d.jsonl", _many_ranges(300))])
    objects = records_to_bundle(records, Producer("lab-test.example", "Lab Test"))["objects"]
    expected = sample_objects(objects)
    assert 0 < len(expected) < len(objects)
    for order in (objects, list(reversed(objects))):
        sampler = ShapeSampler()
        for obj in order:
            sampler.offer(obj)
        assert [o["id"] for o in sampler.objects()] == [o["id"] for o in expected]


def test_the_sampler_tells_apart_values_that_only_compare_equal() -> None:
    """``1``, ``1.0`` and ``True`` are one dict key but three shapes for ``sample_objects``."""
    odd = [{"id": f"x--{i:03d}", "type": (1, 1.0, True)[i % 3]} for i in range(90)]
    odd += [
        {"id": f"y--{i:03d}", "type": "x", "extensions": {(1, True)[i % 2]: {}}} for i in range(60)
    ]
    sampler = ShapeSampler()
    for obj in odd:
        sampler.offer(obj)
    assert sampler.objects() == sample_objects(odd)
    assert len(sampler.objects()) == 125
    assert not sampler.plain


def test_a_sample_stands_for_a_bundle_only_of_plain_objects(tmp_path: Path) -> None:
    """One STIX 2.0 object anywhere sends the whole bundle to the library, which
    checks it all; ``validate_sample`` refuses to speak for such a bundle."""
    records = read_records([write_jsonl(tmp_path / "d.jsonl", _many_ranges(40))])
    bundle = records_to_bundle(records, Producer("lab-test.example", "Lab Test"))
    sampler = ShapeSampler()
    for obj in bundle["objects"]:
        sampler.offer(obj)
    report = validate_sample(bundle["id"], sampler, len(bundle["objects"]))
    assert report.ok and report.checked < report.total == len(bundle["objects"])
    bundle["objects"][-1]["spec_version"] = "2.0"
    sampler.offer(bundle["objects"][-1])
    assert not sampler.plain
    with pytest.raises(ValueError, match="not plain"):
        validate_sample(bundle["id"], sampler, len(bundle["objects"]))
    whole = validate_bundle(bundle, scope="sample")
    assert not whole.ok and whole.checked == whole.total == len(bundle["objects"])

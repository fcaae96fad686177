"""A synthetic consortium feed of N object versions, shaped like what the mappings emit.

Why templates from ``samples/bundle.json``: the sample bundle is the mappings'
real output (indicators with STIX patterns, keyed prompt fingerprints, user
accounts, account clusters with their extension, relationships), so copying
its objects and changing only ids, values and references gives objects of the
right sizes and shapes without running the converters a million times.
Sightings, which the sample campaign lacks, are added in the shape
``dx feedback`` writes. About one version in ten is a later version of an
object published earlier (a changed confidence), as partners re-publish
updated detections. Everything derives from one seed, so runs are comparable.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson

REPO = Path(__file__).resolve().parents[2]
SAMPLE_BUNDLE = REPO / "samples" / "bundle.json"
BENCH_IDENTITY = "identity--4e0c7c1a-2b6f-4f0e-9d43-7a1f5c2e8b90"

# Objects of one "detection" and how often each appears (per 10 objects or so).
MIX: tuple[tuple[str, float], ...] = (
    ("indicator", 2.0),
    ("prompt-fingerprint", 1.5),
    ("user-account", 1.5),
    ("relationship", 3.0),
    ("sighting", 1.0),
    ("account-cluster", 0.5),
    ("ipv4-addr", 0.5),
)
NEW_VERSION_SHARE = 0.1
VERSIONED_TYPES = ("indicator", "account-cluster", "relationship", "sighting")
BASE_TIME = "2026-06-01T00:00:00.000Z"


def _templates() -> dict[str, dict]:
    """The first sample object of each type the mix uses."""
    bundle = orjson.loads(SAMPLE_BUNDLE.read_bytes())
    templates: dict[str, dict] = {}
    for obj in bundle["objects"]:
        templates.setdefault(obj["type"], obj)
    templates["sighting"] = {
        "type": "sighting",
        "spec_version": "2.1",
        "id": "",
        "created": BASE_TIME,
        "modified": BASE_TIME,
        "created_by_ref": BENCH_IDENTITY,
        "count": 1,
        "first_seen": BASE_TIME,
        "last_seen": BASE_TIME,
        "sighting_of_ref": "",
        "where_sighted_refs": [BENCH_IDENTITY],
        "confidence": 60,
        "object_marking_refs": templates["indicator"].get("object_marking_refs", []),
    }
    missing = [stix_type for stix_type, _ in MIX if stix_type not in templates]
    if missing:
        raise RuntimeError(f"{SAMPLE_BUNDLE}: no template object of type {missing}")
    return templates


_EPOCH = datetime(2026, 6, 1, tzinfo=UTC)


def _timestamp(seconds: int) -> str:
    """A STIX timestamp ``seconds`` after 2026-06-01 (ms precision, as the mappings write)."""
    return (_EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


@dataclass
class SyntheticFeed:
    """Yields N object versions (dicts ready to POST) in publication order."""

    total: int
    seed: int = 2026
    identity: str = BENCH_IDENTITY
    _random: random.Random = field(init=False)
    _templates: dict[str, dict] = field(init=False)
    # Recently published objects of VERSIONED_TYPES, each in its newest version.
    _versionable: list[dict] = field(init=False, default_factory=list)
    # Ids that received a second version, in order (for the versions endpoint).
    versioned_ids: list[str] = field(init=False, default_factory=list)
    _versioned_set: set[str] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)
        self._templates = _templates()
        self._types = [stix_type for stix_type, _ in MIX]
        self._weights = [weight for _, weight in MIX]

    def objects(self) -> Iterator[dict]:
        made = 0
        indicators: list[str] = []
        targets: list[str] = []
        # Drawn in bulk: one choices() call per object was a third of the generation time.
        kinds = self._random.choices(self._types, self._weights, k=self.total)
        coins = [self._random.random() for _ in range(self.total)]
        while made < self.total:
            if self._versionable and coins[made] < NEW_VERSION_SHARE:
                yield self._new_version(made)
            else:
                stix_type = kinds[made]
                obj = self._new_object(stix_type, made, indicators, targets)
                if stix_type == "indicator":
                    indicators.append(obj["id"])
                    del indicators[:-1000]
                elif stix_type in ("prompt-fingerprint", "user-account", "account-cluster"):
                    targets.append(obj["id"])
                    del targets[:-1000]
                if stix_type in VERSIONED_TYPES:
                    self._versionable.append(obj)
                    del self._versionable[:-5000]
                yield obj
            made += 1

    def _new_object(
        self, stix_type: str, serial: int, indicators: list[str], targets: list[str]
    ) -> dict:
        rng = self._random
        obj = orjson.loads(orjson.dumps(self._templates[stix_type]))
        obj["id"] = f"{stix_type}--{uuid.UUID(int=rng.getrandbits(128), version=4)}"
        if "created_by_ref" in obj:
            obj["created_by_ref"] = self.identity
        if "created" in obj:
            stamp = _timestamp(serial)
            obj["created"] = stamp
            obj["modified"] = stamp
        if stix_type == "indicator":
            a, b = rng.randrange(1, 224), rng.randrange(256)
            obj["pattern"] = f"[ipv4-addr:value ISSUBSET '{a}.{b}.{rng.randrange(256)}.0/24']"
            obj["valid_from"] = obj["created"]
            obj["name"] = f"Proxy range {a}.{b}.x.0/24 (detection {serial})"
        elif stix_type in ("prompt-fingerprint",):
            obj["value"] = f"{rng.getrandbits(256):064x}"
        elif stix_type == "user-account":
            obj["user_id"] = f"{rng.getrandbits(256):064x}"
        elif stix_type == "ipv4-addr":
            obj["value"] = f"{rng.randrange(1, 224)}.{rng.randrange(256)}.{rng.randrange(256)}.0/24"
        elif stix_type == "relationship":
            obj["source_ref"] = rng.choice(indicators) if indicators else obj["source_ref"]
            if targets:
                obj["target_ref"] = rng.choice(targets)
                obj["relationship_type"] = "based-on"
        elif stix_type == "sighting":
            if indicators:
                obj["sighting_of_ref"] = rng.choice(indicators)
            else:
                obj["sighting_of_ref"] = f"indicator--{uuid.UUID(int=rng.getrandbits(128))}"
            obj["count"] = rng.randrange(1, 500)
            obj["first_seen"] = obj["created"]
            obj["last_seen"] = obj["created"]
        elif stix_type == "account-cluster":
            obj["cluster_id"] = f"bench-cl-{serial}"
        return obj

    def _new_version(self, serial: int) -> dict:
        """A later version of a recently published object (its confidence changed)."""
        index = self._random.randrange(len(self._versionable))
        obj = dict(self._versionable[index])
        # Later than every earlier version: timestamps grow with the serial number.
        obj["modified"] = _timestamp(serial + 1)
        obj["confidence"] = self._random.randrange(10, 100)
        if obj["id"] not in self._versioned_set:
            self._versioned_set.add(obj["id"])
            self.versioned_ids.append(obj["id"])
        self._versionable[index] = obj
        return obj

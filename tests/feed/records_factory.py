"""Detection records for the feed tests, dated relative to now so expiry is meaningful."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

from mappings.records import (
    AccountCluster,
    FingerprintValue,
    HashingScheme,
    IpRange,
    MatchRule,
    MemberHash,
    PromptFingerprint,
    RequestVolume,
)

NOW = datetime.now(UTC).replace(microsecond=0)
KEY_ID = "test-consortium-1"


def keyed(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def ip_range(
    cidr: str,
    action: str = "block",
    *,
    confidence: int = 80,
    valid_until: datetime | None = None,
    updated: datetime | None = None,
    withdrawn: bool = False,
    tlp: str = "amber",
) -> IpRange:
    return IpRange(
        cidr=cidr,
        asn=64500,
        as_name="Example Proxy Networks",
        provider_type="residential_proxy",
        traffic_share=0.4,
        benign_accounts_seen=2,
        recommended_action=action,
        valid_until=valid_until or NOW + timedelta(days=10),
        first_seen=NOW - timedelta(days=5),
        last_seen=NOW - timedelta(days=1),
        updated=updated or NOW - timedelta(hours=2),
        confidence=confidence,
        withdrawn=withdrawn,
        tlp=tlp,
        campaign="campaign-quarry",
    )


def cluster(
    cluster_id: str,
    members: list[str],
    *,
    enforcement: str = "rate_limited",
    confidence: int = 85,
    updated: datetime | None = None,
    tlp: str = "amber",
) -> AccountCluster:
    return AccountCluster(
        cluster_id=cluster_id,
        member_count=max(len(members), 1),
        members=[
            MemberHash(kind="email" if i % 2 == 0 else "phone", hash=keyed(m))
            for i, m in enumerate(members)
        ],
        hashing=HashingScheme(key_id=KEY_ID, normalization="n1"),
        volume=RequestVolume(
            requests=1000,
            tokens=200000,
            window_start=NOW - timedelta(days=5),
            window_end=NOW - timedelta(days=1),
            peak_requests_per_account_per_minute=12.5,
        ),
        enforcement=enforcement,
        first_seen=NOW - timedelta(days=5),
        last_seen=NOW - timedelta(days=1),
        updated=updated or NOW - timedelta(hours=2),
        confidence=confidence,
        tlp=tlp,
        campaign="campaign-quarry",
    )


def fingerprint(fingerprint_id: str, *, confidence: int = 75, tlp: str = "amber"):
    return PromptFingerprint(
        fingerprint_id=fingerprint_id,
        scope="user_prefix",
        normalization="p1",
        fingerprints=[
            FingerprintValue(
                algorithm="hmac-sha256-template",
                key_id=KEY_ID,
                value=keyed(f"template {fingerprint_id}"),
                match_rule=MatchRule(metric="equal"),
            ),
            FingerprintValue(
                algorithm="minhash-keyed",
                key_id=KEY_ID,
                value="AAECAwQFBgcICQoLDA0ODw" + fingerprint_id.replace("-", "_"),
                parameters={"num_perm": 64, "shingle": 3},
                match_rule=MatchRule(metric="jaccard", threshold=0.8),
            ),
        ],
        sample_count=40,
        distinct_accounts=12,
        benign_fp_rate=0.001,
        first_seen=NOW - timedelta(days=5),
        last_seen=NOW - timedelta(days=1),
        updated=NOW - timedelta(hours=2),
        confidence=confidence,
        tlp=tlp,
        campaign="campaign-quarry",
    )


def stix_time(moment: datetime) -> str:
    """The STIX timestamp the mapping writes for ``moment`` (millisecond precision)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

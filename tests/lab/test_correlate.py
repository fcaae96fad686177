"""``dx correlate`` over a real exchange: the two sample labs' campaigns, and who may see the link.

Lab A publishes the sample campaign into its own collection, lab B its own
into another. Lab B may read both; lab A at first only its own. Lab B's
correlation names the shared prompt fingerprints, the overlapping ranges and
the shared account hashes, each computed here from the sample records; lab A,
which cannot read lab B's collection, sees no correlation at all until it is
granted read access. Lab B then publishes the link as a grouping authored by
itself, which the exchange accepts under its provenance rule and which passes
the strict validator.
"""

from __future__ import annotations

import ipaddress
import json
import uuid
from pathlib import Path

from exchange.readers import read_records
from mappings.records import AccountCluster, IpRange, PromptFingerprint
from mappings.validation import validate_bundle
from tests.support.exchange import SAMPLES, Exchange

LAB_A_RECORDS = SAMPLES / "lab-a" / "detections.jsonl"
LAB_B_RECORDS = SAMPLES / "lab-b" / "detections.jsonl"


def _collection(exchange: Exchange, alias: str, readers: list[str], writer: str) -> str:
    collection_id = str(uuid.uuid4())
    commands = [["add-collection", "--id", collection_id, "--title", alias, "--alias", alias]]
    commands.append(["grant", writer, collection_id, "--read", "--write"])
    commands += [["grant", r, collection_id, "--read"] for r in readers if r != writer]
    exchange.admin(*commands)
    return collection_id


def _expected() -> tuple[set[str], set[str], set[str]]:
    """(shared fingerprint values, contained range pairs, shared account hashes)."""
    a, b = read_records([LAB_A_RECORDS]), read_records([LAB_B_RECORDS])

    def values(records: list) -> set[str]:
        return {
            f"{v.algorithm}:{v.value}"
            for r in records
            if isinstance(r, PromptFingerprint)
            for v in r.fingerprints
        }

    def hashes(records: list) -> set[str]:
        return {m.hash for r in records if isinstance(r, AccountCluster) for m in r.members}

    ranges = set()
    for ra in (r for r in a if isinstance(r, IpRange)):
        for rb in (r for r in b if isinstance(r, IpRange)):
            na, nb = ipaddress.ip_network(ra.cidr), ipaddress.ip_network(rb.cidr)
            if na.version != nb.version:
                continue
            if na == nb:
                ranges.add(ra.cidr)
            elif na.subnet_of(nb):  # type: ignore[arg-type]
                ranges.add(f"{ra.cidr} in {rb.cidr}")
            elif nb.subnet_of(na):  # type: ignore[arg-type]
                ranges.add(f"{rb.cidr} in {ra.cidr}")
    return values(a) & values(b), ranges, hashes(a) & hashes(b)


def _correlations(lab, *args: str) -> list[dict]:
    lab.dx("poll", "--once", "--quiet")
    out = lab.dx("correlate", "--json", *args).stdout
    return [json.loads(line) for line in out.splitlines()]


def test_sample_campaigns_correlate_only_for_a_partner_that_reads_both(
    exchange: Exchange, tmp_path: Path
) -> None:
    fingerprints, ranges, accounts = _expected()
    assert fingerprints and ranges and accounts, "the samples share all three kinds"
    col_a = _collection(exchange, "lab-a-only", ["lab-a", "lab-b"], "lab-a")
    col_b = _collection(exchange, "lab-b-only", ["lab-b"], "lab-b")
    lab_a = exchange.lab("corr-lab-a", "lab-a", collections=[col_a])
    lab_b = exchange.lab("corr-lab-b", "lab-b", collections=[col_a, col_b])
    lab_a.dx("publish", str(SAMPLES / "bundle.json"), "--collection", col_a, "--quiet")
    lab_b.dx("publish", str(SAMPLES / "lab-b-bundle.json"), "--collection", col_b, "--quiet")

    # Lab B reads both sides: one correlation, naming exactly what the records share.
    (found,) = _correlations(lab_b)
    names = {side["name"] for side in found["campaigns"]}
    assert names == {
        "Lab A: distillation campaign lab-a-campaign-quarry",
        "Lab B: distillation campaign lab-b-op-harvest",
    }
    assert set(found["fingerprints"]["shared"]) == fingerprints
    assert set(found["ranges"]["shared"]) == ranges
    assert set(found["accounts"]["shared"]) == accounts
    assert found["fingerprints"]["count"] == len(fingerprints)
    assert 0 < found["fingerprints"]["jaccard"] < 1 and found["score"] > 0
    human = lab_b.dx("correlate").stdout
    assert "shared prompt fingerprints" in human and next(iter(ranges)) in human

    # Read straight from the exchange: the same answer.
    from_server = lab_b.dx("correlate", "--json", "--from-server").stdout.splitlines()
    assert [json.loads(line) for line in from_server] == [found]

    # Lab A cannot read lab B's collection: its store never holds lab B's campaign,
    # so nothing links to it (and the command says so); nor does the exchange serve it.
    assert _correlations(lab_a) == []
    assert "share anything" in lab_a.dx("correlate").stderr
    assert lab_a.dx("correlate", "--json", "--from-server").stdout == ""
    denied = exchange.lab("corr-lab-a-asks-b", "lab-a", collections=[col_a, col_b])
    refused = denied.dx("correlate", "--from-server", check=False)
    assert refused.returncode != 0 and refused.stdout == ""
    assert "Traceback" not in refused.stderr and "dx correlate: error:" in refused.stderr

    # Lab B publishes the link under its own identity; the exchange accepts it.
    links = tmp_path / "links.json"
    lab_b.dx("correlate", "--stix", str(links), "--publish", "--collection", col_b)
    bundle = json.loads(links.read_text("utf-8"))
    assert validate_bundle(bundle).ok
    (grouping,) = [o for o in bundle["objects"] if o["type"] == "grouping"]
    assert grouping["created_by_ref"] == lab_b.producer.identity_id
    assert {side["campaign"] for side in found["campaigns"]} <= set(grouping["object_refs"])
    lab_b.dx("poll", "--once", "--quiet")
    again = lab_b.dx("correlate", "--json").stdout.splitlines()
    assert len(again) == 1  # the grouping is evidence of nothing: still one pair

    # Granted read access, lab A sees the same correlation (and lab B's grouping).
    exchange.admin(["grant", "lab-a", col_b, "--read"])
    lab_a_both = exchange.lab("corr-lab-a2", "lab-a", collections=[col_a, col_b])
    (seen_by_a,) = _correlations(lab_a_both)
    assert seen_by_a["fingerprints"] == found["fingerprints"]
    assert seen_by_a["ranges"] == found["ranges"]
